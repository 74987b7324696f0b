"""A neighbour as Home Assistant knows it, and its device."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo

from .const import DOMAIN
from .protocol.table import Neighbour


@dataclass(slots=True)
class Known:
    """What Home Assistant knows about one neighbour (persisted).

    Times are Unix timestamps: they must survive a restart.  ``since`` is
    when the neighbour last arrived (or, once away, when it was last heard):
    the "last seen" sensor shows it, so a steady stream of announcements
    writes no state.
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

    def update_from(self, neighbour: Neighbour) -> bool:
        """Take what the neighbour announces; True when anything changed."""
        before = self._announced()
        self.name = neighbour.name
        self.addresses = list(neighbour.addresses)
        self.model = neighbour.model
        self.os = neighbour.os
        self.software = neighbour.software
        self.ttl = neighbour.ttl
        self.signed = neighbour.signed
        return self._announced() != before

    def _announced(self) -> tuple[object, ...]:
        return (
            self.name,
            self.addresses,
            self.model,
            self.os,
            self.software,
            self.ttl,
            self.signed,
        )

    @property
    def link_local(self) -> str:
        """The link-local address (first announced address)."""
        return self.addresses[0] if self.addresses else ""


def eui64_mac(link_local: str) -> str | None:
    """The MAC address an EUI-64 interface identifier was derived from."""
    try:
        packed = ipaddress.IPv6Address(link_local.split("%", 1)[0]).packed
    except ValueError:
        return None
    iid = packed[8:]
    if iid[3] != 0xFF or iid[4] != 0xFE:
        return None
    mac = bytes((iid[0] ^ 0x02, iid[1], iid[2], iid[5], iid[6], iid[7]))
    return ":".join(f"{b:02x}" for b in mac)


def neighbour_device_info(known: Known) -> DeviceInfo:
    """The device of a neighbour: identified by its host ID.

    The MAC connection (when the link-local address is EUI-64-derived) lets
    the device merge with the same host known to a router integration.
    """
    info = DeviceInfo(
        identifiers={(DOMAIN, known.host)},
        name=known.name,
        model=known.model,
        sw_version=" · ".join(p for p in (known.os, known.software) if p) or None,
    )
    if mac := eui64_mac(known.link_local):
        info["connections"] = {(dr.CONNECTION_NETWORK_MAC, mac)}
    return info
