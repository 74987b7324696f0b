"""device_tracker entities of neighbours, fed by real table events (no root)."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_HOME, STATE_NOT_HOME, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.linkname.const import CONF_AWAY_AFTER, CONF_TRACK_NEW, DOMAIN
from custom_components.linkname.coordinator import MAX_PER_NAME
from tests.conftest import Fake, add_entry


def tracker_id(hass: HomeAssistant, host: bytes) -> str | None:
    """The entity ID of a neighbour's tracker, from the entity registry."""
    return er.async_get(hass).async_get_entity_id(
        "device_tracker", DOMAIN, f"eth0_{host.hex()}_tracker"
    )


def state_of(hass: HomeAssistant, entity_id: str | None) -> str | None:
    """The state of ``entity_id`` (None when it has none)."""
    state = hass.states.get(entity_id) if entity_id else None
    return state.state if state else None


async def test_arrival_goodbye_attributes_and_device(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Home on the announcement, every address as an attribute, not_home on bye."""
    entry = await add_entry(hass)
    peer = fake.endpoint.peer(
        0x0211_22FF_FE33_4455,
        "kitchen-pi",
        extra=("2001:db8::5", "fd00::5", "192.0.2.5"),
        attributes={"model": "Raspberry Pi 5", "os": "Debian 13", "software": "x 1"},
    )
    peer.announce()
    await hass.async_block_till_done()
    entity_id = tracker_id(hass, peer.host_id)
    assert entity_id == "device_tracker.kitchen_pi"
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_HOME
    assert state.attributes["source_type"] == "router"
    assert state.attributes["host_name"] == "kitchen-pi"
    assert state.attributes["ip"] == f"{peer.address}%eth0"
    assert state.attributes["addresses"] == [
        f"{peer.address}%eth0",
        "2001:db8::5",
        "fd00::5",
        "192.0.2.5",
    ]
    # fe80::211:22ff:fe33:4455 is EUI-64: MAC 00:11:22:33:44:55.
    assert state.attributes["mac"] == "00:11:22:33:44:55"
    registry = dr.async_get(hass)
    device = registry.async_get_device_by_identifier(
        (DOMAIN, peer.host_id.hex()), entry.entry_id
    )
    assert device is not None
    assert device.name == "kitchen-pi"
    assert device.model == "Raspberry Pi 5"
    assert device.sw_version == "Debian 13 · x 1"
    assert device.manufacturer is None  # none announced (not "<unknown>")
    assert (dr.CONNECTION_NETWORK_MAC, "00:11:22:33:44:55") in device.connections
    own = registry.async_get_device_by_identifier(
        (DOMAIN, "interface_eth0"), entry.entry_id
    )
    assert own is not None
    assert device.via_device_id == own.id  # listed under the interface's device
    assert own.name == "ha-test"
    assert own.manufacturer == "Home Assistant"
    assert own.sw_version

    assert "last_heard" not in state.attributes  # home: heard within the away time

    before = dt_util.utcnow()
    peer.goodbye()
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_NOT_HOME
    assert before <= state.attributes["last_heard"] <= dt_util.utcnow()


async def test_last_heard_after_silence_is_the_last_announcement(
    fake: Fake, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Silent: away once the away time passed; last heard is before that."""
    await add_entry(hass)
    peer = fake.endpoint.peer(5, "silent", ttl=30)
    peer.announce()
    await hass.async_block_till_done()
    entity_id = tracker_id(hass, peer.host_id)
    heard = dt_util.utcnow()
    freezer.tick(31)
    fake.endpoint.advance(31)
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)  # type: ignore[arg-type]
    assert state is not None
    assert state.state == STATE_NOT_HOME
    assert state.attributes["last_heard"] == heard
    assert state.last_changed == heard + timedelta(seconds=31)
    peer.announce()  # back: the attribute goes with the same state write
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)  # type: ignore[arg-type]
    assert state is not None
    assert state.state == STATE_HOME
    assert "last_heard" not in state.attributes


async def test_silence_means_away_after_ttl_not_before(
    fake: Fake, hass: HomeAssistant
) -> None:
    """The table's own expiry (Left "expired") makes a silent neighbour away."""
    await add_entry(hass)
    peer = fake.endpoint.peer(2, "sleepy", ttl=30)
    peer.announce()
    await hass.async_block_till_done()
    entity_id = tracker_id(hass, peer.host_id)
    fake.endpoint.advance(29)
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_HOME
    peer.announce()  # heard again: another full TTL
    fake.endpoint.advance(29)
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_HOME
    events = fake.endpoint.advance(2)
    await hass.async_block_till_done()
    assert [type(e).__name__ for e in events] == ["Left"]
    assert state_of(hass, entity_id) == STATE_NOT_HOME
    peer.announce()  # back: home again, the same entity
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_HOME


async def test_away_after_option_overrides_ttl(fake: Fake, hass: HomeAssistant) -> None:
    """With "away after" set, that time counts, not the announced TTL."""
    await add_entry(hass, options={CONF_AWAY_AFTER: 60})
    peer = fake.endpoint.peer(3, "short", ttl=600)
    peer.announce()
    await hass.async_block_till_done()
    entity_id = tracker_id(hass, peer.host_id)
    fake.endpoint.advance(59)
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_HOME
    fake.endpoint.advance(2)
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_NOT_HOME


