"""Network interface facts the endpoint needs (Linux).

Pure parsers take file text so they can be tested without a network; the
thin readers next to them read the live system.  Everything is read in the
network namespace of the calling thread: ``/proc/thread-self/net`` and
``ioctl`` on a fresh socket, never ``/sys/class/net`` (sysfs shows the
namespace it was mounted in, not the caller's).
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

# Address flags (linux/if_addr.h); /proc/net/if_inet6 prints them in hex.
IFA_F_TEMPORARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80

SCOPE_GLOBAL = 0x00
SCOPE_LINK = 0x20

# Interface flags (linux/if.h) and the ioctls that read them.
IFF_UP = 0x1
IFF_RUNNING = 0x40  # operational state up (carrier and not dormant)
SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915

IF_INET6_PATHS = ("/proc/thread-self/net/if_inet6", "/proc/net/if_inet6")
_IFREQ = struct.Struct("16s24s")
_IFNAMSIZ = 16


class InterfaceError(OSError):
    """The named interface does not exist (or the name is not valid)."""


@dataclass(frozen=True, slots=True)
class InterfaceAddress:
    """One IPv6 address of an interface, as listed in /proc/net/if_inet6."""

    address: str
    ifindex: int
    prefixlen: int
    scope: int
    flags: int
    interface: str

    @property
    def link_local(self) -> bool:
        """True for fe80::/10."""
        first = socket.inet_pton(socket.AF_INET6, self.address)[:2]
        return first[0] == 0xFE and first[1] & 0xC0 == 0x80

    @property
    def tentative(self) -> bool:
        """Duplicate address detection is still running: not usable yet."""
        return bool(self.flags & IFA_F_TENTATIVE)

    @property
    def dadfailed(self) -> bool:
        """Duplicate address detection found a duplicate: never usable."""
        return bool(self.flags & IFA_F_DADFAILED)

    @property
    def deprecated(self) -> bool:
        """Preferred lifetime over: still works, not for new use."""
        return bool(self.flags & IFA_F_DEPRECATED)

    @property
    def temporary(self) -> bool:
        """A privacy (RFC 8981) address: not announced."""
        return bool(self.flags & IFA_F_TEMPORARY)

    @property
    def usable(self) -> bool:
        """Can be used as a source address right now."""
        return not (self.tentative or self.dadfailed)


def parse_if_inet6(text: str) -> list[InterfaceAddress]:
    """Parse the text of /proc/net/if_inet6; malformed lines are skipped.

    Each line: address (32 hex digits), ifindex, prefix length, scope and
    flags (hex), interface name.
    """
    out: list[InterfaceAddress] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or len(fields[0]) != 32:
            continue
        try:
            packed = bytes.fromhex(fields[0])
            ifindex, prefixlen, scope, flags = (int(f, 16) for f in fields[1:5])
        except ValueError:
            continue
        out.append(
            InterfaceAddress(
                socket.inet_ntop(socket.AF_INET6, packed),
                ifindex,
                prefixlen,
                scope,
                flags,
                fields[5],
            )
        )
    return out


def link_local_addresses(
    entries: list[InterfaceAddress], interface: str
) -> list[InterfaceAddress]:
    """The link-local addresses of ``interface``, in file order."""
    return [e for e in entries if e.interface == interface and e.link_local]


def choose_link_local(
    entries: list[InterfaceAddress], interface: str, current: str | None = None
) -> str | None:
    """The link-local address to use as source, or None when none is usable.

    Keeps ``current`` while it is usable (so the choice does not flap), else
    prefers a non-deprecated address, then the first usable one.
    """
    usable = [e for e in link_local_addresses(entries, interface) if e.usable]
    if not usable:
        return None
    if current is not None and any(e.address == current for e in usable):
        return current
    fresh = [e for e in usable if not e.deprecated]
    return (fresh or usable)[0].address


def other_addresses(entries: list[InterfaceAddress], interface: str) -> list[str]:
    """Usable, non-temporary, non-deprecated IPv6 addresses beyond link-local.

    These (global and unique-local) may be announced after the link-local one.
    """
    return [
        e.address
        for e in entries
        if e.interface == interface
        and not e.link_local
        and e.scope == SCOPE_GLOBAL
        and e.usable
        and not (e.deprecated or e.temporary)
    ]


def parse_operstate(text: str) -> bool:
    """Is an operstate ("up", "unknown", "down", ...) usable for traffic?

    "unknown" is what interfaces without carrier reporting (dummy, some
    tunnels) show while up.
    """
    return text.strip().lower() in {"up", "unknown"}


def flags_usable(flags: int) -> bool:
    """Administratively up and operationally running."""
    return flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING


def read_if_inet6() -> str:
    """The text of /proc/net/if_inet6 for the caller's network namespace.

    Empty when IPv6 is disabled in the kernel (the file is missing).
    """
    for path in IF_INET6_PATHS:
        try:
            return Path(path).read_text(encoding="ascii")
        except FileNotFoundError:
            continue
    return ""


def read_addresses() -> list[InterfaceAddress]:
    """All IPv6 addresses of all interfaces (see :func:`parse_if_inet6`)."""
    return parse_if_inet6(read_if_inet6())


def _ifreq(interface: str) -> bytes:
    raw = interface.encode("utf-8", "surrogateescape")
    if not 0 < len(raw) < _IFNAMSIZ or b"\0" in raw or b"/" in raw:
        raise InterfaceError(errno.ENODEV, f"invalid interface name {interface!r}")
    return _IFREQ.pack(raw, b"")


def interface_index(interface: str) -> int:
    """The interface's index; :class:`InterfaceError` if there is none."""
    _ifreq(interface)  # validate the name first: a clear error, not ValueError
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise InterfaceError(
            errno.ENODEV, f"no network interface named {interface!r}"
        ) from None


def interface_flags(interface: str) -> int:
    """The interface's IFF_* flags (SIOCGIFFLAGS)."""
    request = _ifreq(interface)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        try:
            result = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request)
        except OSError as err:
            if err.errno in (errno.ENODEV, errno.ENXIO):
                raise InterfaceError(
                    errno.ENODEV, f"no network interface named {interface!r}"
                ) from None
            raise
    return int(struct.unpack_from("@H", result, _IFNAMSIZ)[0])


def interface_is_up(interface: str) -> bool:
    """Up and running; False also when the interface does not exist."""
    try:
        return flags_usable(interface_flags(interface))
    except InterfaceError:
        return False


def ipv4_address(interface: str) -> str | None:
    """The interface's primary IPv4 address (SIOCGIFADDR), or None."""
    request = _ifreq(interface)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            result = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
    except OSError:
        return None
    family = struct.unpack_from("@H", result, _IFNAMSIZ)[0]
    if family != socket.AF_INET:
        return None
    return socket.inet_ntop(socket.AF_INET, result[_IFNAMSIZ + 4 : _IFNAMSIZ + 8])
