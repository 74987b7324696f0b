"""The linkname integration: presence of the hosts on the local link (UDP 1903).

One config entry per network interface.  Each entry runs a coordinator that
listens on ff02::1:1 port 1903, tracks the neighbours that announce
themselves, and announces Home Assistant's own name.
"""

from __future__ import annotations

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from . import repairs
from .const import DOMAIN, STORAGE_VERSION
from .coordinator import LinknameConfigEntry, LinknameCoordinator
from .device import interface_identifier
from .services import async_setup_services

PLATFORMS = [Platform.DEVICE_TRACKER, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (once, whatever the entries)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: LinknameConfigEntry) -> bool:
    """Start listening and announcing on the entry's interface."""
    await er.async_migrate_entries(hass, entry.entry_id, _migrate_unique_id)
    coordinator = LinknameCoordinator(hass, entry)
    await coordinator.async_setup()
    entry.runtime_data = coordinator

    async def _on_stop(_: Event) -> None:
        await coordinator.async_shutdown()  # goodbye when Home Assistant stops

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _on_stop)
    )
    # Options and reconfiguration apply live: no reload, no Unavailable.
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: LinknameConfigEntry) -> bool:
    """Say goodbye, close the socket and stop everything of the entry."""
    unload_ok = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unload_ok:
        await entry.runtime_data.async_shutdown()
    return unload_ok


async def async_remove_entry(hass: HomeAssistant, entry: LinknameConfigEntry) -> None:
    """The entry is deleted: delete its stored neighbour table and repairs."""
    await Store[dict[str, object]](
        hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
    ).async_remove()
    repairs.async_clear_all(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: LinknameConfigEntry, device_entry: DeviceEntry
) -> bool:
    """Let the user delete a neighbour's device (not the interface's own)."""
    own = interface_identifier(entry.unique_id)
    hosts = [value for domain, value in device_entry.identifiers if domain == DOMAIN]
    if not hosts or own in device_entry.identifiers:
        return False
    for host in hosts:
        entry.runtime_data.forget(host)
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: LinknameConfigEntry) -> None:
    """Options saved or entry reconfigured: apply it to the running entry."""
    await entry.runtime_data.async_apply_entry()


@callback
def _migrate_unique_id(entity: er.RegistryEntry) -> dict[str, str] | None:
    """The "Last seen" sensor became "Online since" (same entity, new key)."""
    if entity.unique_id.endswith("_last_seen"):
        return {
            "new_unique_id": entity.unique_id.removesuffix("_last_seen")
            + "_online_since"
        }
    return None
