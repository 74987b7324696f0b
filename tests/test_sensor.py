"""Sensors: "Online since" per neighbour, and the interface's own (no root)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    STATE_HOME,
    STATE_NOT_HOME,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.linkname.const import DOMAIN
from tests.conftest import Fake, add_entry, make_entry

ONLINE = "sensor.ha_test_neighbours_online"
ADDRESS = "sensor.ha_test_link_local_address"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def state(hass: HomeAssistant, entity_id: str) -> str:
    """The state of an entity that must exist."""
    found = hass.states.get(entity_id)
    assert found is not None, entity_id
    return found.state


async def test_online_since_and_online_count(
    fake: Fake, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Arrival time while home (not moved by re-announcements); unknown away."""
    freezer.move_to(START)
    await add_entry(hass)
    assert state(hass, ONLINE) == "0"
    online = hass.states.get(ONLINE)
    assert online is not None
    assert online.attributes["state_class"] == "measurement"
    assert online.attributes["unit_of_measurement"] == "neighbours"
    assert state(hass, ADDRESS) == "fe80::ee:1%eth0"
    a, b = fake.endpoint.peer(1, "alpha"), fake.endpoint.peer(2, "beta")
    a.announce()
    b.announce()
    await hass.async_block_till_done()
    assert state(hass, ONLINE) == "2"
    assert state(hass, "sensor.alpha_online_since") == START.isoformat()
    freezer.tick(timedelta(minutes=31))
    a.announce()  # still home: still online since START
    await hass.async_block_till_done()
    assert state(hass, "sensor.alpha_online_since") == START.isoformat()

    b.goodbye()
    await hass.async_block_till_done()
    assert state(hass, ONLINE) == "1"
    assert state(hass, "sensor.beta_online_since") == STATE_UNKNOWN
    departed = hass.states.get("device_tracker.beta")
    assert departed is not None
    assert departed.state == STATE_NOT_HOME
    assert departed.last_changed == START + timedelta(minutes=31)
    freezer.tick(timedelta(minutes=5))
    b.announce()  # a new presence period
    await hass.async_block_till_done()
    later = START + timedelta(minutes=36)
    assert state(hass, "sensor.beta_online_since") == later.isoformat()


async def test_steady_announcements_write_no_state(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Re-announcing with nothing changed writes no state of any entity."""
    entry = await add_entry(hass)
    peer = fake.endpoint.peer(1, "steady")
    peer.announce()
    await hass.async_block_till_done()
    writes: list[Event] = []
    hass.bus.async_listen(EVENT_STATE_CHANGED, writes.append)
    for _ in range(20):
        peer.announce()
    await hass.async_block_till_done()
    assert entry.runtime_data.table.accepted == 21
    assert writes == []
    # A change users see (the name, an attribute of the tracker) is written.
    peer.name = "steady-2"
    peer.announce()
    await hass.async_block_till_done()
    assert {e.data["entity_id"] for e in writes} == {
        "device_tracker.steady",
        "sensor.steady_online_since",
    }


async def test_restart_restores_neighbours_into_the_table(
    fake: Fake, hass: HomeAssistant
) -> None:
    """After a restart the trackers are home before anyone announces.

    The neighbours go back into the table (restore), so the table's expiry
    makes a silent one away, and its next announcement is a refresh.
    """
    entry = await add_entry(hass)
    loyal = fake.endpoint.peer(1, "loyal", ttl=60)
    gone = fake.endpoint.peer(2, "gone", ttl=60)
    loyal.announce()
    gone.announce()
    left = fake.endpoint.peer(3, "left")
    left.announce()
    left.goodbye()
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    endpoint = loyal.endpoint = fake.endpoint  # the peer talks to the new one
    assert state(hass, "device_tracker.loyal") == STATE_HOME
    assert state(hass, "device_tracker.gone") == STATE_HOME
    assert state(hass, "device_tracker.left") == STATE_NOT_HOME
    assert {n.name for n in endpoint.table} == {"loyal", "gone"}
    assert [type(e).__name__ for e in loyal.announce()] == ["Refreshed"]
    endpoint.advance(59)
    loyal.announce()
    endpoint.advance(2)
    await hass.async_block_till_done()
    assert state(hass, "device_tracker.loyal") == STATE_HOME
    assert state(hass, "device_tracker.gone") == STATE_NOT_HOME


async def test_old_last_seen_sensor_becomes_online_since(
    fake: Fake, hass: HomeAssistant
) -> None:
    """The registry entry of a "Last seen" sensor is kept, with the new key."""
    entry = make_entry()
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    old = registry.async_get_or_create(
        "sensor", DOMAIN, f"eth0_{'00' * 15}01_last_seen", config_entry=entry
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    migrated = registry.async_get(old.entity_id)
    assert migrated is not None
    assert migrated.unique_id == f"eth0_{'00' * 15}01_online_since"


async def test_sensor_snapshot(
    fake: Fake,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Entities and devices as core tests them (syrupy snapshots)."""
    freezer.move_to(START)
    with patch("custom_components.linkname.PLATFORMS", [Platform.SENSOR]):
        entry = await add_entry(hass)
        fake.endpoint.peer(
            0x0211_22FF_FE33_4455,
            "kitchen-pi",
            extra=("fd00::5",),
            attributes={"model": "Raspberry Pi 5", "os": "Debian 13"},
        ).announce()
        await hass.async_block_till_done()
        await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert sorted(devices, key=lambda d: d.name or "") == snapshot(name="devices")


async def test_many_restored_neighbours_come_back_in_chunks(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Restored and added a few per loop step (as at scale): none is lost."""
    entry = await add_entry(hass)
    peers = [fake.endpoint.peer(0x100 + n, f"host-{n:02d}") for n in range(23)]
    for peer in peers:
        peer.announce()
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    with (
        patch("custom_components.linkname.coordinator.RESTORE_CHUNK", 5),
        patch("custom_components.linkname.entity.ADD_CHUNK", 4),
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    trackers = hass.states.async_entity_ids("device_tracker")
    assert len(trackers) == 23
    assert {state(hass, t) for t in trackers} == {STATE_HOME}
    assert len(hass.states.async_entity_ids("sensor")) == 23 + 2
    assert len(fake.endpoint.table) == 23
