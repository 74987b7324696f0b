"""Base entity of a linkname neighbour: one device per host ID."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from itertools import batched

from homeassistant.core import callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import LinknameCoordinator, signal_state, signal_update
from .device import Known, neighbour_device_info

ADD_CHUNK = 5  # entities added per step of the event loop


async def async_add_in_chunks[T](
    async_add_entities: AddConfigEntryEntitiesCallback,
    items: Iterable[T],
    make: Callable[[T], Entity],
) -> None:
    """Make and add many entities, yielding to the event loop between chunks.

    Home Assistant adds the entities of one call without yielding (its add
    tasks start eagerly); 2,000 restored entities in one call held the loop
    for about half a second.  The entities are made chunk by chunk too:
    making all 1,000 of a platform first took 25-30 ms in one step.
    """
    for start, chunk in enumerate(batched(items, ADD_CHUNK, strict=False)):
        if start:
            await asyncio.sleep(0)
        async_add_entities([make(item) for item in chunk])


class LinknameNeighbourEntity(Entity):
    """An entity of one neighbour, updated by push from the coordinator."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, coordinator: LinknameCoordinator, host: str, key: str) -> None:
        """Initialise for the neighbour with host ID ``host`` (hex)."""
        self.coordinator = coordinator
        self.host = host
        self._attr_unique_id = f"{coordinator.entry.unique_id}_{host}_{key}"
        self._attr_device_info = neighbour_device_info(
            coordinator.known[host], coordinator.interface_device_id
        )
        self._attr_entity_registry_enabled_default = coordinator.track_new
        self._written: tuple[object, ...] | None = None

    @property
    def known(self) -> Known:
        """The neighbour as the coordinator knows it."""
        return self.coordinator.known[self.host]

    @property
    def available(self) -> bool:
        """Unavailable while the interface is down or the neighbour forgotten."""
        return self.coordinator.available and self.host in self.coordinator.known

    def visible(self) -> tuple[object, ...]:
        """What this entity shows; state is written only when it changes."""
        return (self.available,)

    async def async_added_to_hass(self) -> None:
        """Subscribe to this neighbour's updates and to the interface state."""
        entry_id = self.coordinator.entry.entry_id
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_update(entry_id, self.host), self._handle_update
            )
        )
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_state(entry_id), self._handle_update
            )
        )
        self._written = self.visible()

    @callback
    def _handle_update(self) -> None:
        if self.host not in self.coordinator.known:
            return
        visible = self.visible()
        if visible != self._written:
            self._written = visible
            self.async_write_ha_state()
