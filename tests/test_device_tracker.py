"""device_tracker entities of neighbours, driven by a real peer on a real link."""

from __future__ import annotations

import time

import pytest
from homeassistant.const import STATE_HOME, STATE_NOT_HOME, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from custom_components.linkname.const import CONF_AWAY_AFTER, CONF_TRACK_NEW, DOMAIN
from tests.conftest import HaLink, add_entry, wait_for

pytestmark = pytest.mark.netns


def tracker_id(hass: HomeAssistant, entry_id: str, host: bytes) -> str | None:
    """The entity ID of a neighbour's tracker, from the entity registry."""
    return er.async_get(hass).async_get_entity_id(
        "device_tracker", DOMAIN, f"eth0_{host.hex()}_tracker"
    )


def state_of(hass: HomeAssistant, entity_id: str | None) -> str | None:
    if entity_id is None:
        return None
    state = hass.states.get(entity_id)
    return state.state if state else None


async def test_arrival_goodbye_and_attributes(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Home within milliseconds of the announcement, not_home on goodbye."""
    entry_id = (await add_entry(hass)).entry_id
    peer = ha_link.peer(1, "kitchen-pi")
    sent = time.monotonic()
    peer.announce(model="Raspberry Pi 5", os="Debian 13", software="linkname 0.1.0")
    await wait_for(
        lambda: state_of(hass, tracker_id(hass, entry_id, peer.host_id)) == STATE_HOME
    )
    arrival = time.monotonic() - sent
    assert arrival < 1.0
    entity_id = tracker_id(hass, entry_id, peer.host_id)
    assert entity_id == "device_tracker.kitchen_pi"
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.attributes["source_type"] == "router"
    assert state.attributes["ip"] == f"{peer.address}%eth0"
    assert state.attributes["host_name"] == "kitchen-pi"
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, peer.host_id.hex()), entry_id
    )
    assert device is not None
    assert device.name == "kitchen-pi"
    assert device.model == "Raspberry Pi 5"
    assert device.sw_version == "Debian 13 · linkname 0.1.0"
    # veth link-local addresses are EUI-64: the MAC is known and connected.
    mac = state.attributes["mac"]
    assert (dr.CONNECTION_NETWORK_MAC, mac) in device.connections
    link = ha_link.other.ip("-j", "link", "show", "eth0").stdout
    assert mac in link

    sent = time.monotonic()
    peer.goodbye()
    await wait_for(lambda: state_of(hass, entity_id) == STATE_NOT_HOME)
    assert time.monotonic() - sent < 1.0


async def test_silence_means_away_after_ttl_not_before(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """A neighbour that stops announcing is away once its TTL has passed."""
    entry_id = (await add_entry(hass)).entry_id
    peer = ha_link.peer(2, "sleepy")
    peer.announce(ttl=2)
    await wait_for(
        lambda: state_of(hass, tracker_id(hass, entry_id, peer.host_id)) == STATE_HOME
    )
    heard = time.monotonic()
    entity_id = tracker_id(hass, entry_id, peer.host_id)
    await wait_for(lambda: state_of(hass, entity_id) == STATE_NOT_HOME, limit=5)
    waited = time.monotonic() - heard
    assert 1.8 <= waited < 3.5


async def test_away_after_option_overrides_ttl(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """With "away after" set, that time counts, not the announced TTL."""
    entry_id = (await add_entry(hass, options={CONF_AWAY_AFTER: 1})).entry_id
    peer = ha_link.peer(3, "short")
    peer.announce(ttl=600)
    await wait_for(
        lambda: state_of(hass, tracker_id(hass, entry_id, peer.host_id)) == STATE_HOME
    )
    entity_id = tracker_id(hass, entry_id, peer.host_id)
    await wait_for(lambda: state_of(hass, entity_id) == STATE_NOT_HOME, limit=3)


async def test_rename_and_new_address_keep_entity_and_device(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Same host ID: the same device and entity, renamed, never a _2."""
    entry_id = (await add_entry(hass)).entry_id
    peer = ha_link.peer(4, "old-name")
    peer.announce()
    await wait_for(lambda: tracker_id(hass, entry_id, peer.host_id) is not None)
    entity_id = tracker_id(hass, entry_id, peer.host_id)
    await wait_for(lambda: state_of(hass, entity_id) == STATE_HOME)
    peer.name = "new-name"
    peer.announce(addresses=(peer.address, "fd00::44", "192.0.2.44"))
    registry = dr.async_get(hass)
    await wait_for(
        lambda: (
            (
                d := registry.async_get_device_by_identifier(
                    (DOMAIN, peer.host_id.hex()), entry_id
                )
            )
            is not None
            and d.name == "new-name"
        )
    )
    await hass.async_block_till_done()
    assert tracker_id(hass, entry_id, peer.host_id) == entity_id
    state = hass.states.get(entity_id)  # type: ignore[arg-type]
    assert state is not None
    assert state.attributes["host_name"] == "new-name"
    assert state.name == "new-name"
    assert len(er.async_entries_for_config_entry(er.async_get(hass), entry_id)) == 3
    assert len(hass.states.async_entity_ids("device_tracker")) == 1


async def test_track_new_off_creates_disabled_entities(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """With tracking of new neighbours off, their entities start disabled."""
    entry_id = (await add_entry(hass, options={CONF_TRACK_NEW: False})).entry_id
    peer = ha_link.peer(5, "guest")
    peer.announce()
    await wait_for(lambda: tracker_id(hass, entry_id, peer.host_id) is not None)
    entity = er.async_get(hass).async_get(tracker_id(hass, entry_id, peer.host_id))  # type: ignore[arg-type]
    assert entity is not None
    assert entity.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_interface_down_makes_entities_unavailable_then_recovers(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Link down: unavailable and a repair issue; back: recovered, issue gone."""
    from homeassistant.helpers import issue_registry as ir

    entry_id = (await add_entry(hass)).entry_id
    peer = ha_link.peer(6, "steady")
    peer.announce()
    await wait_for(lambda: tracker_id(hass, entry_id, peer.host_id) is not None)
    entity_id = tracker_id(hass, entry_id, peer.host_id)
    await wait_for(lambda: state_of(hass, entity_id) == STATE_HOME)
    issues = ir.async_get(hass)

    ha_link.ha.set_link("eth0", up=False)
    await wait_for(lambda: state_of(hass, entity_id) == STATE_UNAVAILABLE, limit=5)
    assert issues.async_get_issue(DOMAIN, f"interface_down_{entry_id}") is not None
    ha_link.ha.set_link("eth0", up=True)
    ha_link.ha.link_local("eth0")
    await wait_for(lambda: state_of(hass, entity_id) != STATE_UNAVAILABLE, limit=8)
    assert issues.async_get_issue(DOMAIN, f"interface_down_{entry_id}") is None
    peer.announce()
    await wait_for(lambda: state_of(hass, entity_id) == STATE_HOME)


async def test_neighbours_kept_are_bounded_by_the_table_size(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Short-TTL floods leave the table; HA's neighbours still stop at its size."""
    entry_id = (await add_entry(hass, options={"capacity": 16})).entry_id
    coordinator = hass.config_entries.async_get_entry(entry_id).runtime_data  # type: ignore[union-attr]
    sources = [ha_link.other.link_local("eth0")]
    for extra in ("fe80::f0", "fe80::f1"):
        ha_link.other.ip("addr", "add", f"{extra}/64", "dev", "eth0", "nodad")
        sources.append(extra)

    def flood(first: int, count: int, source: str) -> None:
        for n in range(first, first + count):
            peer = ha_link.peer(1000 + n, f"flood{n}")
            peer.address = source
            peer.announce(ttl=1)

    flood(0, 8, sources[0])
    flood(8, 8, sources[1])
    await wait_for(lambda: len(coordinator.known) == 16)
    await wait_for(lambda: len(coordinator.table) == 0, limit=3)  # TTL 1 s
    flood(16, 8, sources[2])
    await wait_for(lambda: coordinator.not_tracked == 8)
    await hass.async_block_till_done()
    assert len(coordinator.known) == 16
    assert len(hass.states.async_entity_ids("device_tracker")) == 16
    assert coordinator.diagnostics()["not_tracked"] == 8
