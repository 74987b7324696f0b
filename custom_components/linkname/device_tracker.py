"""device_tracker platform: one tracker per neighbour, home while announced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeassistant.components.device_tracker.const import SourceType
from homeassistant.components.device_tracker.entity import BaseScannerEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import LinknameConfigEntry, LinknameCoordinator, signal_new
from .device import eui64_mac, with_zone
from .entity import LinknameNeighbourEntity, async_add_in_chunks

PARALLEL_UPDATES = 0  # push only: nothing is polled


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LinknameConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a tracker for every known neighbour, and for each new one live."""
    coordinator = entry.runtime_data

    @callback
    def add(host: str) -> None:
        async_add_entities([LinknameTracker(coordinator, host)])

    await async_add_in_chunks(
        async_add_entities,
        list(coordinator.known),
        lambda host: LinknameTracker(coordinator, host),
    )
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new(entry.entry_id), add)
    )


class LinknameTracker(LinknameNeighbourEntity, BaseScannerEntity):
    """Home while the neighbour announces itself; away on goodbye or silence."""

    _attr_name = None  # the device's name: the name the neighbour announces
    _attr_translation_key = "neighbour"
    _attr_source_type = SourceType.ROUTER
    _attr_entity_category = None  # type: ignore[assignment]  # presence is primary

    def __init__(self, coordinator: LinknameCoordinator, host: str) -> None:
        """Initialise the tracker of neighbour ``host``."""
        super().__init__(coordinator, host, "tracker")

    @property
    def is_connected(self) -> bool:
        """True while the neighbour is home."""
        return self.known.present

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Announced name, every announced address (link-local with its zone).

        They change rarely (a new address, a rename), so the recorder stays
        quiet; ``ip`` is the link-local address, ``mac`` the MAC address it
        was derived from, when it was.  While away, ``last_heard`` is when
        the neighbour was last heard (its last announcement or its goodbye).
        """
        known = self.known
        interface = self.coordinator.interface
        attributes: dict[str, Any] = {
            "host_name": known.name,
            "addresses": [with_zone(a, interface) for a in known.addresses],
        }
        if known.link_local:
            attributes["ip"] = with_zone(known.link_local, interface)
        if mac := eui64_mac(known.link_local):
            attributes["mac"] = mac
        if not known.present and known.last_heard:
            # Written with the departure (a state write anyway): while home,
            # the state itself says "heard within the away time".
            attributes["last_heard"] = datetime.fromtimestamp(known.last_heard, UTC)
        return attributes

    def visible(self) -> tuple[object, ...]:
        """Presence, availability and the attributes."""
        known = self.known
        return (self.available, known.present, known.name, tuple(known.addresses))
