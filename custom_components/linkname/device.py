"""A neighbour as Home Assistant knows it, and the devices of an entry."""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass

from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo

from .const import DOMAIN, HA_MANUFACTURER
from .protocol import __version__ as LINKNAME_VERSION
from .protocol.table import Neighbour


@dataclass(slots=True)
class Known:
    """What Home Assistant knows about one neighbour (persisted).

    Times are Unix timestamps: they must survive a restart.  ``since`` is
    when the current presence period began (the "Online since" sensor);
    ``last_heard`` is the last accepted announcement.  It moves with every
    re-announcement, so no entity state shows it: the recorder stays quiet
    while a neighbour simply stays home (see the README).
    """

    host: str
    name: str
    addresses: list[str]
    model: str | None = None
    os: str | None = None
    software: str | None = None
    ttl: int = 180
    last_heard: float = 0.0
    since: float = 0.0
    present: bool = False
    signed: bool = False
    manufacturer: str | None = None
    boot_id: int = 0
    seq: int = 0
    named_since: float = 0.0  # since when it announces its current name

    def update_from(self, neighbour: Neighbour) -> bool:
        """Take what the neighbour announces; True when anything changed."""
        before = self._announced()
        self.name = neighbour.name
        self.addresses = list(neighbour.addresses)
        self.model = neighbour.model
        self.os = neighbour.os
        self.software = neighbour.software
        self.manufacturer = neighbour.manufacturer
        self.ttl = neighbour.ttl
        self.signed = neighbour.signed
        self.boot_id = neighbour.boot_id
        self.seq = neighbour.seq
        return self._announced() != before

    def _announced(self) -> tuple[object, ...]:
        return (
            self.name,
            self.addresses,
            self.model,
            self.os,
            self.software,
            self.manufacturer,
            self.ttl,
            self.signed,
        )

    @property
    def link_local(self) -> str:
        """The link-local address (first announced address)."""
        return self.addresses[0] if self.addresses else ""

    def to_neighbour(self, now: float, expires: float, wall: float) -> Neighbour:
        """The table entry to restore at setup.

        ``now`` is the table's clock, ``wall`` the Unix time at that moment.
        It counts as heard now (its away time starts again); it rejoins its
        name's group as of when it took the name, so the established holder
        of a name stays the holder across a restart.
        """
        named = now - (wall - self.named_since) if self.named_since else now
        return Neighbour(
            host_id=bytes.fromhex(self.host),
            name=self.name,
            addresses=tuple(self.addresses),
            model=self.model,
            os=self.os,
            software=self.software,
            boot_id=self.boot_id,
            seq=self.seq,
            ttl=self.ttl,
            first_seen=min(now, max(0.0, named)),
            last_seen=now,
            expires=expires,
            signed=self.signed,
            manufacturer=self.manufacturer,
        )


@functools.lru_cache(maxsize=4096)
def eui64_mac(link_local: str) -> str | None:
    """The MAC address an EUI-64 interface identifier was derived from."""
    try:
        packed = socket.inet_pton(socket.AF_INET6, link_local.split("%", 1)[0])
    except OSError:
        return None
    iid = packed[8:]
    if iid[3] != 0xFF or iid[4] != 0xFE:
        return None
    mac = bytes((iid[0] ^ 0x02, iid[1], iid[2], iid[5], iid[6], iid[7]))
    return ":".join(f"{b:02x}" for b in mac)


def with_zone(address: str, interface: str) -> str:
    """A link-local address with its zone (``fe80::1%eth0``), others as is."""
    try:
        link_local = ipaddress.IPv6Address(address).is_link_local
    except ValueError:
        return address  # IPv4, or already zoned
    return f"{address}%{interface}" if link_local else address


def interface_identifier(unique_id: str | None) -> tuple[str, str]:
    """The device identifier of an entry's interface (Home Assistant's side)."""
    return (DOMAIN, f"interface_{unique_id}")


def interface_device_info(
    unique_id: str | None, interface: str, own_name: str | None
) -> DeviceInfo:
    """Home Assistant on the interface: the name it announces and the listener.

    Its neighbours' devices are connected via this one.
    """
    return DeviceInfo(
        identifiers={interface_identifier(unique_id)},
        name=own_name or f"linkname {interface}",
        manufacturer=HA_MANUFACTURER,
        model=f"linkname on {interface}",
        sw_version=LINKNAME_VERSION,
        entry_type=DeviceEntryType.SERVICE,
    )


def neighbour_device_info(known: Known, via_device_id: str | None) -> DeviceInfo:
    """The device of a neighbour: identified by its host ID.

    The MAC connection (when the link-local address is EUI-64-derived) lets
    the device merge with the same host known to a router integration.
    """
    info = DeviceInfo(
        identifiers={(DOMAIN, known.host)},
        name=known.name,
        manufacturer=known.manufacturer,
        model=known.model,
        sw_version=" · ".join(p for p in (known.os, known.software) if p) or None,
    )
    if via_device_id is not None:  # listed under the interface's device
        info["via_device_id"] = via_device_id
    if mac := eui64_mac(known.link_local):
        info["connections"] = {(dr.CONNECTION_NETWORK_MAC, mac)}
    return info
