"""sensor platform: since when each neighbour is online; the interface's own."""

from __future__ import annotations

from datetime import UTC, datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import (
    LinknameConfigEntry,
    LinknameCoordinator,
    signal_count,
    signal_new,
    signal_state,
)
from .device import interface_identifier, with_zone
from .entity import LinknameNeighbourEntity, async_add_in_chunks

PARALLEL_UPDATES = 0  # push only: nothing is polled


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LinknameConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the interface's sensors and an "Online since" sensor per neighbour."""
    coordinator = entry.runtime_data

    @callback
    def add(host: str) -> None:
        async_add_entities([OnlineSinceSensor(coordinator, host)])

    async_add_entities([OnlineSensor(coordinator), AddressSensor(coordinator)])
    await async_add_in_chunks(
        async_add_entities,
        list(coordinator.known),
        lambda host: OnlineSinceSensor(coordinator, host),
    )
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new(entry.entry_id), add)
    )


class OnlineSinceSensor(LinknameNeighbourEntity, SensorEntity):
    """When the neighbour's current presence began; unknown while away.

    Re-announcements do not move it, so the recorder writes nothing while a
    neighbour simply stays home.  When it left is the tracker's last change.
    """

    _attr_translation_key = "online_since"
    _attr_device_class = SensorDeviceClass.TIMESTAMP

    def __init__(self, coordinator: LinknameCoordinator, host: str) -> None:
        """Initialise the "Online since" sensor of neighbour ``host``."""
        super().__init__(coordinator, host, "online_since")

    @property
    def native_value(self) -> datetime | None:
        """The arrival time while home; None (unknown) while away."""
        known = self.known
        if not known.present or not known.since:
            return None
        return datetime.fromtimestamp(known.since, UTC)

    def visible(self) -> tuple[object, ...]:
        """Availability and the timestamp."""
        known = self.known
        return (self.available, known.present and known.since)


class LinknameInterfaceEntity(Entity):
    """An entity of Home Assistant's own device on the interface."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: LinknameCoordinator, key: str) -> None:
        """Initialise for the coordinator's interface."""
        self.coordinator = coordinator
        entry = coordinator.entry
        self._attr_unique_id = f"{entry.unique_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={interface_identifier(entry.unique_id)}
        )
        self._written: tuple[object, ...] | None = None

    @property
    def available(self) -> bool:
        """Unavailable while the interface is down."""
        return self.coordinator.available

    def visible(self) -> tuple[object, ...]:
        """What this entity shows; state is written only when it changes."""
        return (self.available,)

    def signals(self) -> tuple[str, ...]:
        """The dispatcher signals this entity follows."""
        return (signal_state(self.coordinator.entry.entry_id),)

    async def async_added_to_hass(self) -> None:
        """Follow the interface state (and what else ``signals`` names)."""
        for signal in self.signals():
            self.async_on_remove(
                async_dispatcher_connect(self.hass, signal, self.handle_update)
            )
        self._written = self.visible()

    @callback
    def handle_update(self) -> None:
        """Write state only when what it shows changed."""
        visible = self.visible()
        if visible != self._written:
            self._written = visible
            self.async_write_ha_state()


class OnlineSensor(LinknameInterfaceEntity, SensorEntity):
    """How many neighbours are home on this interface (diagnostic)."""

    _attr_translation_key = "online"
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, coordinator: LinknameCoordinator) -> None:
        """Initialise the counter of the coordinator's interface."""
        super().__init__(coordinator, "online")

    @property
    def native_value(self) -> int:
        """The number of neighbours home."""
        return self.coordinator.online_count()

    def visible(self) -> tuple[object, ...]:
        """Availability and the count."""
        return (self.available, self.native_value)

    def signals(self) -> tuple[str, ...]:
        """The interface state and the count."""
        return (*super().signals(), signal_count(self.coordinator.entry.entry_id))


class AddressSensor(LinknameInterfaceEntity, SensorEntity):
    """Home Assistant's link-local address on the interface (with its zone)."""

    _attr_translation_key = "address"

    def __init__(self, coordinator: LinknameCoordinator) -> None:
        """Initialise the address sensor of the coordinator's interface."""
        super().__init__(coordinator, "address")

    @property
    def native_value(self) -> str | None:
        """The source address of Home Assistant's announcements, while up."""
        source = self.coordinator.endpoint.source
        return with_zone(source, self.coordinator.interface) if source else None

    def visible(self) -> tuple[object, ...]:
        """Availability and the address."""
        return (self.available, self.native_value)
