"""Setting up, unloading and failing: the integration on a real IPv6 link."""

from __future__ import annotations

import socket

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.loader import async_get_integration

from custom_components.linkname import async_remove_config_entry_device
from custom_components.linkname.const import DOMAIN
from custom_components.linkname.protocol import netif
from custom_components.linkname.protocol.const import ANNOUNCE, GOODBYE, QUERY
from tests.conftest import HA_HOST_ID, HaLink, add_entry, wait_for
from tests.peer import Peer

pytestmark = pytest.mark.netns


async def test_integration_is_the_custom_one(hass: HomeAssistant) -> None:
    """HA resolves the domain to this repository's custom integration."""
    integration = await async_get_integration(hass, DOMAIN)

    assert not integration.is_built_in
    assert integration.config_flow
    assert integration.dependencies == ["network"]
    assert integration.has_branding


async def test_setup_announces_and_unload_says_goodbye(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Setup: a QUERY for everyone, then HA's name; unload: the goodbye."""
    peer = ha_link.peer(1, "pi")
    entry = await add_entry(hass, name="ha-test")
    assert entry.state is ConfigEntryState.LOADED

    query, _, _ = await peer.recv_type(QUERY)
    assert query.query_name is None
    assert query.host_id == HA_HOST_ID
    announce, meta, _ = await peer.recv_type(ANNOUNCE)
    assert announce.name == "ha-test"
    assert announce.host_id == HA_HOST_ID
    assert announce.addresses[0] == meta.source
    assert meta.hop_limit == 255
    assert announce.software
    assert announce.software.startswith("Home Assistant")

    coordinator = entry.runtime_data
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    bye, _, _ = await peer.recv_type(GOODBYE)
    assert bye.host_id == HA_HOST_ID
    assert not coordinator.endpoint.running


async def test_own_announcements_are_not_neighbours(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """HA hears its own looped-back announcements and ignores them."""
    entry = await add_entry(hass)
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.table.looped >= 1)
    assert coordinator.known == {}
    assert hass.states.async_entity_ids("device_tracker") == []
    await hass.config_entries.async_unload(entry.entry_id)


async def test_missing_interface_is_not_ready(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """An interface that does not exist: setup retries, with a translated reason."""
    entry = await add_entry(hass, interface="nosuch0")
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "nosuch0" in entry.reason


async def test_port_held_exclusively_gives_repair_issue(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Another program holds UDP 1903 without SO_REUSEADDR: retry plus a repair."""
    blocker = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    blocker.bind(("::", 1903))
    try:
        entry = await add_entry(hass)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        issue = ir.async_get(hass).async_get_issue(
            DOMAIN, f"port_in_use_{entry.entry_id}"
        )
        assert issue is not None
        assert issue.translation_key == "port_in_use"
    finally:
        blocker.close()
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}")
        is None
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_user_can_delete_a_neighbour_device_not_the_interface(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Stale devices: deleting a neighbour's device forgets it."""
    entry = await add_entry(hass)
    peer = ha_link.peer(1, "pi")
    peer.announce()
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.known)
    await hass.async_block_till_done()
    registry = dr.async_get(hass)
    host = peer.host_id.hex()
    device = registry.async_get_device_by_identifier((DOMAIN, host), entry.entry_id)
    interface = registry.async_get_device_by_identifier(
        (DOMAIN, "interface_eth0"), entry.entry_id
    )
    assert device is not None
    assert interface is not None

    assert not await async_remove_config_entry_device(hass, entry, interface)
    assert await async_remove_config_entry_device(hass, entry, device)
    assert host not in coordinator.known
    # It comes back when it announces again.
    peer.announce()
    await wait_for(lambda: host in coordinator.known)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_interface_down_at_start_gives_repair_issue(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Up but without carrier at setup: loaded, unavailable, a repair issue."""
    ha_link.other.set_link("eth0", up=False)  # the peer end: no carrier here
    await wait_for(lambda: not netif.interface_is_up("eth0"))
    entry = await add_entry(hass)
    assert entry.state is ConfigEntryState.LOADED
    issues = ir.async_get(hass)
    issue_id = f"interface_down_{entry.entry_id}"
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    assert hass.states.get("sensor.linkname_eth0_neighbours_online").state == (  # type: ignore[union-attr]
        "unavailable"
    )
    ha_link.other.set_link("eth0", up=True)
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is None, limit=8)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_removing_the_entry_deletes_its_storage(
    ha_link: HaLink, hass: HomeAssistant, hass_storage: dict[str, object]
) -> None:
    """Deleting the entry leaves no stored neighbour table behind."""
    entry = await add_entry(hass)
    peer = ha_link.peer(1, "pi")
    peer.announce()
    await wait_for(lambda: entry.runtime_data.known)
    await hass.config_entries.async_unload(entry.entry_id)
    key = f"{DOMAIN}.{entry.entry_id}"
    assert key in hass_storage
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_unseen_neighbours_removed_only_when_the_option_is_set(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Automatic removal after N days is opt-in; recent neighbours stay."""
    entry = await add_entry(hass)
    old, recent = ha_link.peer(1, "old"), ha_link.peer(2, "recent")
    old.announce()
    recent.announce()
    coordinator = entry.runtime_data
    await wait_for(lambda: len(coordinator.known) == 2)
    old.goodbye()
    await wait_for(lambda: not coordinator.known[old.host_id.hex()].present)
    coordinator.known[old.host_id.hex()].last_heard -= 8 * 86400  # a week ago
    await hass.config_entries.async_unload(entry.entry_id)
    registry = dr.async_get(hass)

    def device(peer: Peer) -> dr.DeviceEntry | None:
        return registry.async_get_device_by_identifier(
            (DOMAIN, peer.host_id.hex()), entry.entry_id
        )

    # Without the option nothing is removed, however old.
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert device(old) is not None
    await hass.config_entries.async_unload(entry.entry_id)
    # With "remove after 7 days", the week-old one goes, the recent one stays.
    hass.config_entries.async_update_entry(entry, options={"remove_after_days": 7})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert device(old) is None
    assert device(recent) is not None
    assert old.host_id.hex() not in entry.runtime_data.known
    await hass.config_entries.async_unload(entry.entry_id)
