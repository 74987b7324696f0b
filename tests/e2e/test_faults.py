"""Faults: Home Assistant's link goes down and back; UDP 1903 is taken."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import World, changed_at
from tests.e2e.procs import Peers
from tests.e2e.report import REPORT

pytestmark = pytest.mark.netns

# The interface device is named after what HA announces (HA_NAME).
ONLINE = "sensor.ha_e2e_neighbours_online"
DOWN_FOR = 10.0


def issues(world: World) -> dict[str, dict[str, object]]:
    """linkname's repair issues by issue ID (websocket ``repairs/list_issues``)."""
    listed = world.api.ws("repairs/list_issues")["issues"]
    return {i["issue_id"]: i for i in listed if i["domain"] == "linkname"}


def test_link_down_then_back_without_restart_or_reload(
    world: World, peers: Peers
) -> None:
    peers.announce(world.a, "hotel")
    tracker = world.wait_tracker("hotel", "home", limit=5.0)["entity_id"]
    last_seen = tracker.replace("device_tracker.", "sensor.") + "_online_since"
    assert world.api.state(last_seen) is not None
    pid = world.hass.pid
    issue = f"interface_down_{world.entry_id}"
    with world.api.websocket() as ws:
        subscription = ws.subscribe("config_entries/subscribe")
        ws.drain()
        ws.events[subscription].clear()

        down = time.time()
        world.ha.set_link("eth0", False)
        try:
            gone = world.wait_state(tracker, "unavailable", limit=5.0)
            unavailable = changed_at(gone) - down
            REPORT.step("HA link down -> tracker unavailable", unavailable, 3.0)
            assert unavailable < 3.0
            for entity in (last_seen, ONLINE):
                assert world.api.state(entity)["state"] == "unavailable"
            assert issues(world)[issue]["severity"] == "warning"
            # Unavailable all the while the link is down.
            while time.time() < down + DOWN_FOR:
                assert world.api.state(tracker)["state"] == "unavailable"
                time.sleep(0.25)
        finally:
            up = time.time()
            world.ha.set_link("eth0", True)
        back = world.wait_state(tracker, "home", limit=10.0)
        REPORT.step("HA link up -> tracker home again", changed_at(back) - up, 5.0)
        assert changed_at(back) - up < 5.0
        assert world.api.state(ONLINE)["state"] not in {"unavailable", "unknown"}
        assert world.api.state(last_seen)["state"] != "unavailable"
        world.wait(lambda: issue not in issues(world), 5.0, "interface issue cleared")
        ws.drain()
        # No reload, no restart: the entry never changed state.
        changes = [
            change
            for event in ws.events[subscription]
            for change in event
            if change["entry"]["entry_id"] == world.entry_id
        ]
        assert changes == []
    assert world.hass.pid == pid
    assert world.hass.alive()
    assert world.api.entry(world.entry_id)["state"] == "loaded"
    assert world.linkname_problems() == []


@pytest.fixture
def disabled_entry(world: World) -> Iterator[str]:
    """The entry disabled by the user (its sockets closed); enabled afterwards."""
    api = world.api
    api.ws("config_entries/disable", entry_id=world.entry_id, disabled_by="user")
    world.wait(
        lambda: api.entry(world.entry_id)["state"] == "not_loaded", 10.0, "unloaded"
    )
    try:
        yield world.entry_id
    finally:
        if api.entry(world.entry_id)["disabled_by"] is not None:
            api.ws("config_entries/disable", entry_id=world.entry_id, disabled_by=None)


def test_port_held_exclusively_is_a_clear_error_and_a_repair(
    world: World, disabled_entry: str
) -> None:
    api = world.api
    with world.ha.entered():
        holder = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        holder.bind(("::", 1903))  # no SO_REUSEADDR: nobody else may bind 1903
        # A new entry: the config flow's form says why, in words.
        form = api.post(
            "/api/config/config_entries/flow",
            {"handler": "linkname", "show_advanced_options": False},
        )
        result = api.post(
            f"/api/config/config_entries/flow/{form['flow_id']}",
            {"interface": "eth1", "name": "ha-e2e-two", "key": "", "publish": True},
        )
        assert (result["type"], result["errors"]) == ("form", {"base": "port_in_use"})
        api.call("DELETE", f"/api/config/config_entries/flow/{form['flow_id']}")
        # The existing entry set up while the port is held: retried, with a
        # clear reason and a repair issue; Home Assistant carries on.
        enabled = time.time()
        api.ws("config_entries/disable", entry_id=disabled_entry, disabled_by=None)
        entry = world.wait(
            lambda: (e := api.entry(disabled_entry))["state"] == "setup_retry" and e,
            10.0,
            "entry in setup_retry",
        )
        REPORT.step("port held: enable -> setup_retry", time.time() - enabled)
        assert "UDP port 1903" in entry["reason"]
        assert "eth0" in entry["reason"]
        issue = issues(world)[f"port_in_use_{disabled_entry}"]
        assert (issue["severity"], issue["translation_key"]) == ("error", "port_in_use")
        assert api.ping() < 1.0
        assert world.hass.alive()
    finally:
        holder.close()
    released = time.time()
    world.wait_loaded(limit=30.0, signed_mode=False)
    REPORT.step(
        "port released -> entry loaded (HA's own retry)", time.time() - released, 30.0
    )
    assert f"port_in_use_{disabled_entry}" not in issues(world)
    assert [e["entry_id"] for e in api.entries()] == [disabled_entry]
