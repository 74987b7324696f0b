"""Home Assistant on a real IPv6 link: the end-to-end layer in this process.

Everything else about the integration is tested with the fake endpoint
(tests/fake.py), without root.  These tests keep what only a real link
shows: real sockets, the start QUERY and the goodbye on the wire, EUI-64
MACs of real veth ends, timers of the real endpoint, port conflicts, carrier
loss.  They need root and ``ip netns`` (they run in CI).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_HOME, STATE_NOT_HOME, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from custom_components.linkname.const import (
    CONF_HOST_ID,
    CONF_INTERFACE,
    CONF_KEY,
    CONF_NAME,
    CONF_PUBLISH,
    DOMAIN,
)
from custom_components.linkname.diagnostics import async_get_config_entry_diagnostics
from custom_components.linkname.protocol import netif
from custom_components.linkname.protocol.announcer import Announcer
from custom_components.linkname.protocol.auth import Key
from custom_components.linkname.protocol.codec import encode
from custom_components.linkname.protocol.const import (
    ANNOUNCE,
    FLAG_RESPONSE,
    GOODBYE,
    QUERY,
)
from tests.conftest import HA_HOST_ID, HaLink, add_entry, wait_for
from tests.peer import Peer

pytestmark = pytest.mark.netns

USER_INPUT = {CONF_NAME: "ha-test", CONF_KEY: "", CONF_PUBLISH: True}
KEY = "diagnostics-key-0123456789"


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
    assert hass.states.get("sensor.ha_test_neighbours_online").state == (  # type: ignore[union-attr]
        "unavailable"
    )
    ha_link.other.set_link("eth0", up=True)
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is None, limit=8)
    await hass.config_entries.async_unload(entry.entry_id)


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


async def test_interface_down_makes_entities_unavailable_then_recovers(
    ha_link: HaLink, hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Link down: unavailable and a repair issue; back: recovered, issue gone.

    The log has one WARNING for the outage and an INFO for the recovery.
    """
    entry_id = (await add_entry(hass)).entry_id
    peer = ha_link.peer(6, "steady")
    peer.announce()
    await wait_for(lambda: tracker_id(hass, entry_id, peer.host_id) is not None)
    entity_id = tracker_id(hass, entry_id, peer.host_id)
    await wait_for(lambda: state_of(hass, entity_id) == STATE_HOME)
    issues = ir.async_get(hass)

    caplog.clear()
    caplog.set_level(logging.INFO, logger="custom_components.linkname")
    ha_link.ha.set_link("eth0", up=False)
    await wait_for(lambda: state_of(hass, entity_id) == STATE_UNAVAILABLE, limit=5)
    assert issues.async_get_issue(DOMAIN, f"interface_down_{entry_id}") is not None
    await asyncio.sleep(2.5)  # the endpoint checks again every second: still down
    ha_link.ha.set_link("eth0", up=True)
    ha_link.ha.link_local("eth0")
    await wait_for(lambda: state_of(hass, entity_id) != STATE_UNAVAILABLE, limit=8)
    assert issues.async_get_issue(DOMAIN, f"interface_down_{entry_id}") is None
    peer.announce()
    await wait_for(lambda: state_of(hass, entity_id) == STATE_HOME)
    ours = [
        r for r in caplog.records if r.name.startswith("custom_components.linkname")
    ]
    warnings = [r for r in ours if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "down" in warnings[0].getMessage()
    assert any(
        r.levelno == logging.INFO and "back up" in r.getMessage() for r in ours
    ), [r.getMessage() for r in ours]


async def test_user_step_creates_entry_on_a_real_link(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """The sockets are opened on the interface before the entry is created."""
    key = "flow-test-key-0123456789"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_INTERFACE: "eth0", CONF_NAME: "kitchen ha", CONF_KEY: key},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "eth0"
    data = result["data"]
    assert data[CONF_INTERFACE] == "eth0"
    assert data[CONF_NAME] == "kitchen ha"
    assert data[CONF_KEY] == key
    assert data[CONF_PUBLISH] is True
    assert len(bytes.fromhex(data[CONF_HOST_ID])) == 16
    entry = result["result"]
    assert entry.unique_id == "eth0"
    assert entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(entry.entry_id)


async def test_user_step_reports_port_in_use(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Port 1903 held without SO_REUSEADDR: an error on the form, no entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    blocker = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    blocker.bind(("::", 1903))
    try:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_INTERFACE: "eth0", **USER_INPUT}
        )
    finally:
        blocker.close()
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "port_in_use"}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_reconfigure_changes_name_and_key(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Applied live: the new name is announced, signed with the new key."""
    peer = ha_link.peer(1, "pi")
    entry = await add_entry(hass, name="old-name")
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "bad.name", CONF_KEY: "", CONF_PUBLISH: True}
    )
    assert result["errors"] == {CONF_NAME: "invalid_name"}
    key = "reconfigured-key-0123456789"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "new-name", CONF_KEY: key, CONF_PUBLISH: True}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_NAME] == "new-name"
    assert entry.data[CONF_KEY] == key
    assert entry.runtime_data.table.signed_mode

    async def heard_new_name() -> None:
        while True:
            message, _, _ = await peer.recv_type(ANNOUNCE)
            if message.name == "new-name":
                assert message.auth is not None  # signed with the new key
                return

    await heard_new_name()
    await hass.config_entries.async_unload(entry.entry_id)


async def answer_queries(peer: Peer, name: str) -> None:
    """Act as the host ``name``: answer QUERYs for it by unicast."""
    responder = Announcer(host_id=peer.host_id, name=name, addresses=(peer.address,))
    while True:
        query, meta, _ = await peer.recv_type(QUERY, limit=5)
        if query.query_name is None or query.query_name.casefold() == name.casefold():
            answer = responder._announcement(FLAG_RESPONSE)
            peer.send(encode(answer), (meta.source, meta.source_port))


async def test_resolve_returns_the_answer(ha_link: HaLink, hass: HomeAssistant) -> None:
    """resolve asks the link and returns the answering host's addresses."""
    entry_id = (await add_entry(hass)).entry_id
    peer = ha_link.peer(9, "printer")
    responder = asyncio.create_task(answer_queries(peer, "printer"))
    try:
        response = await hass.services.async_call(
            DOMAIN,
            "resolve",
            {"name": "Printer", "config_entry_id": entry_id, "timeout": 2},
            blocking=True,
            return_response=True,
        )
    finally:
        responder.cancel()
    assert response is not None
    assert response["found"] is True
    assert response["addresses"] == [peer.address]
    assert response["hosts"] == [
        {
            "interface": "eth0",
            "host_id": peer.host_id.hex(),
            "name": "printer",
            "addresses": [peer.address],
        }
    ]


async def test_announce_sends_now_and_is_rate_limited(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """announce sends at once; a second call within a second is refused."""
    peer = ha_link.peer(1, "listener")
    await add_entry(hass)
    await asyncio.sleep(2.5)  # let the start burst pass
    while True:
        try:
            await peer.recv(limit=0.05)
        except TimeoutError:
            break
    await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    message, _, _ = await peer.recv_type(ANNOUNCE, limit=1)
    assert message.name == "ha-test"
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert err.value.translation_key == "rate_limited"


async def test_diagnostics_redact_key_and_count_rejections(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Signed mode: unsigned, hop-limit-64 and bad packets are counted by reason."""
    entry = await add_entry(hass, key=KEY)
    coordinator = entry.runtime_data
    good = ha_link.peer(1, "signed", key=Key.from_text(KEY))
    bad = ha_link.peer(2, "unsigned")
    good.announce()
    bad.announce()
    bad.send(b"LN\x01garbage")
    good.send(encode(good.message()), hop_limit=64)  # signed, but off-link
    await wait_for(lambda: sum(coordinator.table.rejected.values()) >= 3)
    await wait_for(lambda: coordinator.known)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["data"]["key"] == "**REDACTED**"
    assert KEY not in repr(diagnostics)
    runtime = diagnostics["runtime"]
    assert runtime["rejected"] == {"unsigned": 1, "truncated": 1, "hop_limit": 1}
    assert runtime["signed_mode"] is True
    assert runtime["socket"]["state"] == "up"
    assert [n["signed"] for n in runtime["neighbours"]] == [True]
    assert runtime["neighbours"][0]["signed"] is True
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
