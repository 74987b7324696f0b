"""Diagnostics downloads: the entry's (socket, counters, table) and a neighbour's.

Redacted, so that a user can paste them into a public issue: the shared key,
every address (IPv6 and IPv4), host IDs, MAC addresses and the name Home
Assistant announces.  Counters and the structure stay, and so do the
neighbours' names: without them nobody could tell which entry is which.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import CONF_HOST_ID, CONF_KEY, CONF_NAME, DOMAIN
from .coordinator import LinknameConfigEntry

ENTRY_TO_REDACT = {CONF_KEY, CONF_HOST_ID, CONF_NAME}
TO_REDACT = {"announced_name", "host", "addresses", "source", "mac", "ip"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: LinknameConfigEntry
) -> dict[str, Any]:
    """The entry, its socket, counters and neighbours, redacted."""
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), ENTRY_TO_REDACT),
            "options": dict(entry.options),
        },
        "runtime": async_redact_data(entry.runtime_data.diagnostics(), TO_REDACT),
    }


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: LinknameConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """One neighbour (or, for the interface's device, the entry), redacted."""
    coordinator = entry.runtime_data
    hosts = [
        value
        for domain, value in device.identifiers
        if domain == DOMAIN and value in coordinator.known
    ]
    if not hosts:
        return await async_get_config_entry_diagnostics(hass, entry)
    return async_redact_data(
        {
            "interface": coordinator.interface,
            "available": coordinator.available,
            "neighbour": coordinator.neighbour_diagnostics(hosts[0]),
        },
        TO_REDACT,
    )