async def test_rename_and_new_address_keep_entity_and_device(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Same host ID: the same device and entity, renamed, never a _2."""
    entry = await add_entry(hass)
    peer = fake.endpoint.peer(4, "old-name")
    peer.announce()
    await hass.async_block_till_done()
    entity_id = tracker_id(hass, peer.host_id)
    peer.name = "new-name"
    peer.extra = ("fd00::44", "192.0.2.44")
    peer.announce()
    await hass.async_block_till_done()
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, peer.host_id.hex()), entry.entry_id
    )
    assert device is not None
    assert device.name == "new-name"
    assert tracker_id(hass, peer.host_id) == entity_id
    state = hass.states.get(entity_id)  # type: ignore[arg-type]
    assert state is not None
    assert state.attributes["host_name"] == "new-name"
    assert state.attributes["addresses"][1:] == ["fd00::44", "192.0.2.44"]
    assert state.name == "new-name"
    assert len(hass.states.async_entity_ids("device_tracker")) == 1


async def test_track_new_off_creates_disabled_entities(
    fake: Fake, hass: HomeAssistant
) -> None:
    """With tracking of new neighbours off, their entities start disabled."""
    await add_entry(hass, options={CONF_TRACK_NEW: False})
    peer = fake.endpoint.peer(5, "guest")
    peer.announce()
    await hass.async_block_till_done()
    entity = er.async_get(hass).async_get(tracker_id(hass, peer.host_id))  # type: ignore[arg-type]
    assert entity is not None
    assert entity.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_interface_down_makes_entities_unavailable_then_recovers(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Link down: unavailable and a repair issue; back: recovered, issue gone."""
    entry = await add_entry(hass)
    peer = fake.endpoint.peer(6, "steady")
    peer.announce()
    await hass.async_block_till_done()
    entity_id = tracker_id(hass, peer.host_id)
    issues = ir.async_get(hass)

    fake.endpoint.set_state("down")
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_UNAVAILABLE
    issue = issues.async_get_issue(DOMAIN, f"interface_down_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"interface": "eth0"}
    fake.endpoint.set_state("up")
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_HOME
    assert issues.async_get_issue(DOMAIN, f"interface_down_{entry.entry_id}") is None


async def test_neighbours_kept_are_bounded_by_the_table_size(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Short-TTL floods leave the table; HA's neighbours still stop at its size."""
    entry = await add_entry(hass, options={"capacity": 16})
    coordinator = entry.runtime_data
    endpoint = fake.endpoint

    def flood(first: int, count: int) -> None:
        for n in range(first, first + count):
            # One source per peer: the per-source rate limit is not the point.
            endpoint.peer(0x1000 + n, f"flood{n}", ttl=1).announce()

    flood(0, 16)
    await hass.async_block_till_done()
    assert len(coordinator.known) == 16
    endpoint.advance(2)  # TTL 1 s: the table is empty again
    assert len(coordinator.table) == 0
    flood(16, 8)
    await hass.async_block_till_done()
    assert coordinator.not_tracked == 8
    assert len(coordinator.known) == 16
    assert len(hass.states.async_entity_ids("device_tracker")) == 16
    assert coordinator.diagnostics()["not_tracked"] == 8


async def test_manufacturer_comes_from_the_announcement(
    fake: Fake, hass: HomeAssistant
) -> None:
    """The MANUFACTURER TLV is the device's manufacturer; it follows changes."""
    entry = await add_entry(hass)
    peer = fake.endpoint.peer(
        7, "maker", attributes={"manufacturer": "Raspberry Pi Ltd", "model": "Pi 5"}
    )
    peer.announce()
    await hass.async_block_till_done()
    registry = dr.async_get(hass)

    def device() -> dr.DeviceEntry:
        found = registry.async_get_device_by_identifier(
            (DOMAIN, peer.host_id.hex()), entry.entry_id
        )
        assert found is not None
        return found

    assert (device().manufacturer, device().model) == ("Raspberry Pi Ltd", "Pi 5")
    peer.attributes = {"model": "Pi 5"}  # no longer announced
    peer.announce()
    await hass.async_block_till_done()
    assert device().manufacturer is None


async def test_a_name_gets_at_most_max_per_name_devices(
    fake: Fake, hass: HomeAssistant
) -> None:
    """A same-name flood (issue 9) makes a few devices, not one per host ID.

    The table keeps every host (its conflict bookkeeping is per name); Home
    Assistant tracks MAX_PER_NAME of them, counts the rest, and takes the
    next one when a tracked one is forgotten or renames away.
    """
    entry = await add_entry(hass)
    coordinator = entry.runtime_data
    spellings = ["dup", "DUP", "Dup", "dUp", "duP", "DUp", "DuP", "dUP"]
    peers = [fake.endpoint.peer(0x100 + n, spellings[n % 8]) for n in range(12)]
    for peer in peers:
        peer.announce()
    await hass.async_block_till_done()
    tracked = [p for p in peers if tracker_id(hass, p.host_id)]
    assert tracked == peers[:MAX_PER_NAME]
    assert len(fake.endpoint.table) == 12
    assert coordinator.not_tracked_same_name == 12 - MAX_PER_NAME
    assert len(
        dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    ) == (
        1 + MAX_PER_NAME  # the interface's own device and the tracked ones
    )
    # Forgetting one frees its place for the next host heard with the name.
    coordinator.forget(peers[0].host_id.hex())
    peers[MAX_PER_NAME].announce()
    # A tracked one that renames away frees another place.
    peers[1].name = "elsewhere"
    peers[1].announce()
    peers[MAX_PER_NAME + 1].announce()
    peers[MAX_PER_NAME + 2].announce()
    await hass.async_block_till_done()
    assert tracker_id(hass, peers[MAX_PER_NAME].host_id)
    assert tracker_id(hass, peers[MAX_PER_NAME + 1].host_id)
    assert not tracker_id(hass, peers[MAX_PER_NAME + 2].host_id)
    assert coordinator.diagnostics()["not_tracked_same_name"] == 12 - MAX_PER_NAME + 1
