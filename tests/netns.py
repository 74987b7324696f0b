"""Real IPv6 link-local networks for tests: network namespaces, veth, bridges.

Every test host is a network namespace named ``lnt-<pid>-<tag>-<n>``; links
are veth pairs created directly inside the namespaces (nothing is added to
the machine's own namespace), a "switch" is a bridge in a namespace of its
own.  Deleting a namespace deletes its links, so cleanup is: stop the
processes started in it, then ``ip netns del``.  Cleanup runs from fixture
finalizers (also on failures and KeyboardInterrupt), from ``atexit``, and a
sweep at first use removes leftovers of test runs whose pid is gone.

Use the fixtures (``lab``; ``link_pair``) or :class:`Lab` directly.  Without
root or ``ip netns`` the fixtures skip, except when ``CI=true``: there they
fail, so CI never silently skips the real-network tests.  Mark such tests
``@pytest.mark.netns``.

``Netns.entered()`` moves the calling thread into the namespace (``setns``)
for in-process tests: sockets opened inside stay in that namespace, and
``/proc/thread-self/net`` shows it.  (``/sys/class/net`` does not follow.)
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PREFIX = "lnt-"
NETNS_DIR = Path("/run/netns")
_NAME_RE = re.compile(rf"^{PREFIX}(\d+)-")
IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08


def _own_prefix() -> str:
    return f"{PREFIX}{os.getpid()}-"


# -- availability -------------------------------------------------------------


@functools.cache
def unavailable_reason() -> str | None:
    """Why real-network tests cannot run here (None: they can)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{_own_prefix()}probe"
    result = subprocess.run(
        ["ip", "netns", "add", probe], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def require_netns() -> None:
    """Skip (or, with CI=true, fail) when namespaces are not available."""
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real-network tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


# -- cleanup ------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_netns() -> list[str]:
    """Names of all named network namespaces."""
    result = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    )
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def _delete_netns(name: str) -> None:
    # Processes still inside would keep it alive (unnamed); kill them first.
    pids = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def sweep_stale() -> list[str]:
    """Delete ``lnt-<pid>-*`` namespaces whose test run (pid) is gone."""
    removed = []
    for name in list_netns():
        match = _NAME_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _delete_netns(name)
            removed.append(name)
    return removed


def _delete_own() -> None:
    prefix = _own_prefix()
    for name in list_netns():
        if name.startswith(prefix):
            _delete_netns(name)


_swept = False


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep_stale()
        atexit.register(_delete_own)


# -- namespaces ---------------------------------------------------------------


class Netns:
    """One network namespace (a test host)."""

    def __init__(self, name: str, lab: Lab) -> None:
        self.name = name
        self._lab = lab

    def __repr__(self) -> str:
        return f"Netns({self.name!r})"

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``ip -n NAME ARGS``."""
        return _run(["ip", "-n", self.name, *args], check=check)

    def run(
        self, *args: str, check: bool = False, timeout: float = 30.0, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace and wait (``ip netns exec``)."""
        return _run(
            ["ip", "netns", "exec", self.name, *args],
            check=check,
            timeout=timeout,
            **kw,
        )

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        """Start a command in the namespace; stopped at cleanup.

        Runs in its own session so that cleanup can kill its whole group.
        """
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *args], start_new_session=True, **kw
        )
        self._lab.processes.append(proc)
        return proc

    def sysctl(self, key: str, value: str | int) -> None:
        """Set a (network) sysctl inside the namespace."""
        with self.entered():
            Path("/proc/sys", key.replace(".", "/")).write_text(f"{value}\n")

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the calling thread inside the namespace (setns), then go back."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(NETNS_DIR / self.name, os.O_RDONLY)
        try:
            os.setns(target, os.CLONE_NEWNET)
            try:
                yield
            finally:
                os.setns(own, os.CLONE_NEWNET)
        finally:
            os.close(target)
            os.close(own)

    def if_inet6(self) -> list[tuple[str, str, int]]:
        """(interface, address, flags) of the namespace's IPv6 addresses."""
        with self.entered():
            text = Path("/proc/thread-self/net/if_inet6").read_text()
        out = []
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 6:
                raw = fields[0]
                address = ":".join(raw[i : i + 4] for i in range(0, 32, 4))
                out.append((fields[5], address, int(fields[4], 16)))
        return out

    def link_local(self, ifname: str = "eth0", timeout: float = 5.0) -> str:
        """The interface's usable (non-tentative) fe80:: address; waits for DAD."""
        import ipaddress

        deadline = time.monotonic() + timeout
        while True:
            for name, address, flags in self.if_inet6():
                if (
                    name == ifname
                    and address.startswith("fe80")
                    and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
                ):
                    return str(ipaddress.IPv6Address(address))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}/{ifname}: no usable link-local")
            time.sleep(0.02)

    def ifindex(self, ifname: str = "eth0") -> int:
        """The interface's index inside the namespace."""
        import socket

        with self.entered():
            return socket.if_nametoindex(ifname)

    def set_link(self, ifname: str, up: bool) -> None:
        """``ip link set IF up|down``."""
        self.ip("link", "set", ifname, "up" if up else "down")


