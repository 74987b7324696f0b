"""Which interfaces the daemon announces on when none is named (Linux).

The rule (README, "Interfaces"): an interface is used when

1. it is up and running (``IFF_UP`` and ``IFF_RUNNING``), can multicast
   (``IFF_MULTICAST``) and is not loopback or point-to-point;
2. it has a usable IPv6 link-local address (not tentative, not failed
   duplicate address detection);
3. it is not a port of a bridge, bond or team (the master interface is
   the one on the link; a port has no address of its own to announce);
4. it is not a tunnel or VPN device (kind ``tun``/``tap``, ``wireguard``:
   they reach other networks, not the local link);
5. its name matches none of :data:`DEFAULT_EXCLUDE` (container, VM and
   overlay-network interfaces) nor any ``--exclude`` / ``exclude`` pattern
   (shell-style, :func:`fnmatch.fnmatchcase`).

Interfaces named with ``--interface`` (or ``interfaces`` in the file) are
used as given, without this rule.

Facts come from one rtnetlink ``RTM_GETLINK`` dump (flags, kind, master)
and ``/proc/thread-self/net/if_inet6`` (addresses), both in the caller's
network namespace.  :func:`parse_links` is a pure parser of the dump.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import netif

DEFAULT_EXCLUDE: tuple[str, ...] = (
    "docker*",  # Docker's bridge
    "br-*",  # Docker's user-defined networks
    "veth*",  # container ends of veth pairs (host side)
    "virbr*",  # libvirt
    "vnet*",  # libvirt guest taps
    "lxcbr*",  # LXC
    "lxdbr*",  # LXD
    "incusbr*",  # Incus
    "podman*",  # Podman
    "cni*",  # Kubernetes CNI
    "flannel*",
    "cali*",  # Calico
    "cilium*",
    "weave*",
    "vxlan*",
    "kube-*",
    "tailscale*",  # VPNs
    "zt*",  # ZeroTier
    "wg*",
    "tun*",
    "tap*",
)
SKIPPED_KINDS = frozenset({"tun", "wireguard"})
PORT_KINDS = frozenset({"bridge", "bond", "team"})

# linux/if.h
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_RUNNING = 0x40
IFF_MULTICAST = 0x1000

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h
NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
IFLA_IFNAME = 3
IFLA_MASTER = 10
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_SLAVE_KIND = 4
RTMGRP_LINK = 0x1
RTMGRP_IPV6_IFADDR = 0x100

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")
MAX_DUMP_BYTES = 4 << 20  # a dump larger than this is cut (thousands of links)


@dataclass(frozen=True, slots=True)
class Link:
    """One network interface as rtnetlink reports it."""

    index: int
    name: str
    flags: int
    kind: str = ""  # "veth", "bridge", "wireguard", ... ("" for hardware)
    slave_kind: str = ""  # "bridge" for a bridge port, "bond", ...
    master: int = 0  # ifindex of the bridge/bond it belongs to, 0 if none


@dataclass(frozen=True, slots=True)
class Choice:
    """The rule's verdict on one interface (``reason`` says why not)."""

    name: str
    index: int
    selected: bool
    reason: str = ""
    # Not usable now, but may become so by itself (down, no carrier, no
    # usable address yet): an endpoint already on it is kept and recovers.
    waiting: bool = False


def _attrs(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """The (type, payload) of each rtattr in ``data[start:end]``."""
    pos = start
    while pos + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, pos)
        if length < _RTATTR.size or pos + length > end:
            return
        yield kind & 0x3FFF, data[pos + _RTATTR.size : pos + length]
        pos += (length + 3) & ~3


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_link(data: bytes, start: int, end: int) -> Link | None:
    """One RTM_NEWLINK payload (ifinfomsg + attributes), None if malformed."""
    if end - start < _IFINFOMSG.size:
        return None
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(data, start)
    name = kind = slave_kind = ""
    master = 0
    for attr, payload in _attrs(data, start + _IFINFOMSG.size, end):
        if attr == IFLA_IFNAME:
            name = _text(payload)
        elif attr == IFLA_MASTER and len(payload) >= 4:
            master = struct.unpack_from("=I", payload)[0]
        elif attr == IFLA_LINKINFO:
            for sub, value in _attrs(payload, 0, len(payload)):
                if sub == IFLA_INFO_KIND:
                    kind = _text(value)
                elif sub == IFLA_INFO_SLAVE_KIND:
                    slave_kind = _text(value)
    if not name or index <= 0:
        return None
    return Link(index, name, flags, kind, slave_kind, master)


def parse_messages(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(type, payload start, payload end) of each netlink message; stops at
    the first malformed header."""
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > len(data):
            return
        yield kind, pos + _NLMSGHDR.size, pos + length
        pos += (length + 3) & ~3


def parse_links(data: bytes) -> tuple[list[Link], bool]:
    """The links in a dump's bytes, and whether NLMSG_DONE (or an error)
    ended it."""
    links: list[Link] = []
    for kind, start, end in parse_messages(data):
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            return links, True
        if kind == RTM_NEWLINK:
            link = parse_link(data, start, end)
            if link is not None:
                links.append(link)
    return links, False


def dump_request(seq: int) -> bytes:
    """An RTM_GETLINK dump request."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + body


def dump_links(timeout: float = 2.0) -> list[Link]:
    """Every link in the caller's network namespace; OSError when rtnetlink
    is not available (then use :func:`fallback_links`)."""
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
    ) as sock:
        sock.settimeout(timeout)
        sock.bind((0, 0))
        sock.send(dump_request(1))
        links: list[Link] = []
        received = 0
        while received < MAX_DUMP_BYTES:
            data = sock.recv(65536)
            if not data:
                break
            received += len(data)
            more, done = parse_links(data)
            links += more
            if done:
                break
        return links


