"""The linkname integration: names of the hosts on the local link (UDP 1903)."""

from __future__ import annotations

import logging

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .const import CONF_INTERFACE

_LOGGER = logging.getLogger(__name__)


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Set up linkname on the network interface of a config entry."""
    _LOGGER.debug("Setting up linkname on interface %s", entry.data[CONF_INTERFACE])
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Unload a config entry."""
    _LOGGER.debug("Unloading linkname on interface %s", entry.data[CONF_INTERFACE])
    return True
