"""The installed service under a real systemd: each Debian root booted.

The root (with the .deb installed by dpkg, as in test_roots.py) boots with
``systemd-nspawn --boot`` inside one of the lab's network namespaces, whose
veth leads to a second namespace where the root's own ``linkname watch``
runs.  Then the unit the package enabled really runs under its sandbox
(dynamic user, ProtectSystem=strict, RestrictAddressFamilies=,
SystemCallFilter=, MemoryDenyWriteExecute=...): its announcements arrive,
its host ID is kept in the state directory, and ``systemctl stop`` makes it
say goodbye.  With the NSS module and the multi-interface daemon, a
program in the booted host resolves the peer's name (``getent ahosts``)
through the table the sandboxed daemon writes and the hosts: line postinst
added.

While ``linkname announce`` still needs ``--interface`` (before the
multi-interface daemon), the all-interfaces ``linkname.service`` cannot run,
so the test runs ``linkname@eth0.service``, the same sandbox; with a daemon
that takes ``--exclude`` it runs ``linkname.service`` as the package enabled
it.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import Lab, Netns
from tests.packaging.conftest import Packages, Root, require_tool
from tests.packaging.test_roots import has_nss_module, install, start

pytestmark = pytest.mark.netns


class Booted:
    """A root booted with systemd-nspawn; commands run in it with nsenter."""

    def __init__(self, root: Root, popen: subprocess.Popen[str]) -> None:
        self.root = root
        self.popen = popen

    def leader(self) -> int:
        """The PID of the container's systemd (nspawn's child)."""
        children = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        pids = children.read_text().split()
        if not pids:
            raise RuntimeError("the container has no init process (yet)")
        return int(pids[0])

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container."""
        cmd = ["nsenter", "-t", str(self.leader()), "-m", "-u", "-i", "-p", "-n"]
        result = subprocess.run(
            [*cmd, "--", *args], capture_output=True, text=True, check=False, timeout=60
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{args}: {result.stdout}{result.stderr}")
        return result

    def wait_booted(self, limit: float = 60.0) -> None:
        """Until systemd has finished starting up."""
        deadline = time.monotonic() + limit
        state = ""
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited: {self.popen.returncode}")
            with contextlib.suppress(RuntimeError, FileNotFoundError):
                state = self.run("systemctl", "is-system-running").stdout.strip()
                if state in {"running", "degraded"}:
                    return
            time.sleep(0.25)
        raise TimeoutError(f"the container did not finish booting ({state!r})")


@contextlib.contextmanager
def booted(root: Root, netns: Netns) -> Iterator[Booted]:
    """Boot ``root`` in ``netns``; powered off (or killed) afterwards."""
    nspawn = require_tool("systemd-nspawn", "systemd-container")
    popen = subprocess.Popen(
        [
            nspawn, "--quiet", "--register=no", "--keep-unit", "--boot",
            f"--directory={root.path}", f"--machine=lnt-{root.suite}",
            f"--network-namespace-path=/run/netns/{netns.name}",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        yield Booted(root, popen)
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)  # nspawn: power the container off
            try:
                popen.wait(20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        if popen.stdout is not None:
            popen.stdout.close()


def resolved(container: Booted, name: str, limit: float = 10.0) -> str:
    """``getent ahosts NAME`` in the container, once it finds the name."""
    deadline = time.monotonic() + limit
    while True:
        result = container.run("getent", "ahosts", name)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result.stdout
        time.sleep(0.2)


def test_service_runs_sandboxed_under_systemd(
    debian_root: Root, packages: Packages, fast_lab: Lab
) -> None:
    root = debian_root
    install(root, packages)
    host, peer = fast_lab.netns("sh"), fast_lab.netns("sp")
    fast_lab.veth(host, "eth0", peer, "eth0")
    address = host.link_local("eth0")
    peer_address = peer.link_local("eth0")
    multi = "--exclude" in root.run("linkname", "announce", "--help").stdout
    unit = "linkname.service" if multi else "linkname@eth0.service"
    watch = start(fast_lab, root, peer.name, "watch", "--json", "--interface", "eth0")
    peer_name = f"peer-{root.suite}"
    peer_args = ["--interface", "eth0", "--name", peer_name]
    peer_args += ["--state-file", "/tmp/peer-host-id.json"]  # another host's ID
    start(fast_lab, root, peer.name, "announce", *peer_args)
    with booted(root, host) as container:
        container.wait_booted()
        enabled = container.run("systemctl", "is-enabled", "linkname.service")
        assert enabled.stdout.strip() == "enabled"  # by postinst, the Debian way
        if not multi:
            container.run("systemctl", "start", unit, check=True)
        _, joined = watch.wait_event(
            lambda e: e.get("event") == "joined" and e["addresses"][0] == address,
            limit=20,
        )
        status = container.run("systemctl", "status", "--no-pager", unit)
        assert joined["addresses"][0] == address, status.stdout
        assert container.run("systemctl", "is-active", unit).stdout.strip() == "active"
        show = container.run(
            "systemctl", "show", unit, "-p", "User", "-p", "MainPID", "-p", "NRestarts"
        ).stdout
        assert "NRestarts=0" in show
        main_pid = next(
            int(line.split("=", 1)[1])
            for line in show.splitlines()
            if "MainPID=" in line
        )
        proc_status = container.run("cat", f"/proc/{main_pid}/status").stdout
        uid = next(
            line.split()[1]
            for line in proc_status.splitlines()
            if line.startswith("Uid:")
        )
        assert uid != "0"  # a dynamic user, not root
        if multi and has_nss_module(root):
            # The daemon's table, read through the package's NSS module and
            # the hosts: line its postinst wrote: every program finds the peer.
            mode = container.run("stat", "-c", "%a", "/run/linkname/hosts").stdout
            assert int(mode.strip() or "0", 8) & 0o004, "table not world-readable"
            assert peer_address in resolved(container, peer_name)
        state = root.path / "var/lib/private/linkname/host-id.json"
        assert state.exists()
        assert joined["host_id"] in state.read_text()
        container.run("systemctl", "stop", unit, check=True)
        _, left = watch.wait_event(
            lambda e: e.get("event") == "left" and e["host_id"] == joined["host_id"],
            limit=10,
        )
        assert left["reason"] == "goodbye"
        journal = container.run(
            "journalctl", "-u", unit, "--no-pager", "-o", "cat"
        ).stdout
        assert "announcing" in journal
    assert watch.stop() == 0
