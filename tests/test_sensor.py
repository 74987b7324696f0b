"""Sensors: last seen per neighbour, neighbours online per interface.

Also: steady announcements write no state at all (the recorder stays quiet),
and after a restart known neighbours are back at once, still home.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_HOME, STATE_NOT_HOME
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.linkname.const import DOMAIN
from tests.conftest import HaLink, add_entry, wait_for

pytestmark = pytest.mark.netns

ONLINE = "sensor.linkname_eth0_neighbours_online"


def entity(hass: HomeAssistant, platform: str, unique_id: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)


async def test_last_seen_and_online_count(ha_link: HaLink, hass: HomeAssistant) -> None:
    """Arrival time while home; the count follows arrivals and goodbyes."""
    entry = await add_entry(hass)
    assert hass.states.get(ONLINE).state == "0"  # type: ignore[union-attr]
    before = dt_util.utcnow().replace(microsecond=0)
    a, b = ha_link.peer(1, "alpha"), ha_link.peer(2, "beta")
    a.announce()
    b.announce()
    await wait_for(lambda: hass.states.get(ONLINE).state == "2")  # type: ignore[union-attr]
    last_seen = entity(hass, "sensor", f"eth0_{a.host_id.hex()}_last_seen")
    assert last_seen == "sensor.alpha_last_seen"
    await wait_for(lambda: hass.states.get(last_seen) is not None)  # type: ignore[arg-type]
    value = datetime.fromisoformat(hass.states.get(last_seen).state)  # type: ignore[arg-type,union-attr]
    assert before <= value <= dt_util.utcnow()
    b.goodbye()
    await wait_for(lambda: hass.states.get(ONLINE).state == "1")  # type: ignore[union-attr]
    online = hass.states.get(ONLINE)
    assert online is not None
    assert online.attributes["state_class"] == "measurement"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_steady_announcements_write_no_state(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Re-announcing with nothing changed writes no state of any entity."""
    entry = await add_entry(hass)
    peer = ha_link.peer(1, "steady")
    peer.announce()
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.online_count() == 1)
    await hass.async_block_till_done()

    writes: list[Event] = []
    hass.bus.async_listen(EVENT_STATE_CHANGED, writes.append)
    for _ in range(20):
        peer.announce()
    await wait_for(lambda: coordinator.table.accepted >= 21)
    await hass.async_block_till_done()
    assert writes == []
    # A change users see (the name, an attribute of the tracker) is written.
    peer.name = "steady-2"
    peer.announce()
    await wait_for(lambda: len(writes) > 0)
    await hass.async_block_till_done()
    # The device's entities show the new name; nothing else is written.
    assert {e.data["entity_id"] for e in writes} == {
        "device_tracker.steady",
        "sensor.steady_last_seen",
    }
    await hass.config_entries.async_unload(entry.entry_id)


async def test_restart_restores_neighbours_home_at_once(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """After a restart the trackers exist before anyone announces, still home."""
    entry = await add_entry(hass)
    peer = ha_link.peer(1, "loyal")
    peer.announce()
    await wait_for(lambda: entry.runtime_data.online_count() == 1)
    await hass.async_block_till_done()
    tracker = "device_tracker.loyal"
    assert hass.states.get(tracker).state == STATE_HOME  # type: ignore[union-attr]

    # Unload saves the table; setting up again is what a restart does.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    await hass.async_block_till_done()
    state = hass.states.get(tracker)
    assert state is not None
    assert state.state == STATE_HOME  # not flipped to away by the restart
    # The startup QUERY reached the peer; its answer (or next announcement)
    # keeps it home; silence would eventually make it away.
    await peer.recv_type(3)  # QUERY
    peer.announce()
    await wait_for(lambda: entry.runtime_data.table.accepted >= 1)
    assert hass.states.get(tracker).state == STATE_HOME  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_restored_neighbour_goes_away_if_silent(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """A restored neighbour that never answers is away after its away time."""
    entry = await add_entry(hass, options={"away_after": 1})
    peer = ha_link.peer(1, "gone")
    peer.announce()
    await wait_for(lambda: entry.runtime_data.online_count() == 1)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("device_tracker.gone").state == STATE_HOME  # type: ignore[union-attr]
    async_fire_time_changed(hass)
    await wait_for(
        lambda: hass.states.get("device_tracker.gone").state == STATE_NOT_HOME,  # type: ignore[union-attr]
        limit=3,
    )
    await hass.config_entries.async_unload(entry.entry_id)
