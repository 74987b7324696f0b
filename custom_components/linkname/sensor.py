"""sensor platform: when each neighbour was last seen, and how many are online."""

from __future__ import annotations

from datetime import UTC, datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import (
    LinknameConfigEntry,
    LinknameCoordinator,
    signal_count,
    signal_new,
    signal_state,
)
from .entity import LinknameNeighbourEntity, async_add_in_chunks

PARALLEL_UPDATES = 0  # push only: nothing is polled


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LinknameConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the per-interface sensor and a last-seen sensor per neighbour."""
    coordinator = entry.runtime_data
    online = OnlineSensor(coordinator)

    @callback
    def add(host: str) -> None:
        async_add_entities([LastSeenSensor(coordinator, host)])

    async_add_entities([online])
    await async_add_in_chunks(
        async_add_entities,
        [LastSeenSensor(coordinator, host) for host in coordinator.known],
    )
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new(entry.entry_id), add)
    )


class LastSeenSensor(LinknameNeighbourEntity, SensorEntity):
    """When the neighbour arrived; once away, when it was last heard.

    Periodic announcements that change nothing do not move it, so the
    recorder writes nothing while a neighbour simply stays home.
    """

    _attr_translation_key = "last_seen"
    _attr_device_class = SensorDeviceClass.TIMESTAMP

    def __init__(self, coordinator: LinknameCoordinator, host: str) -> None:
        """Initialise the last-seen sensor of neighbour ``host``."""
        super().__init__(coordinator, host, "last_seen")

    @property
    def native_value(self) -> datetime | None:
        """The arrival time while home, the last announcement once away."""
        since = self.known.since
        return datetime.fromtimestamp(since, UTC) if since else None

    def visible(self) -> tuple[object, ...]:
        """Availability and the timestamp."""
        return (self.available, self.known.since)


class OnlineSensor(SensorEntity):
    """How many neighbours are home on this interface (diagnostic)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_translation_key = "online"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, coordinator: LinknameCoordinator) -> None:
        """Initialise the counter of the coordinator's interface."""
        self.coordinator = coordinator
        entry = coordinator.entry
        self._attr_unique_id = f"{entry.unique_id}_online"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"interface_{entry.unique_id}")},
            name=f"linkname {coordinator.interface}",
            entry_type=DeviceEntryType.SERVICE,
            model="linkname listener",
        )
        self._written: tuple[bool, int] | None = None

    @property
    def available(self) -> bool:
        """Unavailable while the interface is down."""
        return self.coordinator.available

    @property
    def native_value(self) -> int:
        """The number of neighbours home."""
        return self.coordinator.online_count()

    async def async_added_to_hass(self) -> None:
        """Follow the interface state and the count."""
        entry_id = self.coordinator.entry.entry_id
        for signal in (signal_state(entry_id), signal_count(entry_id)):
            self.async_on_remove(
                async_dispatcher_connect(self.hass, signal, self.handle_update)
            )
        self._written = (self.available, self.native_value)

    @callback
    def handle_update(self) -> None:
        """Write state only when the count or availability changed."""
        visible = (self.available, self.native_value)
        if visible != self._written:
            self._written = visible
            self.async_write_ha_state()
