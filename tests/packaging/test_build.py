"""What scripts/package builds: the wheel, the sdist, the zipapp, the .deb.

These run the real packages (no root needed): the wheel installed with pip
into a fresh directory, the zipapp with every Python >= 3.11 found here, the
.deb taken apart with dpkg-deb and checked with lintian.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO, Packages, Root, require_tool
from tests.protocol.test_python_versions import PYTHONS

CORE = REPO / "custom_components" / "linkname" / "protocol"
MODULES = sorted(p.name for p in CORE.glob("*.py"))


def run(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a command; its output as text."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        **kw,
    )


def test_wheel_is_pure_python_and_holds_only_the_core(packages: Packages) -> None:
    with zipfile.ZipFile(packages.wheel) as wheel:
        names = wheel.namelist()
        info = f"linkname-{packages.version}.dist-info"
        assert sorted(n for n in names if not n.startswith(info)) == [
            f"linkname/{m}" for m in MODULES
        ]
        assert "Root-Is-Purelib: true" in wheel.read(f"{info}/WHEEL").decode()
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        assert "linkname = linkname.cli:main" in entry_points
        metadata = wheel.read(f"{info}/METADATA").decode()
        assert "Requires-Python: >=3.11" in metadata
        assert "Requires-Dist" not in metadata  # stdlib only


def test_wheel_installs_a_working_command(packages: Packages, tmp_path: Path) -> None:
    """As pipx does: pip installs the wheel (no index, no dependencies)."""
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps"]
    result = run(*pip, "--quiet", "--target", target, packages.wheel)
    assert result.returncode == 0, result.stderr
    command = target / "bin" / "linkname"
    assert command.exists()
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = run(sys.executable, command, "--version", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"linkname {packages.version}"


def test_sdist_holds_the_sources_to_rebuild(packages: Packages) -> None:
    with tarfile.open(packages.sdist) as sdist:
        names = set(sdist.getnames())
    top = f"linkname-{packages.version}"
    for name in ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO"):
        assert f"{top}/{name}" in names
    for module in MODULES:
        assert f"{top}/custom_components/linkname/protocol/{module}" in names


@pytest.mark.parametrize("python", [sys.executable, *PYTHONS])
def test_zipapp_runs_with_python_3_11_and_later(
    packages: Packages, python: str
) -> None:
    result = run(python, packages.pyz, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"linkname {packages.version}"
    result = run(python, packages.pyz, "announce", "--help")
    assert result.returncode == 0, result.stderr
    assert "--interface" in result.stdout
    assert packages.pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")


def deb_field(packages: Packages, name: str) -> str:
    """One field of the .deb's control file."""
    return run("dpkg-deb", "--field", packages.deb, name).stdout.strip()


def deb_files(packages: Packages) -> dict[str, str]:
    """Path -> mode and owner, as dpkg-deb --contents lists them."""
    out = {}
    for line in run("dpkg-deb", "--contents", packages.deb).stdout.splitlines():
        fields = line.split()
        path = fields[5].removeprefix(".")
        out[path.rstrip("/") or "/"] = f"{fields[0]} {fields[1]}"
    return out


def test_deb_control_and_contents(packages: Packages) -> None:
    has_nss = (REPO / "nss" / "Makefile").exists()
    build_arch = run("dpkg", "--print-architecture").stdout.strip()
    assert deb_field(packages, "Package") == "linkname"
    assert deb_field(packages, "Version") == packages.deb_version
    assert deb_field(packages, "Architecture") == (build_arch if has_nss else "all")
    depends = deb_field(packages, "Depends")
    assert "python3 (>= 3.11)" in depends
    assert "init-system-helpers" in depends
    assert ("libc6" in depends) == has_nss
    files = deb_files(packages)
    expected = {
        "/usr/bin/linkname": "-rwxr-xr-x root/root",
        "/etc/linkname/linkname.toml": "-rw-r--r-- root/root",
        "/usr/lib/systemd/system/linkname.service": "-rw-r--r-- root/root",
        "/usr/lib/systemd/system/linkname@.service": "-rw-r--r-- root/root",
        "/usr/share/man/man1/linkname.1.gz": "-rw-r--r-- root/root",
        "/usr/share/doc/linkname/copyright": "-rw-r--r-- root/root",
        "/usr/share/doc/linkname/changelog.Debian.gz": "-rw-r--r-- root/root",
    }
    for module in MODULES:
        if module != "__main__.py":
            expected[f"/usr/lib/linkname/linkname/{module}"] = "-rw-r--r-- root/root"
    for path, mode in expected.items():
        assert files.get(path) == mode, path
    modules = [p for p in files if p.endswith("libnss_linkname.so.2")]
    assert len(modules) == (1 if has_nss else 0), modules
    assert not [p for p in files if "__pycache__" in p or p.endswith(".pyc")]


