"""The NSS module on a real link: every program of the host resolves the names.

Host "local" runs ``linkname announce`` writing its table file into a
private directory; host "kitchen" (the neighbour) runs ``linkname announce
--name kitchen-pi``. The lookups run in "local" inside a mount namespace of
their own (``unshare -m``): a private ``/etc/nsswitch.conf`` ("hosts: files
linkname"), a tmpfs on /run with the private directory bound on
/run/linkname, and ``LD_LIBRARY_PATH`` pointing at the fresh build, so
``getent`` and Python load this module without installing it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from custom_components.linkname.protocol.hostsfile import HostsFileError, parse_table
from tests.netns import Lab, Netns
from tests.proc import Proc

from .conftest import need

LINKNAME = [sys.executable, "-m", "linkname"]
WRAP = (
    'set -e; mount --bind "$NSS_CONF" /etc/nsswitch.conf; '
    "mount -t tmpfs linkname-test /run; mkdir /run/linkname; "
    'mount --bind "$NSS_RUN" /run/linkname; exec "$@"'
)

pytestmark = pytest.mark.netns


class Host:
    """The local host: its daemon's table file and lookups through the module."""

    def __init__(self, ns: Netns, build: Path, tmp: Path) -> None:
        self.ns = ns
        self.run_dir = tmp / "local-run"
        self.run_dir.mkdir()
        self.hosts = self.run_dir / "hosts"
        conf = tmp / "nsswitch.conf"
        conf.write_text("hosts: files linkname\n")
        self.env = {
            **os.environ,
            "LD_LIBRARY_PATH": str(build),
            "NSS_CONF": str(conf),
            "NSS_RUN": str(self.run_dir),
        }

    def run(self, *args: str) -> tuple[int, str]:
        """Run a command in the lookup mount namespace: (exit status, stdout)."""
        result = self.ns.run(
            "unshare", "-m", "--propagation", "private", "sh", "-c", WRAP, "sh",
            *args, env=self.env, timeout=20,
        )  # fmt: skip
        assert "mount:" not in result.stderr, result.stderr
        return result.returncode, result.stdout

    def getent(self, *args: str) -> tuple[int, str]:
        return self.run("getent", *args)

    def names(self) -> set[str]:
        try:
            return {r.name for r in parse_table(self.hosts.read_bytes(), time.time())}
        except OSError, HostsFileError:
            return set()


def wait(cond: Callable[[], object], limit: float, what: str) -> float:
    """Seconds until ``cond()`` is true; fails after ``limit``."""
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < limit, f"not within {limit} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def world(
    fast_lab: Lab, nss_build: Path, tmp_path: Path
) -> tuple[Lab, Netns, Netns, Host]:
    need("getent", "unshare", "mount")
    local, kitchen = fast_lab.netns("local"), fast_lab.netns("kitchen")
    fast_lab.veth(local, "eth0", kitchen, "eth0")
    kitchen.ip("addr", "add", "2001:db8:1::7/64", "dev", "eth0", "nodad")
    kitchen.ip("addr", "add", "192.0.2.7/24", "dev", "eth0")
    # An IPv4 address of its own (another subnet: no route to the neighbour's):
    # on an IPv6-only host, AI_ADDRCONFIG makes glibc ask for AF_INET6 alone,
    # through gethostbyname3_r, whose hostent has no scope (README, limits).
    local.ip("addr", "add", "198.51.100.1/24", "dev", "eth0")
    local.link_local("eth0")
    kitchen.link_local("eth0")
    return fast_lab, local, kitchen, Host(local, nss_build, tmp_path)


def announce(lab: Lab, ns: Netns, tmp: Path, name: str, *args: str) -> Proc:
    del lab
    return Proc(
        ns.popen(
            *LINKNAME, "announce", "-i", "eth0", "--name", name,
            "--state-file", str(tmp / f"{name}.state"), *args,
        )
    )  # fmt: skip