def proc_net_dev_names(text: str) -> list[str]:
    """The interface names in the text of ``/proc/net/dev``."""
    return [
        line.split(":", 1)[0].strip()
        for line in text.splitlines()[2:]
        if ":" in line and line.split(":", 1)[0].strip()
    ]


def _interfaces() -> list[tuple[int, str]]:
    """(index, name) of every interface, without rtnetlink if need be."""
    try:
        return socket.if_nameindex()  # glibc asks rtnetlink
    except OSError:
        pass
    for path in ("/proc/thread-self/net/dev", "/proc/net/dev"):
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        out = []
        for name in proc_net_dev_names(text):
            with contextlib.suppress(OSError):
                out.append((netif.interface_index(name), name))  # SIOCGIFINDEX
        return out
    return []


def fallback_links() -> list[Link]:
    """Links without rtnetlink (a sandbox may forbid AF_NETLINK): names from
    ``if_nameindex`` or ``/proc/net/dev``, flags by ``SIOCGIFFLAGS``; no kind
    or master, so bridge ports are found by ``/sys/class/net/IF/brport``,
    which is right only in the namespace sysfs was mounted in."""
    out: list[Link] = []
    for index, name in _interfaces():
        try:
            flags = netif.interface_flags(name)
        except OSError:
            continue
        port = os.path.exists(f"/sys/class/net/{name}/brport")
        out.append(Link(index, name, flags, slave_kind="bridge" if port else ""))
    return out


def read_links() -> list[Link]:
    """:func:`dump_links`, else :func:`fallback_links`."""
    try:
        return dump_links()
    except OSError:
        return fallback_links()


def excluded(name: str, patterns: Iterable[str]) -> str | None:
    """The first pattern ``name`` matches, or None."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(name, pattern):
            return pattern
    return None


def judge(
    link: Link,
    links_by_index: dict[int, Link],
    addresses: list[netif.InterfaceAddress],
    exclude: Iterable[str] = (),
) -> Choice:
    """The rule of the module docstring, for one link."""

    def no(reason: str, *, waiting: bool = False) -> Choice:
        return Choice(link.name, link.index, False, reason, waiting)

    if link.flags & IFF_LOOPBACK:
        return no("loopback")
    pattern = excluded(link.name, DEFAULT_EXCLUDE)
    if pattern is not None:
        return no(f"virtual or container interface ({pattern})")
    pattern = excluded(link.name, exclude)
    if pattern is not None:
        return no(f"excluded ({pattern})")
    master = links_by_index.get(link.master) if link.master else None
    port_kind = link.slave_kind if link.slave_kind in PORT_KINDS else ""
    if not port_kind and master is not None and master.kind in PORT_KINDS:
        port_kind = master.kind
    if port_kind:
        owner = master.name if master is not None else f"index {link.master}"
        return no(f"{port_kind} port (of {owner})")
    if link.kind in SKIPPED_KINDS:
        return no(f"tunnel ({link.kind})")
    if link.flags & IFF_POINTOPOINT:
        return no("point-to-point")
    if not link.flags & IFF_UP:
        return no("down", waiting=True)
    if not link.flags & IFF_RUNNING:
        return no("no carrier", waiting=True)
    if not link.flags & IFF_MULTICAST:
        return no("cannot multicast")
    own = [a for a in addresses if a.ifindex == link.index and a.link_local]
    if not own:
        return no("no IPv6 link-local address", waiting=True)
    if not any(a.usable for a in own):
        return no(
            "link-local address not usable yet (tentative or duplicate)", waiting=True
        )
    return Choice(link.name, link.index, True)


def choose(
    links: list[Link],
    addresses: list[netif.InterfaceAddress],
    exclude: Iterable[str] = (),
) -> list[Choice]:
    """The verdict on every link, in index order."""
    patterns = tuple(exclude)
    by_index = {link.index: link for link in links}
    return [
        judge(link, by_index, addresses, patterns)
        for link in sorted(links, key=lambda link: link.index)
    ]


def suitable_interfaces(exclude: Iterable[str] = ()) -> list[Choice]:
    """The verdicts for the live system (caller's network namespace)."""
    return choose(read_links(), netif.read_addresses(), exclude)


class LinkMonitor:
    """A netlink socket subscribed to link and IPv6 address changes.

    :meth:`drain` reads what is queued (non-blocking) and says whether
    anything arrived; the daemon re-scans then.  ``fileno()`` is for
    ``loop.add_reader``.  Construction raises OSError without rtnetlink.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
        try:
            self.sock.setblocking(False)
            self.sock.bind((0, RTMGRP_LINK | RTMGRP_IPV6_IFADDR))
        except BaseException:
            self.sock.close()
            raise

    def fileno(self) -> int:
        """The socket's descriptor."""
        return self.sock.fileno()

    def drain(self, limit: int = 64) -> bool:
        """Read up to ``limit`` queued datagrams; True if there were any.

        An overrun (ENOBUFS: too many changes at once) also counts as a
        change: the re-scan reads the whole state anyway.
        """
        changed = False
        for _ in range(limit):
            try:
                if not self.sock.recv(65536):
                    break
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                changed = True
                break
            changed = True
        return changed

    def close(self) -> None:
        """Close the socket."""
        with contextlib.suppress(OSError):
            self.sock.close()
