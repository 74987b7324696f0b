"""Setting up, unloading, failing, repairs and removal (fake endpoint, no root)."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.loader import async_get_integration

from custom_components.linkname import async_remove_config_entry_device
from custom_components.linkname.const import (
    CONF_NAME,
    DEFAULT_INTERVAL,
    DOMAIN,
    STORAGE_VERSION,
)
from custom_components.linkname.protocol.const import ANNOUNCE, GOODBYE, QUERY
from custom_components.linkname.protocol.endpoint import EndpointError
from tests.conftest import HA_HOST_ID, Fake, add_entry, make_entry
from tests.fake import FakePeer


async def test_integration_is_the_custom_one(hass: HomeAssistant) -> None:
    """HA resolves the domain to this repository's custom integration."""
    integration = await async_get_integration(hass, DOMAIN)

    assert not integration.is_built_in
    assert integration.config_flow
    assert integration.dependencies == ["network"]
    assert integration.has_branding


async def test_setup_starts_and_unload_closes_the_endpoint(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Setup starts the endpoint with HA's identity; unload closes it."""
    entry = await add_entry(hass, name="ha-test")
    assert entry.state is ConfigEntryState.LOADED
    endpoint = fake.endpoint
    assert endpoint.running
    assert endpoint.interface == "eth0"
    assert endpoint.announcer is not None
    assert endpoint.announcer.name == "ha-test"
    assert endpoint.announcer.host_id == HA_HOST_ID
    assert endpoint.announcer.software
    assert endpoint.announcer.software.startswith("Home Assistant")
    # MANUFACTURER and MODEL (revision 2): what other hosts show for it.
    assert endpoint.announcer.manufacturer == "Home Assistant"
    assert endpoint.announcer.model == "Home Assistant"
    assert endpoint.table.own_host_id == HA_HOST_ID

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert endpoint.closed == 1
    assert not endpoint.running


async def test_listen_only_has_no_announcer(fake: Fake, hass: HomeAssistant) -> None:
    """Not publishing: the endpoint only listens."""
    entry = await add_entry(hass, publish=False)
    assert fake.endpoint.announcer is None
    assert entry.runtime_data.own_name is None


async def test_own_announcements_are_not_neighbours(
    fake: Fake, hass: HomeAssistant
) -> None:
    """HA's own looped-back announcements are ignored by the table."""
    entry = await add_entry(hass)
    FakePeer(fake.endpoint, HA_HOST_ID, "ha-test", "fe80::ee:1").announce()
    await hass.async_block_till_done()
    assert entry.runtime_data.table.looped == 1
    assert entry.runtime_data.known == {}
    assert hass.states.async_entity_ids("device_tracker") == []


async def test_missing_interface_is_not_ready(fake: Fake, hass: HomeAssistant) -> None:
    """An interface that does not exist: setup retries, with a translated reason."""
    fake.fail_start(EndpointError("no_interface", "no interface 'nosuch0'"))
    entry = await add_entry(hass, interface="nosuch0")
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "nosuch0" in entry.reason


async def test_port_in_use_gives_repair_issue_until_setup_works(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Port 1903 held exclusively: retry plus a repair; fixed: issue gone."""
    fake.fail_start(EndpointError("port_in_use", "address in use"))
    entry = await add_entry(hass)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "port_in_use"
    assert issue.severity is ir.IssueSeverity.ERROR
    fake.fail_start(None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert issues.async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}") is None


async def test_interface_down_at_start_gives_repair_issue(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Down at setup: loaded, unavailable, a repair issue; up: all clear."""
    fake.start_down()
    entry = await add_entry(hass)
    assert entry.state is ConfigEntryState.LOADED
    issues = ir.async_get(hass)
    issue_id = f"interface_down_{entry.entry_id}"
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    online = hass.states.get("sensor.ha_test_neighbours_online")
    assert online is not None
    assert online.state == STATE_UNAVAILABLE
    fake.endpoint.set_state("up")
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get("sensor.ha_test_neighbours_online").state == "0"  # type: ignore[union-attr]


async def test_user_can_delete_a_neighbour_device_not_the_interface(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Deleting a neighbour's device forgets it, through the endpoint."""
    entry = await add_entry(hass)
    peer = fake.endpoint.peer(1, "pi")
    peer.announce()
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
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
    assert fake.endpoint.forgotten == [peer.host_id]
    assert coordinator.table.get(peer.host_id) is None
    assert coordinator.online_count() == 0
    # It comes back when it announces again.
    assert [type(e).__name__ for e in peer.announce()] == ["Joined"]
    await hass.async_block_till_done()
    assert host in coordinator.known


async def test_removing_the_entry_deletes_its_storage_and_issues(
    fake: Fake, hass: HomeAssistant, hass_storage: dict[str, object]
) -> None:
    """Deleting the entry leaves no stored neighbour table or repair behind."""
    fake.fail_start(EndpointError("port_in_use", "address in use"))
    entry = await add_entry(hass)
    fake.fail_start(None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    fake.endpoint.peer(1, "pi").announce()
    fake.endpoint.set_state("down")  # an open interface_down issue
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)
    key = f"{DOMAIN}.{entry.entry_id}"
    assert key in hass_storage
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
    assert [i for (d, _), i in ir.async_get(hass).issues.items() if d == DOMAIN] == []


async def test_unseen_neighbours_removed_only_when_the_option_is_set(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Automatic removal after N days is opt-in; recent neighbours stay."""
    entry = await add_entry(hass)
    old, recent = fake.endpoint.peer(1, "old"), fake.endpoint.peer(2, "recent")
    old.announce()
    recent.announce()
    old.goodbye()
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    coordinator.known[old.host_id.hex()].last_heard -= 8 * 86400  # a week ago
    await hass.config_entries.async_unload(entry.entry_id)
    registry = dr.async_get(hass)

    def device(peer: FakePeer) -> dr.DeviceEntry | None:
        return registry.async_get_device_by_identifier(
            (DOMAIN, peer.host_id.hex()), entry.entry_id
        )

    # Without the option nothing is removed, however old.
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert device(old) is not None
    # Saved live: "remove after 7 days", the week-old one goes, recent stays.
    hass.config_entries.async_update_entry(entry, options={"remove_after_days": 7})
    await hass.async_block_till_done()
    assert device(old) is None
    assert device(recent) is not None
    assert old.host_id.hex() not in entry.runtime_data.known


async def test_name_conflict_repair_says_who_holds_the_name(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Another host announcing HA's name raises a repair; renaming clears it."""
    entry = await add_entry(hass, name="ha-test")
    impostor = fake.endpoint.peer(1, "HA-Test")  # names compare by casefold
    impostor.announce()
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    issue_id = f"name_conflict_{entry.entry_id}"
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "name_conflict"
    assert issue.translation_placeholders == {
        "interface": "eth0",
        "name": "ha-test",
        "address": impostor.address,
        "host_id": impostor.host_id.hex(),
        "holder": "Home Assistant",  # announcing since setup, before the other
    }
    impostor.name = "\uff28\uff21-test"  # fullwidth "HA": the same under NFKC
    impostor.announce()
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    impostor.name = "someone-else"
    impostor.announce()
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    impostor.name = "ha-test"
    impostor.announce()
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    impostor.goodbye()  # gone: no conflict left
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_home_assistant_probes_then_announces_and_defends_its_name(
    fake: Fake, hass: HomeAssistant
) -> None:
    """The core's Host runs HA's name on the link, as it does for the daemon.

    The start QUERY is the probe and the first ANNOUNCE follows it; a host
    that begins announcing HA's established name is answered with an ANNOUNCE
    at once, and HA keeps the name (it never renames itself: the user chose
    the name, the repair issue tells them).
    """
    entry = await add_entry(hass, name="ha-test")
    endpoint = fake.endpoint
    assert [(m.type, m.host_id) for m in endpoint.sent] == [(QUERY, HA_HOST_ID)]
    endpoint.advance(0.1)  # still probing: nothing announced yet
    assert [m.type for m in endpoint.sent] == [QUERY]
    endpoint.advance(0.2)
    announced = [m for m in endpoint.sent if m.type == ANNOUNCE]
    assert announced
    assert {(m.name, m.host_id, m.ttl) for m in announced} == {
        ("ha-test", HA_HOST_ID, 3 * DEFAULT_INTERVAL)  # TTL: three intervals
    }
    assert endpoint.announced == 0
    impostor = endpoint.peer(1, "ha-test")
    impostor.announce()
    await hass.async_block_till_done()
    assert endpoint.announced == 1  # defended at once
    assert entry.runtime_data.own_name == "ha-test"
    assert endpoint.announcer is not None
    assert endpoint.announcer.name == "ha-test"
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"name_conflict_{entry.entry_id}")

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert [m.type for m in endpoint.sent[-2:]] == [GOODBYE, GOODBYE]


async def test_home_assistant_hearing_its_other_entry_is_a_repair_not_a_device(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Two of HA's interfaces on one link: each entry hears the other's host.

    That is Home Assistant itself, not a neighbour: no device, no name
    conflict, and a repair that names both interfaces until it is gone.
    """
    first = await add_entry(hass, interface="eth0")
    second = await add_entry(hass, interface="eth1", host_id=b"\xdd" * 16)
    eth1 = fake.endpoints[-1]
    assert eth1.interface == "eth1"
    itself = FakePeer(eth1, HA_HOST_ID, "ha-test", "fe80::ee:1")
    stranger = eth1.peer(7, "printer")
    itself.announce()
    itself.announce()  # refreshed: still not a neighbour
    stranger.announce()
    await hass.async_block_till_done()

    coordinator = second.runtime_data
    assert set(coordinator.known) == {stranger.host_id.hex()}
    assert coordinator.online_count() == 1
    registry = dr.async_get(hass)
    assert (
        registry.async_get_device_by_identifier(
            (DOMAIN, HA_HOST_ID.hex()), second.entry_id
        )
        is None
    )
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, f"same_link_{second.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {
        "interface": "eth1",
        "other_interface": "eth0",
    }
    assert issues.async_get_issue(DOMAIN, f"name_conflict_{second.entry_id}") is None
    assert issues.async_get_issue(DOMAIN, f"same_link_{first.entry_id}") is None

    itself.goodbye()
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, f"same_link_{second.entry_id}") is None
    assert set(coordinator.known) == {stranger.host_id.hex()}


async def test_a_neighbour_that_held_the_name_first_is_the_holder(
    fake: Fake, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """HA renamed to a name another host announced before: that host holds it.

    Who holds a name survives a restart of Home Assistant (both times are
    stored): the repair still names the same holder.
    """
    entry = await add_entry(hass, name="ha-test")
    first = fake.endpoint.peer(1, "office")
    first.announce()
    await hass.async_block_till_done()
    freezer.tick(60)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_NAME: "office"}
    )
    await hass.async_block_till_done()
    issue_id = f"name_conflict_{entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["holder"] == "office"

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    freezer.tick(60)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    first.endpoint = fake.endpoint
    first.announce()
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["holder"] == "office"
    # Two neighbours: the one that had the name first holds it in the table too.
    later = fake.endpoint.peer(2, "office")
    later.announce()
    holder = fake.endpoint.table.holder("office")
    assert holder is not None
    assert holder.host_id == first.host_id


async def test_home_assistant_holds_its_name_across_a_restart(
    fake: Fake, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A host that took HA's name while HA ran is still the newcomer after."""
    entry = await add_entry(hass, name="ha-test")
    freezer.tick(60)
    impostor = fake.endpoint.peer(1, "ha-test")
    impostor.announce()
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    freezer.tick(60)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    impostor.endpoint = fake.endpoint
    impostor.announce()
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"name_conflict_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders["holder"] == "Home Assistant"


async def test_invalid_stored_neighbours_are_dropped(
    fake: Fake, hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A stored neighbour no announcement could give is not restored."""
    entry = make_entry()
    entry.add_to_hass(hass)
    good = {"host": "01" * 16, "name": "good", "addresses": ["fe80::1"]}
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {
            "neighbours": {
                "01" * 16: {**good, "present": True},
                "02" * 16: {**good, "host": "02" * 16, "name": "a.b", "present": True},
                "03" * 16: {**good, "host": "03" * 16, "ttl": -5, "present": True},
                "zz": {**good, "host": "zz", "present": True},
                "04" * 16: {"unexpected": 1},
            }
        },
    }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    assert list(coordinator.known) == ["01" * 16]
    assert [n.name for n in coordinator.table] == ["good"]
    assert hass.states.get("device_tracker.good") is not None
    assert len(hass.states.async_entity_ids("device_tracker")) == 1