@pytest.mark.usefixtures("socket_enabled")
def test_names_resolve_for_every_program(
    world: tuple[Lab, Netns, Netns, Host], tmp_path: Path
) -> None:
    lab, local, kitchen, host = world
    ifindex = local.ifindex("eth0")
    ll = kitchen.link_local("eth0")
    daemon = announce(
        lab, local, tmp_path, "local-host", "--runtime-dir", str(host.run_dir)
    )
    neighbour = announce(
        lab, kitchen, tmp_path, "kitchen-pi", "--interval", "5",
        "--runtime-dir", str(tmp_path / "kitchen-run"),
    )  # fmt: skip
    wait(lambda: "kitchen-pi" in host.names(), 10, "kitchen-pi in the table file")

    # forward: every announced address, link-local with the interface's index
    status, out = host.getent("ahosts", "kitchen-pi")
    assert status == 0, out
    addresses = {line.split()[0] for line in out.splitlines()}
    assert addresses == {f"{ll}%{ifindex}", "2001:db8:1::7", "192.0.2.7"}
    status, out = host.getent("ahosts", "KITCHEN-PI")
    assert status == 0
    assert f"{ll}%{ifindex}" in out
    status, out = host.getent("ahosts", "local-host")  # the host's own name
    assert status == 0
    assert f"{local.link_local('eth0')}%{ifindex}" in out

    # a program connects by name: TCP to a listener on the neighbour's
    # link-local address (no route to its global or IPv4 ones from here)
    with kitchen.entered():
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with listener:
        listener.bind((ll, 0, 0, kitchen.ifindex("eth0")))
        listener.listen(1)
        port = listener.getsockname()[1]
        code = (
            "import socket, sys\n"
            "s = socket.create_connection(('kitchen-pi', int(sys.argv[1])), 5)\n"
            "print(s.getpeername()[0], s.getpeername()[3])\n"
        )
        status, out = host.run(sys.executable, "-c", code, str(port))
        assert status == 0, out
        assert out.split() == [ll, str(ifindex)]
        conn, _ = listener.accept()
        conn.close()

    # reverse: the link-local address with its zone, by name and by index
    for zone in ("eth0", str(ifindex)):
        status, out = host.getent("hosts", f"{ll}%{zone}")
        assert status == 0, out
        assert out.split()[-1] == "kitchen-pi"
    status, out = host.getent("hosts", ll)
    assert status == 0
    assert out.split() == [ll, "kitchen-pi"]

    # unknown names and names with a dot: NOTFOUND (getent: exit status 2)
    for name in ("nobody-here", "kitchen-pi.example.org", "kitchen-pi.", "kitchen"):
        assert host.getent("ahosts", name)[0] == 2, name
    assert host.getent("hosts", "fe80::99%eth0")[0] == 2

    # the neighbour says GOODBYE: gone from every program at once
    stopped = time.monotonic()
    assert neighbour.stop() == 0
    took = wait(lambda: host.getent("ahosts", "kitchen-pi")[0] == 2, 5, "goodbye")
    print(
        f"\nNOTFOUND {time.monotonic() - stopped:.2f} s after the neighbour's SIGTERM"
    )
    assert took < 3

    # back; then the daemon dies (SIGKILL): its stale file answers until the
    # record's own expiry (TTL 15 s), then no more
    neighbour = announce(
        lab, kitchen, tmp_path, "kitchen-pi", "--interval", "5",
        "--runtime-dir", str(tmp_path / "kitchen-run"),
    )  # fmt: skip
    wait(lambda: host.getent("ahosts", "kitchen-pi")[0] == 0, 10, "back")
    daemon.popen.send_signal(signal.SIGKILL)
    daemon.popen.wait(5)
    assert host.hosts.exists()
    expiry = next(
        r.expires
        for r in parse_table(host.hosts.read_bytes(), 0)
        if r.name == "kitchen-pi"
    )
    assert expiry - time.time() <= 16
    assert host.getent("ahosts", "kitchen-pi")[0] == 0
    wait(lambda: host.getent("ahosts", "kitchen-pi")[0] == 2, 20, "stale file expires")
    assert time.time() >= expiry  # not before the record's expiry
    assert time.time() < expiry + 3

    # a clean exit removes the file
    daemon = announce(
        lab, local, tmp_path, "local-host", "--runtime-dir", str(host.run_dir)
    )
    wait(lambda: "kitchen-pi" in host.names(), 15, "daemon restarted")
    assert daemon.stop() == 0
    assert not host.hosts.exists()
    assert host.getent("ahosts", "kitchen-pi")[0] == 2
    neighbour.stop()


def test_watch_keeps_the_table_file_when_asked(
    world: tuple[Lab, Netns, Netns, Host], tmp_path: Path
) -> None:
    lab, local, kitchen, host = world
    announce(lab, kitchen, tmp_path, "kitchen-pi")
    watch = Proc(
        local.popen(
            *LINKNAME, "watch", "-i", "eth0", "--json",
            "--runtime-dir", str(host.run_dir),
        )
    )  # fmt: skip
    wait(lambda: "kitchen-pi" in host.names(), 10, "kitchen-pi in watch's file")
    assert host.names() == {"kitchen-pi"}  # watch announces nothing itself
    status, out = host.getent("ahosts", "kitchen-pi")
    assert status == 0
    assert f"{kitchen.link_local('eth0')}%{local.ifindex('eth0')}" in out
    assert watch.stop() == 0
    assert not host.hosts.exists()
