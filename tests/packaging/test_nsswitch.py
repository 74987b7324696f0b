"""The package's edits of /etc/nsswitch.conf (contrib/debian/nsswitch.sh).

The same shell functions are pasted into postinst and postrm; here they run
with the machine's /bin/sh and awk on sample files (the root tests run them
again inside Debian 12 and 13 through the real maintainer scripts).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO

SCRIPT = REPO / "contrib" / "debian" / "nsswitch.sh"
DEBIAN_DEFAULT = """\
# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.

passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
"""


def edit(path: Path, action: str) -> None:
    """Run linkname_nss_<action> on ``path`` with /bin/sh."""
    subprocess.run(
        ["/bin/sh", "-c", f'. "$0" && linkname_nss_{action} "$1"', SCRIPT, path],
        check=True,
        timeout=10,
    )


def hosts_line(text: str) -> str:
    """The hosts: line of a nsswitch.conf text."""
    return next(line for line in text.splitlines() if line.startswith("hosts:"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("hosts:          files dns", "hosts:          files linkname dns"),
        (
            "hosts: files mdns4_minimal [NOTFOUND=return] dns myhostname",
            "hosts: files linkname mdns4_minimal [NOTFOUND=return] dns myhostname",
        ),
        (
            "hosts: files [NOTFOUND=return] dns",
            "hosts: files [NOTFOUND=return] linkname dns",
        ),
        ("hosts: dns files", "hosts: dns files linkname"),
        ("hosts: dns", "hosts: linkname dns"),
        ("hosts:files dns", "hosts: files linkname dns"),
        ("hosts: files", "hosts: files linkname"),
        ("hosts: files dns # files", "hosts: files linkname dns # files"),
        ("hosts: myfiles dns", "hosts: linkname myfiles dns"),
        ("hosts:\tfiles\tdns", "hosts:\tfiles linkname\tdns"),
    ],
)
def test_add_puts_linkname_after_files(tmp_path: Path, before: str, after: str) -> None:
    conf = tmp_path / "nsswitch.conf"
    conf.write_text(f"passwd: files\n{before}\nnetworks: files\n")
    edit(conf, "add")
    assert conf.read_text() == f"passwd: files\n{after}\nnetworks: files\n"
    edit(conf, "add")  # never twice
    assert conf.read_text() == f"passwd: files\n{after}\nnetworks: files\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("hosts: files linkname dns", "hosts: files dns"),
        ("hosts: linkname files", "hosts: files"),
        ("hosts: files linkname", "hosts: files"),
        ("hosts: files linkname [NOTFOUND=return] dns", "hosts: files dns"),
        ("hosts: files linknamex linkname dns", "hosts: files linknamex dns"),
        ("hosts: files linknamex dns", "hosts: files linknamex dns"),
        ("passwd: files linkname", "passwd: files linkname"),
    ],
)
def test_remove_takes_only_the_word_off(
    tmp_path: Path, before: str, after: str
) -> None:
    conf = tmp_path / "nsswitch.conf"
    conf.write_text(f"# hosts: files linkname\n{before}\n")
    edit(conf, "remove")
    assert conf.read_text() == f"# hosts: files linkname\n{after}\n"


def test_add_then_remove_gives_back_debians_file(tmp_path: Path) -> None:
    conf = tmp_path / "nsswitch.conf"
    conf.write_text(DEBIAN_DEFAULT)
    conf.chmod(0o640)
    edit(conf, "add")
    assert hosts_line(conf.read_text()) == "hosts:          files linkname dns"
    assert conf.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["nsswitch.conf"]  # no temp file
    edit(conf, "remove")
    assert conf.read_text() == DEBIAN_DEFAULT
    assert conf.stat().st_mode & 0o777 == 0o640


def test_without_hosts_line_or_file_nothing_changes(tmp_path: Path) -> None:
    conf = tmp_path / "nsswitch.conf"
    conf.write_text("passwd: files\n#hosts: files dns\n")
    edit(conf, "add")
    assert conf.read_text() == "passwd: files\n#hosts: files dns\n"
    missing = tmp_path / "missing.conf"
    edit(missing, "add")
    edit(missing, "remove")
    assert not missing.exists()


def test_a_symlinked_file_is_edited_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.conf"
    target.write_text("hosts: files dns\n")
    link = tmp_path / "nsswitch.conf"
    os.symlink(target.name, link)
    edit(link, "add")
    assert link.is_symlink()
    assert target.read_text() == "hosts: files linkname dns\n"
