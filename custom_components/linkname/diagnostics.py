"""Diagnostics download: neighbour table, rejection counters, socket state."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_KEY
from .coordinator import LinknameConfigEntry

TO_REDACT = {CONF_KEY}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: LinknameConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry (the shared key redacted)."""
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "runtime": entry.runtime_data.diagnostics(),
    }
