"""The .deb in clean Debian 12 (bookworm) and 13 (trixie) roots.

Each test gets a clean root made by scripts/debian-roots (minbase from
Debian's archive, with python3, init-system-helpers and systemd, cached),
installs the package with ``dpkg -i`` in a chroot (no systemd runs there, as
in a container: postinst must cope), uses it with that root's own python3,
runs ``linkname announce`` and ``linkname watch`` of the root in two network
namespaces joined by a veth link, and purges it.  Needs root; skips with the
reason otherwise, and fails under CI=true instead.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.netns import Lab
from tests.packaging.conftest import SUITES, Packages, Root
from tests.proc import Proc

pytestmark = pytest.mark.netns

# What dpkg itself keeps about any package it installs or removes (its
# database and log), and the caches that a trigger rebuilds: the only paths
# an install + purge may leave changed.
DPKG_BOOKKEEPING = (
    "/var/lib/dpkg/",
    "/var/log/dpkg.log",
    "/var/log/alternatives.log",
    "/etc/ld.so.cache",
    "/var/cache/ldconfig/",
)


def install(root: Root, packages: Packages) -> str:
    """Copy the .deb into the root and dpkg -i it; the deb's path there."""
    shutil.copy(packages.deb, root.path / "tmp")
    inside = f"/tmp/{packages.deb.name}"
    root.run("dpkg", "-i", inside)
    return inside


def hosts_line(root: Root) -> str:
    """The root's hosts: line of /etc/nsswitch.conf."""
    text = (root.path / "etc" / "nsswitch.conf").read_text()
    return next(line for line in text.splitlines() if line.startswith("hosts:"))


def has_nss_module(root: Root) -> bool:
    """True when the installed package carries the NSS module."""
    listing = root.run("dpkg", "-L", "linkname").stdout
    return "libnss_linkname.so.2" in listing