def _run(
    cmd: list[str], *, check: bool, timeout: float = 30.0, **kw: Any
) -> subprocess.CompletedProcess[str]:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    result: subprocess.CompletedProcess[str] = subprocess.run(
        cmd, check=False, timeout=timeout, **kw
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result


class Lab:
    """Creates namespaces and links and removes all of them in :meth:`cleanup`.

    ``dad=False`` turns duplicate address detection off in new namespaces,
    so link-local addresses are usable at once (faster tests); the default
    keeps the kernel's behaviour (about 2 s of "tentative").
    """

    _counter = 0

    def __init__(self, *, dad: bool = True) -> None:
        require_netns()
        _sweep_once()
        self.dad = dad
        self.namespaces: list[Netns] = []
        self.processes: list[subprocess.Popen[str]] = []
        self._finalizers: list[Callable[[], None]] = []

    def netns(self, tag: str = "ns") -> Netns:
        """A new, empty namespace with ``lo`` up."""
        Lab._counter += 1
        name = f"{_own_prefix()}{tag}-{Lab._counter}"
        _run(["ip", "netns", "add", name], check=True)
        ns = Netns(name, self)
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        if not self.dad:
            ns.sysctl("net.ipv6.conf.default.accept_dad", 0)
            ns.sysctl("net.ipv6.conf.all.accept_dad", 0)
        return ns

    def veth(
        self, a: Netns, a_if: str, b: Netns, b_if: str, *, up: bool = True
    ) -> None:
        """A veth pair: ``a_if`` in ``a``, ``b_if`` in ``b``."""
        a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
        if up:
            a.set_link(a_if, True)
            b.set_link(b_if, True)

    def bridge(self, hosts: list[Netns], ifname: str = "eth0") -> Netns:
        """A switch: a bridge in its own namespace, one port per host.

        Each host gets ``ifname``; returns the switch namespace.
        """
        switch = self.netns("sw")
        switch.ip("link", "add", "br0", "type", "bridge")
        # No multicast snooping: the group must reach every port at once.
        switch.ip("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
        switch.set_link("br0", True)
        for n, host in enumerate(hosts):
            port = f"p{n}"
            self.veth(switch, port, host, ifname, up=False)
            switch.ip("link", "set", port, "master", "br0")
            switch.set_link(port, True)
            host.set_link(ifname, True)
        return switch

    def add_finalizer(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` at cleanup (before namespaces are deleted)."""
        self._finalizers.append(fn)

    def stop(self, proc: subprocess.Popen[str], timeout: float = 3.0) -> None:
        """SIGTERM a process started by :meth:`Netns.popen`; SIGKILL if stuck."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def cleanup(self) -> None:
        """Stop processes, run finalizers, delete every namespace."""
        for fn in reversed(self._finalizers):
            with contextlib.suppress(Exception):
                fn()
        self._finalizers.clear()
        for proc in self.processes:
            with contextlib.suppress(Exception):
                self.stop(proc, timeout=1.0)
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()
        self.processes.clear()
        for ns in reversed(self.namespaces):
            _delete_netns(ns.name)
        self.namespaces.clear()


# -- fixtures -----------------------------------------------------------------


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A :class:`Lab` (kernel DAD on); everything is removed afterwards."""
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.cleanup()


@pytest.fixture
def fast_lab() -> Iterator[Lab]:
    """A :class:`Lab` without duplicate address detection (addresses at once)."""
    the_lab = Lab(dad=False)
    try:
        yield the_lab
    finally:
        the_lab.cleanup()


@pytest.fixture
def link_pair(fast_lab: Lab) -> tuple[Netns, Netns]:
    """Two hosts joined by a veth link (``eth0`` each), addresses usable."""
    a, b = fast_lab.netns("a"), fast_lab.netns("b")
    fast_lab.veth(a, "eth0", b, "eth0")
    a.link_local("eth0")
    b.link_local("eth0")
    return a, b
