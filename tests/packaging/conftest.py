"""Fixtures of the package tests: the built packages and clean Debian roots.

``packages`` runs ``scripts/package`` once per test session into a
temporary directory.  The Debian roots (``scripts/debian-roots``, cached
under ``$LINKNAME_ROOT_CACHE`` or ``.cache/roots``) are unpacked once per
session; ``debian_root`` gives each test a clean one, an overlay with an
upper layer of its own, unmounted and deleted afterwards, also when the
test fails.  Commands run in it with :meth:`Root.run` (``chroot``, with
``/proc`` and ``/dev`` mounted only in a private mount namespace, so nothing
stays mounted).

A tool that is missing (lintian, mmdebstrap, root) skips the tests that need
it, with the reason, except under ``CI=true``, where it fails them: CI must
never silently skip the package checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITES = {"bookworm": "3.11", "trixie": "3.13"}  # Debian 12, 13: their python3


def in_ci() -> bool:
    """True under CI=true."""
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip without ``condition`` (fail under CI=true)."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"package tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, package: str | None = None) -> str:
    """The path of command ``name``; skips (fails in CI) when it is missing."""
    path = shutil.which(name)
    require(
        path is not None,
        f"{name} is not installed (Debian package {package or name}; "
        "scripts/setup installs it as root)",
    )
    assert path is not None
    return path


def require_root() -> None:
    """Skip (fail in CI) unless running as root."""
    require(os.geteuid() == 0, "needs root (chroot, dpkg in a root, namespaces)")


@dataclass(frozen=True)
class Packages:
    """What one run of scripts/package built."""

    dist: Path
    version: str
    deb_version: str

    @property
    def wheel(self) -> Path:
        """The wheel."""
        return self.dist / f"linkname-{self.version}-py3-none-any.whl"

    @property
    def sdist(self) -> Path:
        """The source distribution."""
        return self.dist / f"linkname-{self.version}.tar.gz"

    @property
    def pyz(self) -> Path:
        """The zipapp."""
        return self.dist / "linkname.pyz"

    @property
    def deb(self) -> Path:
        """The Debian package of the build machine's architecture, or ``all``
        (scripts/package also cross-builds the others it can)."""
        arch = subprocess.run(
            ["dpkg", "--print-architecture"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        debs = [
            deb
            for a in (arch, "all")
            if (deb := self.dist / f"linkname_{self.deb_version}_{a}.deb").exists()
        ]
        assert len(debs) == 1, sorted(self.dist.iterdir())
        return debs[0]


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Packages:
    """Run scripts/package once into a temporary dist directory."""
    require_tool("dpkg-deb", "dpkg")
    dist = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "LINKNAME_DIST": str(dist)}
    result = subprocess.run(
        [str(REPO / "scripts" / "package")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    init = (REPO / "custom_components/linkname/protocol/__init__.py").read_text()
    version = init.split('__version__ = "', 1)[1].split('"', 1)[0]
    changelog = (REPO / "contrib/debian/changelog").read_text()
    deb_version = changelog.split("(", 1)[1].split(")", 1)[0]
    return Packages(dist=dist, version=version, deb_version=deb_version)


class Root:
    """A Debian root file system unpacked for one test."""

    def __init__(self, suite: str, path: Path) -> None:
        self.suite = suite
        self.path = path

    def __repr__(self) -> str:
        return f"Root({self.suite!r}, {str(self.path)!r})"

    def command(self, *args: str, netns: str | None = None) -> list[str]:
        """The argv that runs ``args`` chrooted into this root.

        ``unshare -m`` (or ``ip netns exec NS``, which makes its own mount
        namespace) keeps the ``/proc`` and ``/dev`` mounts private to that
        one process tree: they vanish with it.
        """
        script = (
            'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" '
            '&& exec chroot "$0" "$@"'
        )
        inner = ["sh", "-c", script, str(self.path), *args]
        if netns is not None:
            return ["ip", "netns", "exec", netns, *inner]
        return ["unshare", "-m", "--propagation", "private", *inner]

    def run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the root and wait; raises on failure by default."""
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "DEBIAN_FRONTEND": "noninteractive",
        }
        result = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} in {self.suite} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def files(self) -> dict[str, str]:
        """Every path in the root (except /proc, /dev, /sys, /tmp), mapped to
        its kind (and a link's target): a snapshot for before/after."""
        out: dict[str, str] = {}
        skip = {"proc", "dev", "sys", "tmp"}
        for dirpath, dirnames, filenames in os.walk(self.path):
            rel_dir = os.path.relpath(dirpath, self.path)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d not in skip]
            for name in [*dirnames, *filenames]:
                full = os.path.join(dirpath, name)
                rel = "/" + os.path.normpath(os.path.join(rel_dir, name))
                if os.path.islink(full):
                    out[rel] = "link " + os.readlink(full)
                elif os.path.isdir(full):
                    out[rel] = "dir"
                else:
                    out[rel] = "file"
        return out


def root_tarballs(*names: str) -> dict[str, Path]:
    """Build (first time) or find the cached roots: name -> tarball (the
    suites by default; ``lintian-SUITE``: that suite's lintian alone)."""
    require_root()
    require_tool("mmdebstrap")
    result = subprocess.run(
        [str(REPO / "scripts" / "debian-roots"), *(names or SUITES)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    tarballs = {}
    for line in result.stdout.splitlines():
        suite, path = line.split(" ", 1)
        tarballs[suite] = Path(path)
    return tarballs


@pytest.fixture(scope="session")
def unpacked_roots(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Path]]:
    """Each cached root unpacked once per session (read-only lower layers),
    deleted at the end of the session."""
    out: dict[str, Path] = {}
    try:
        for suite, tarball in root_tarballs().items():
            path = tmp_path_factory.mktemp(f"lower-{suite}")
            out[suite] = path
            subprocess.run(
                ["tar", "-C", str(path), "-xf", str(tarball)], check=True, timeout=300
            )
        yield out
    finally:
        for path in out.values():
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def lintian_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Root]:
    """Debian 13 with its own lintian (the machine's may be Debian 12's),
    unpacked for the session and deleted at its end."""
    name = f"lintian-{max(SUITES, key=SUITES.__getitem__)}"
    (tarball,) = root_tarballs(name).values()
    path = tmp_path_factory.mktemp(name)
    try:
        subprocess.run(
            ["tar", "-C", str(path), "-xf", str(tarball)], check=True, timeout=300
        )
        yield Root(name, path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=sorted(SUITES))
def debian_root(
    request: pytest.FixtureRequest,
    unpacked_roots: dict[str, Path],
    tmp_path: Path,
) -> Iterator[Root]:
    """A clean Debian 12 or 13 root for one test: an overlay whose upper
    layer is this test's own, unmounted and deleted afterwards."""
    suite = request.param
    upper, work, merged = (tmp_path / n for n in ("upper", "work", f"root-{suite}"))
    for path in (upper, work, merged):
        path.mkdir()
    options = f"lowerdir={unpacked_roots[suite]},upperdir={upper},workdir={work}"
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield Root(suite, merged)
    finally:
        subprocess.run(["umount", "--lazy", str(merged)], check=False, timeout=30)
        shutil.rmtree(upper, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