def start(lab: Lab, root: Root, netns: str, *args: str) -> Proc:
    """Start the root's ``linkname ARGS`` in a namespace (stopped at cleanup)."""
    popen = subprocess.Popen(
        root.command("linkname", *args, netns=netns),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lab.processes.append(popen)
    return Proc(popen)


def test_install_runs_with_the_roots_python(
    debian_root: Root, packages: Packages
) -> None:
    root = debian_root
    before = hosts_line(root)
    install(root, packages)
    python = root.run(
        "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"
    )
    assert python.stdout.strip() == SUITES[root.suite]
    version = root.run("linkname", "--version")
    assert version.stdout.strip() == f"linkname {packages.version}"
    # The unit is enabled the Debian way (and nothing was started: no systemd).
    wants = root.path / "etc/systemd/system/multi-user.target.wants/linkname.service"
    assert wants.is_symlink()
    units = ("linkname.service", "linkname@eth0.service")
    verify = root.run("systemd-analyze", "verify", "--man=no", *units)
    assert verify.stderr == ""
    # postinst byte-compiled the package for this python3.
    tag = "cpython-" + SUITES[root.suite].replace(".", "")
    assert list(
        (root.path / "usr/lib/linkname/linkname/__pycache__").glob(f"*.{tag}.pyc")
    )
    assert (root.path / "usr/share/man/man1/linkname.1.gz").exists()
    if has_nss_module(root):
        assert hosts_line(root) != before
        assert " linkname" in hosts_line(root)
        # glibc loads the module in every lookup now: others still resolve,
        # unknown single labels are not found (no daemon, no table).
        (root.path / "etc/hosts").write_text("127.0.0.1 localhost\n")
        # DNS comes after linkname: keep its queries on loopback.
        (root.path / "etc/resolv.conf").unlink(missing_ok=True)
        (root.path / "etc/resolv.conf").write_text("nameserver 127.0.0.1\n")
        assert "localhost" in root.run("getent", "hosts", "localhost").stdout
        unknown = root.run("getent", "hosts", "no-such-linkname-host", check=False)
        assert unknown.returncode == 2
    else:
        assert hosts_line(root) == before


def test_zipapp_and_wheel_run_with_the_roots_python(
    debian_root: Root, packages: Packages
) -> None:
    root = debian_root
    shutil.copy(packages.pyz, root.path / "tmp")
    shutil.copy(packages.wheel, root.path / "tmp")
    out = root.run("python3", "/tmp/linkname.pyz", "--version").stdout.strip()
    assert out == f"linkname {packages.version}"
    wheel = f"/tmp/{packages.wheel.name}"  # a pure wheel imports as a zip
    result = root.run(
        "env", f"PYTHONPATH={wheel}", "python3", "-m", "linkname", "--version"
    )
    assert result.stdout.strip() == f"linkname {packages.version}"


def test_announce_in_one_namespace_is_seen_by_watch_in_another(
    debian_root: Root, packages: Packages, fast_lab: Lab
) -> None:
    root = debian_root
    install(root, packages)
    a, b = fast_lab.netns("pa"), fast_lab.netns("pb")
    fast_lab.veth(a, "eth0", b, "eth0")
    a.link_local("eth0")
    b.link_local("eth0")
    name = f"pkg-{root.suite}"
    watch = start(fast_lab, root, b.name, "watch", "--json", "--interface", "eth0")
    announce = start(
        fast_lab, root, a.name, "announce", "--interface", "eth0", "--name", name
    )
    _, joined = watch.wait_event(
        lambda e: e.get("event") == "joined" and e.get("name") == name, limit=15
    )
    assert joined["addresses"][0] == a.link_local("eth0")
    assert joined["software"] == f"linkname {packages.version}"
    assert announce.stop() == 0
    _, left = watch.wait_event(
        lambda e: e.get("event") == "left" and e.get("name") == name, limit=10
    )
    assert left["reason"] == "goodbye"
    assert watch.stop() == 0
    # The announcer kept its host ID where the package's purge will find it.
    state = json.loads((root.path / "var/lib/linkname/host-id.json").read_text())
    assert state["host_id"] == joined["host_id"]


def test_purge_removes_what_the_package_added(
    debian_root: Root, packages: Packages
) -> None:
    root = debian_root
    nsswitch = (root.path / "etc/nsswitch.conf").read_text()
    before = root.files()
    inside = install(root, packages)
    # What the daemon and an administrator leave: the host ID, a key.
    (root.path / "var/lib/linkname").mkdir(exist_ok=True)
    (root.path / "var/lib/linkname/host-id.json").write_text("{}")
    (root.path / "etc/linkname/key").write_text("an administrator's key\n")
    root.run("dpkg", "--remove", "linkname")
    assert (root.path / "etc/linkname/linkname.toml").exists()  # a conffile stays
    root.run("dpkg", "--purge", "linkname")
    (root.path / inside.lstrip("/")).unlink()
    after = root.files()
    added = {p for p in after if p not in before and not p.startswith(DPKG_BOOKKEEPING)}
    gone = {p for p in before if p not in after and not p.startswith(DPKG_BOOKKEEPING)}
    changed = {
        p
        for p in before
        if p in after and before[p] != after[p] and not p.startswith(DPKG_BOOKKEEPING)
    }
    assert (added, gone, changed) == (set(), set(), set())
    assert (root.path / "etc/nsswitch.conf").read_text() == nsswitch
    assert root.run("dpkg-query", "-W", "linkname", check=False).returncode == 1


def test_the_readmes_apt_command_installs_it(
    debian_root: Root, packages: Packages
) -> None:
    """``sudo apt install ./linkname_<version>_<arch>.deb``, as the README
    says: apt finds every dependency installed and downloads nothing (DNS
    points at loopback, so it could not reach an archive anyway)."""
    root = debian_root
    (root.path / "etc/resolv.conf").unlink(missing_ok=True)
    (root.path / "etc/resolv.conf").write_text("nameserver 127.0.0.1\n")
    shutil.copy(packages.deb, root.path / "tmp")
    result = root.run(
        "sh", "-c", f"cd /tmp && apt-get install -y ./{packages.deb.name}"
    )
    assert "0 upgraded, 1 newly installed" in result.stdout
    version = root.run("linkname", "--version").stdout.strip()
    assert version == f"linkname {packages.version}"