def test_deb_control_scripts(packages: Packages, tmp_path: Path) -> None:
    has_nss = (REPO / "nss" / "Makefile").exists()
    control = tmp_path / "DEBIAN"
    assert run("dpkg-deb", "--control", packages.deb, control).returncode == 0
    assert (control / "conffiles").read_text() == "/etc/linkname/linkname.toml\n"
    for name in ("postinst", "prerm", "postrm"):
        script = control / name
        text = script.read_text()
        assert script.stat().st_mode & 0o111
        assert text.startswith("#!/bin/sh\n")
        assert "#NSSWITCH" not in text
        syntax = run("sh", "-n", script)
        assert syntax.returncode == 0, f"{name}: {syntax.stderr}"
    postinst = (control / "postinst").read_text()
    assert "deb-systemd-helper enable 'linkname.service'" in postinst
    assert "deb-systemd-invoke" in postinst
    assert ("linkname_nss_add /etc/nsswitch.conf" in postinst) == has_nss
    postrm = (control / "postrm").read_text()
    assert ("linkname_nss_remove /etc/nsswitch.conf" in postrm) == has_nss
    assert (control / "triggers").exists() == has_nss


def test_manual_page_lists_every_command(packages: Packages, tmp_path: Path) -> None:
    run("dpkg-deb", "-x", packages.deb, tmp_path)
    page = tmp_path / "usr/share/man/man1/linkname.1.gz"
    man = require_tool("man", "man-db")
    result = run(man, "--warnings", "-l", page, env={**os.environ, "MANWIDTH": "80"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # groff warnings
    text = re.sub(r".\x08", "", result.stdout)
    for command in ("announce", "watch", "resolve"):
        assert re.search(rf"^   {command}$", text, re.MULTILINE), command
    assert "/etc/linkname/linkname.toml" in text


def test_lintian_reports_no_errors_or_warnings(packages: Packages) -> None:
    """Errors and warnings fail; info and pedantic tags are allowed (two,
    see contrib/debian/README.md); overrides carry their reasons."""
    lintian = require_tool("lintian")
    result = run(lintian, "--info", "--display-info", "--pedantic", packages.deb)
    tags = [line for line in result.stdout.splitlines() if line[:2] in {"E:", "W:"}]
    assert tags == [], result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_debian_13_lintian_reports_no_errors_or_warnings(
    packages: Packages, lintian_root: Root
) -> None:
    """Every .deb scripts/package built (each architecture), checked by the
    lintian of Debian 13 in a Debian 13 root: the newest release it is for."""
    debs = sorted(packages.dist.glob("linkname_*.deb"))
    assert debs
    inbox = lintian_root.path / "tmp" / "debs"
    inbox.mkdir(exist_ok=True)
    for deb in debs:
        shutil.copy(deb, inbox)
    version = lintian_root.run("lintian", "--version").stdout.strip()
    result = lintian_root.run(
        "sh", "-c", "lintian --pedantic --info /tmp/debs/*.deb", check=False
    )
    tags = [line for line in result.stdout.splitlines() if line[:2] in {"E:", "W:"}]
    assert tags == [], f"{version}:\n{result.stdout}"
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'VERSION_ID="13"' in lintian_root.run("cat", "/etc/os-release").stdout


@pytest.mark.parametrize(
    ("arch", "triplet", "machine", "elf_class"),
    [
        ("arm64", "aarch64-linux-gnu", 183, 2),  # EM_AARCH64, 64-bit
        # 32-bit Raspberry Pi OS (every Pi; the only one for Pi 1, Zero, 2 v1)
        ("armhf", "arm-linux-gnueabihf", 40, 1),  # EM_ARM, 32-bit
    ],
)
def test_foreign_package_cross_compiles_the_module(
    tmp_path: Path, arch: str, triplet: str, machine: int, elf_class: int
) -> None:
    """With the NSS module, --arch ARCH builds it with Debian's cross
    compiler: a library of that machine in /usr/lib/TRIPLET, lintian clean."""
    if not (REPO / "nss" / "Makefile").exists():
        pytest.skip("no NSS module in this tree (nss/Makefile): the package is all")
    require_tool(f"{triplet}-gcc", f"gcc-{triplet}")
    env = {**os.environ, "LINKNAME_DIST": str(tmp_path)}
    script = REPO / "scripts" / "package"
    result = run(script, "--no-python", "--arch", arch, env=env)
    assert result.returncode == 0, result.stderr
    deb = tmp_path / next(p.name for p in tmp_path.glob(f"linkname_*_{arch}.deb"))
    assert run("dpkg-deb", "--field", deb, "Architecture").stdout.strip() == arch
    depends = run("dpkg-deb", "--field", deb, "Depends").stdout
    assert re.search(r"libc6 \(>= 2\.\d+\)", depends), depends
    run("dpkg-deb", "-x", deb, tmp_path / "x")
    module = tmp_path / f"x/usr/lib/{triplet}/libnss_linkname.so.2"
    header = module.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert header[4] == elf_class
    assert int.from_bytes(header[18:20], "little") == machine
    lintian = require_tool("lintian")
    result = run(lintian, "--pedantic", deb)
    assert [
        line for line in result.stdout.splitlines() if line[:2] in {"E:", "W:"}
    ] == []
