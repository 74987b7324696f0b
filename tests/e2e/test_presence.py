"""Presence as a user sees it: real peers, a real Home Assistant, its API.

Peers run the ``linkname`` command (interval 5 s, so TTL 15 s) in their own
namespaces; everything is read back through Home Assistant's REST and
websocket APIs.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from custom_components.linkname.protocol import __version__
from tests.e2e.conftest import HA_NAME, World, changed_at, wait_running
from tests.e2e.ha import timestamp
from tests.e2e.procs import INTERVAL, Peers
from tests.e2e.report import REPORT

pytestmark = pytest.mark.netns
TTL = 3 * INTERVAL


def test_onboarding_and_setup_through_the_api(world: World) -> None:
    before = {s["step"]: s["done"] for s in world.setup["onboarding_before"]}
    after = {s["step"]: s["done"] for s in world.setup["onboarding_after"]}
    assert before == dict.fromkeys(
        ("user", "core_config", "analytics", "integration"), False
    )
    assert after == {
        "user": True,
        "core_config": False,
        "analytics": True,
        "integration": True,
    }
    assert world.setup["token_type"] == "Bearer"
    # The form offered the HA namespace's interfaces with a link-local address.
    form = world.setup["form"]
    assert (form["type"], form["step_id"]) == ("form", "user")
    fields = {f["name"]: f for f in form["data_schema"]}
    assert set(fields) == {"interface", "name", "key", "publish"}
    options = fields["interface"]["selector"]["select"]["options"]
    ha_ll = world.link_local(world.ha)
    eth1_ll = world.ha.link_local("eth1")
    assert options == [
        {"value": "eth0", "label": f"eth0 ({ha_ll})"},
        {"value": "eth1", "label": f"eth1 ({eth1_ll})"},
    ]
    assert fields["interface"]["default"] == "eth0"
    # The entry is what the flow created, loaded, listening and announcing.
    result = world.setup["result"]
    assert result["title"] == "eth0"
    entry = world.api.entry(world.entry_id)
    assert (entry["state"], entry["title"], entry["source"]) == (
        "loaded",
        "eth0",
        "user",
    )
    assert entry["supports_options"]
    assert entry["supports_reconfigure"]
    diag = world.api.diagnostics(world.entry_id)
    assert diag["entry"]["data"]["interface"] == "eth0"
    # Private data is redacted; HA's address is on its interface device.
    assert diag["entry"]["data"]["name"] == "**REDACTED**"
    assert HA_NAME not in repr(diag)
    runtime = diag["runtime"]
    assert runtime["socket"]["state"] == "up"
    assert runtime["socket"]["source"] == "**REDACTED**"
    address = world.api.state("sensor.ha_e2e_link_local_address")
    assert address is not None
    assert address["state"] == f"{ha_ll}%eth0"
    online = world.api.state("sensor.ha_e2e_neighbours_online")
    assert online is not None
    assert online["state"].isdigit()


def test_peer_home_within_2s_then_away_on_goodbye(world: World, peers: Peers) -> None:
    alpha = peers.announce(world.a, "alpha")
    tracker = world.wait_tracker("alpha", "home", limit=5.0)
    alpha.wait_err("up, source")
    home = changed_at(tracker)
    latency = REPORT.step(
        "A announce: spawn -> tracker home", home - alpha.spawned, 2.0
    )
    assert latency < 2.0
    attributes = tracker["attributes"]
    a_ll = world.link_local(world.a)
    assert attributes["ip"] == f"{a_ll}%eth0"
    assert attributes["host_name"] == "alpha"
    assert attributes["source_type"] == "router"
    assert attributes["friendly_name"] == "alpha"
    known = world.neighbour("alpha")
    assert known is not None
    assert known["software"] == f"linkname {__version__}"
    assert (known["ttl"], known["present"], known["signed"]) == (TTL, True, False)

    stopped = time.time()
    assert alpha.stop(signal.SIGTERM) == 0
    away = world.wait_state(tracker["entity_id"], "not_home", limit=5.0)
    goodbye = REPORT.step(
        "A SIGTERM -> tracker not_home (goodbye)", changed_at(away) - stopped, 2.0
    )
    assert goodbye < 2.0
    assert alpha.err[-1][1].endswith("said goodbye on eth0")


def test_killed_peer_away_once_its_ttl_passed_not_earlier(
    world: World, peers: Peers
) -> None:
    bravo = peers.announce(world.b, "bravo")
    tracker = world.wait_tracker("bravo", "home", limit=5.0)
    bravo.wait_err("up, source")
    assert bravo.stop(signal.SIGKILL) == -signal.SIGKILL
    killed = time.time()
    away = world.wait_state(tracker["entity_id"], "not_home", limit=TTL + 5.0)
    known = world.neighbour("bravo")
    assert known is not None
    assert known["ttl"] == TTL
    last_heard = known["last_heard"]
    assert last_heard <= killed
    away_at = changed_at(away)
    REPORT.step("B SIGKILL -> tracker not_home", away_at - killed)
    overdue = REPORT.step(
        "B last heard + TTL -> not_home (lateness)", away_at - (last_heard + TTL), 1.0
    )
    assert away_at >= last_heard + TTL - 0.01, "away before the TTL ran out"
    assert overdue <= 1.0
    # What the device page shows: last heard, an away time before it left.
    assert abs(timestamp(away["attributes"]["last_heard"]) - last_heard) < 0.01


def test_options_and_reconfigure_leave_present_trackers_alone(
    world: World, peers: Peers
) -> None:
    """Saved options and a new name apply live: no state change at all."""
    foxtrot_peer = peers.announce(world.a, "foxtrot")
    entity_id = world.wait_tracker("foxtrot", "home", limit=5.0)["entity_id"]
    api = world.api
    with api.websocket() as ws:
        sub = ws.subscribe("subscribe_events", event_type="state_changed")
        defaults = world.set_options(interval=30, away_after=600)["socket"]
        world.set_options(interval=60, away_after=0)
        for name in ("ha-e2e-renamed", HA_NAME):
            flow = api.post(
                "/api/config/config_entries/flow",
                {"handler": "linkname", "entry_id": world.entry_id},
            )
            result = api.post(
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                {"name": name, "key": "", "publish": True},
            )
            assert result["reason"] == "reconfigure_successful", result
        time.sleep(0.5)
        ws.drain()
        mine = (entity_id, "sensor.foxtrot_online_since")

        def foxtrot() -> list[tuple[str, str]]:
            return [
                (e["data"]["entity_id"], e["data"]["new_state"]["state"])
                for e in ws.events[sub]
                if e["data"]["entity_id"] in mine
            ]

        # Not one state written for the neighbour: tracker, Online since.
        assert foxtrot() == []
        # (The subscription works: its goodbye is seen.)
        assert foxtrot_peer.stop(signal.SIGTERM) == 0
        world.wait_state(entity_id, "not_home", limit=5.0)
        ws.drain()
        assert (entity_id, "not_home") in foxtrot()
    assert defaults["state"] == "up"
    entry = api.entry(world.entry_id)
    assert entry["state"] == "loaded"
    assert world.linkname_problems() == []


def test_rename_keeps_the_entity_and_device(world: World, peers: Peers) -> None:
    first = peers.announce(world.a, "charlie", state="charlie")
    tracker = world.wait_tracker("charlie", "home", limit=5.0)
    entity_id = tracker["entity_id"]
    before = world.api.ws("config/entity_registry/get", entity_id=entity_id)
    assert first.stop(signal.SIGTERM) == 0
    world.wait_state(entity_id, "not_home", limit=5.0)

    second = peers.announce(world.a, "charlie-renamed", state="charlie")
    renamed = world.wait_state(
        entity_id, "home", limit=5.0, host_name="charlie-renamed"
    )
    REPORT.step(
        "A restarted as new name -> same tracker home, renamed",
        changed_at(renamed) - second.spawned,
        2.0,
    )
    after = world.api.ws("config/entity_registry/get", entity_id=entity_id)
    assert after["unique_id"] == before["unique_id"]
    assert after["device_id"] == before["device_id"]
    devices = world.api.ws("config/device_registry/list")
    device = next(d for d in devices if d["id"] == after["device_id"])
    assert device["name"] == "charlie-renamed"
    assert renamed["attributes"]["friendly_name"] == "charlie-renamed"
    trackers = world.api.trackers()
    assert "charlie" not in trackers  # no second entity for either name
    assert trackers["charlie-renamed"]["entity_id"] == entity_id
    host = after["unique_id"].removeprefix("eth0_").removesuffix("_tracker")
    linked = [d["id"] for d in devices if ["linkname", host] in d["identifiers"]]
    assert linked == [after["device_id"]]
    assert world.linkname_problems() == []


def test_home_assistant_announcements_seen_by_watch(world: World, peers: Peers) -> None:
    watch = peers.watch(world.x)
    up = watch.events()[0][0]
    seen, event = watch.wait_event(
        lambda e: e["event"] == "joined" and e["name"] == HA_NAME, limit=3.0
    )
    REPORT.step("watch in a peer: up -> HA joined (QUERY answer)", seen - up, 2.0)
    assert event["addresses"][0] == world.link_local(world.ha)
    assert event["model"] == "Home Assistant"
    assert event["manufacturer"] == "Home Assistant"
    assert event["software"].startswith("Home Assistant 2026.")
    assert (event["ttl"], event["signed"]) == (180, False)


def test_restart_keeps_trackers_and_they_come_back_home(
    world: World, peers: Peers
) -> None:
    delta = peers.announce(world.a, "delta")
    echo = peers.announce(world.b, "echo")
    delta_id = world.wait_tracker("delta", "home", limit=5.0)["entity_id"]
    echo_id = world.wait_tracker("echo", "home", limit=5.0)["entity_id"]
    assert echo.stop(signal.SIGTERM) == 0
    world.wait_state(echo_id, "not_home", limit=5.0)

    watch = peers.watch(world.x)
    # Its QUERY may go unanswered (one answer per querier address and second,
    # and x's previous watch was just answered): the announce action makes
    # Home Assistant announce now.
    world.api.post(
        "/api/services/linkname/announce", {"config_entry_id": world.entry_id}
    )
    watch.wait_event(
        lambda e: e["event"] == "joined" and e["name"] == HA_NAME, limit=2.0
    )
    hass = world.hass
    old_pid = hass.pid
    REPORT.step("HA stop (SIGTERM, graceful)", hass.stop(), 30.0)
    assert hass.proc is not None
    assert hass.proc.returncode == 0
    # Home Assistant said goodbye on its way out.
    _, left = watch.wait_event(lambda e: e["event"] == "left", limit=1.0)
    assert (left["name"], left["reason"]) == (HA_NAME, "goodbye")
    seen_before_start = len(watch.events())
    started = time.time()
    hass.start()
    assert hass.pid != old_pid
    world.wait(world.api.up, 60.0, "HTTP after restart", step=0.05)
    wait_running(world)
    running = time.time()
    REPORT.step("HA restart: spawn -> running", running - started)
    # At once: both trackers exist, delta home (restored), echo away.
    assert world.api.state(delta_id)["state"] == "home"
    assert world.api.state(echo_id)["state"] == "not_home"
    assert world.api.entry(world.entry_id)["state"] == "loaded"

    # delta answered Home Assistant's start QUERY: heard again after the start.
    def heard_again() -> dict[str, Any] | None:
        known = world.neighbour("delta")
        return known if known and known["last_heard"] > started else None

    heard = world.wait(heard_again, 5.0, "delta heard after the restart")
    REPORT.step(
        "HA restart: spawn -> running peer heard again", heard["last_heard"] - started
    )
    # echo comes back as the same host: the same tracker goes home.
    echo = peers.announce(world.b, "echo")
    back = world.wait_state(echo_id, "home", limit=5.0)
    REPORT.step("restarted B -> its tracker home", changed_at(back) - echo.spawned, 2.0)
    assert changed_at(back) - echo.spawned < 2.0
    trackers = world.api.trackers()
    assert trackers["echo"]["entity_id"] == echo_id
    assert trackers["delta"]["entity_id"] == delta_id
    assert delta.popen.poll() is None
    # The watch saw Home Assistant come back (its start announcements).
    _, rejoined = watch.wait_event(
        lambda e: e["event"] == "joined", limit=1.0, after=seen_before_start
    )
    assert (rejoined["name"], rejoined["host_id"]) == (HA_NAME, left["host_id"])
