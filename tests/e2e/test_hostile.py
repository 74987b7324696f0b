"""Hostile traffic from a peer namespace against the real Home Assistant.

Malformed and misaddressed datagrams are sent with ordinary sockets where a
host could send them that way, spoofed ones (thousands of link-local
sources) as raw frames.  Afterwards Home Assistant must still answer at
once, hold no entity for anything it rejected, keep its neighbours under
the configured cap, and count every rejection by reason in diagnostics.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from custom_components.linkname.protocol.codec import Message, encode
from custom_components.linkname.protocol.const import GOODBYE
from custom_components.linkname.protocol.table import DEFAULT_CAPACITY
from tests.e2e.conftest import World
from tests.e2e.frames import (
    Injector,
    UdpSender,
    announce,
    random_link_local,
    udp6_frame,
)
from tests.e2e.procs import LINKNAME, Peers
from tests.e2e.report import REPORT

pytestmark = pytest.mark.netns

CAP = 64
FLOOD = 10_000
FLOOD_TTL = 2  # entries expire during the flood: the cap must still hold
ULA = "fd00::66"


def hostile_names(world: World) -> tuple[set[str], set[str]]:
    """Names starting with ``hostile-``: in trackers, and in what HA knows."""
    trackers = {n for n in world.api.trackers() if n.startswith("hostile-")}
    known = {
        k["name"]
        for k in world.diagnostics()["neighbours"]
        if k["name"].startswith("hostile-")
    }
    return trackers, known


@pytest.fixture
def ula(world: World) -> Iterator[str]:
    """A unique local (not link-local) address on peer x's interface."""
    world.x.ip("addr", "add", f"{ULA}/64", "dev", "eth0", "nodad")
    try:
        yield ULA
    finally:
        world.x.ip("addr", "del", f"{ULA}/64", "dev", "eth0", check=False)


def test_malformed_and_misaddressed_datagrams_are_dropped(
    world: World, ula: str
) -> None:
    x_ll = world.link_local(world.x)
    diag = world.diagnostics()
    before, accepted = diag["rejected"], diag["accepted"]

    def valid(kind: str) -> bytes:
        return announce(x_ll, f"hostile-{kind}")

    sent: dict[str, bytes] = {}
    hop64 = UdpSender(world.x, x_ll, hop_limit=64)
    from_ula = UdpSender(world.x, ula)
    sender = UdpSender(world.x, x_ll)
    try:
        sent["hop_limit"] = valid("hop")
        hop64.send(sent["hop_limit"])
        sent["not_link_local"] = valid("ula")
        from_ula.send(sent["not_link_local"])
        big = valid("big")
        version_2 = bytearray(valid("v2"))
        version_2[2] = 2
        filler = 1300 - len(big) - 3
        cases = {
            "truncated": valid("short")[:20],
            "too_large": big + bytes((0x7F,)) + filler.to_bytes(2) + b"\0" * filler,
            "unsupported_version": bytes(version_2),
            "unknown_critical_tlv": valid("critical") + bytes((0xC1, 0, 1, 0x2A)),
            "bad_magic": b"XX" + valid("magic")[2:],
            "bad_tlv_length": valid("tlv") + bytes((0x7E, 0xFF, 0xFF)),
            "source_mismatch": announce("fe80::1", "hostile-mismatch"),
        }
        for reason, payload in cases.items():
            sender.send(payload)
            sent[reason] = payload
    finally:
        for sock in (hop64, from_ula, sender):
            sock.close()
    assert len(sent["too_large"]) == 1300
    expected = dict.fromkeys(sent, 1)
    delta = world.wait_rejected(before, expected)
    REPORT.reject(delta)
    assert delta == expected
    assert world.diagnostics()["accepted"] == accepted
    assert hostile_names(world) == (set(), set())
    assert world.api.ping() < 1.0


def test_flood_of_new_names_stays_under_the_cap(world: World) -> None:
    configured = world.set_options(capacity=CAP)
    assert configured["table_capacity"] == CAP
    injector = Injector(world.x)
    try:
        _flood(world, injector)
    finally:
        injector.close()
        world.set_options(capacity=DEFAULT_CAPACITY)


def _flood(world: World, injector: Injector) -> None:
    start = world.diagnostics()
    before = start["rejected"]
    received = start["socket"]["received"]
    mac = injector.mac

    # One source, 30 new hosts: 10 per minute and source are let in.
    one = random_link_local()
    for n in range(30):
        payload = announce(one, f"flood-one-{n:02d}", ttl=FLOOD_TTL)
        injector.send(udp6_frame(mac, one, 40000, payload))
        time.sleep(0.002)
    delta = world.wait_rejected(before, {"rate_limited": 20})
    assert delta == {"rate_limited": 20}

    # 10,000 random names from as many spoofed link-local sources.
    built = time.monotonic()
    frames = []
    for _ in range(FLOOD):
        source = random_link_local()
        payload = announce(source, f"flood-{secrets.token_hex(6)}", ttl=FLOOD_TTL)
        frames.append(udp6_frame(mac, source, 40000 + len(frames) % 20000, payload))
    REPORT.fact("flood: frames built (s)", round(time.monotonic() - built, 3))
    pings: list[float] = []
    started = time.monotonic()
    for n in range(0, FLOOD, 100):
        for frame in frames[n : n + 100]:
            injector.send(frame)
        time.sleep(0.03)
        if n % 1000 == 0:
            pings.append(world.api.ping())
    took = time.monotonic() - started
    REPORT.fact("flood: datagrams sent", injector.sent)
    REPORT.fact("flood: sending took (s)", round(took, 3))
    during = REPORT.step("API round trip during the flood (max)", max(pings), 2.0)
    assert during < 2.0

    # Home Assistant has read what reached its socket (the counter settles).
    diag = world.settled_diagnostics()
    after = REPORT.step("API round trip after the flood", world.api.ping(), 1.0)
    assert after < 1.0
    REPORT.fact("flood: datagrams read by HA", diag["socket"]["received"] - received)
    delta = world.rejected_since(before)
    REPORT.reject(delta)
    assert delta["rate_limited"] >= 20
    assert delta["table_full"] > 0
    assert set(delta) <= {"rate_limited", "table_full"}
    assert diag["table_size"] <= CAP
    # Home Assistant keeps no more neighbours than the cap, and has an entity
    # exactly for those it accepted.
    flood_known = {
        k["name"] for k in diag["neighbours"] if k["name"].startswith("flood-")
    }
    flood_trackers = {n for n in world.api.trackers() if n.startswith("flood-")}
    REPORT.fact("flood: neighbours Home Assistant knows", len(flood_known))
    REPORT.fact("flood: announcements not tracked (HA full)", diag["not_tracked"])
    assert len(flood_known) <= CAP, f"{len(flood_known)} flood neighbours known"
    # Entries expired during the flood and new names took their table slots,
    # but Home Assistant, full, did not track them.
    assert diag["not_tracked"] > 0
    assert flood_trackers == flood_known
    one_names = {n for n in flood_known if n.startswith("flood-one-")}
    assert len(one_names) == 10
    assert world.linkname_problems() == []


def forget_device(world: World, host_id: bytes) -> None:
    """Delete the Home Assistant device of neighbour ``host_id``, if any."""
    identifier = ["linkname", host_id.hex()]
    for device in world.api.ws("config/device_registry/list"):
        if identifier in device["identifiers"]:
            world.api.ws(
                "config/device_registry/remove_config_entry",
                config_entry_id=world.entry_id,
                device_id=device["id"],
            )
    world.wait(
        lambda: (
            host_id.hex() not in {k["host"] for k in world.diagnostics()["neighbours"]}
        ),
        5.0,
        "the forger's device deleted",
    )


def test_name_hijack_attempt_against_linkname_announce(
    world: World, peers: Peers
) -> None:
    """Forged ANNOUNCEs of a running host's name with host ID 00..00 (the
    smallest there is, which won every conflict under revision 1): the host
    keeps its name, and ``linkname resolve`` finds the host, not the forger."""
    name = "hijack-target"
    victim_ll = world.link_local(world.a)
    forger_ll = world.link_local(world.x)
    victim = peers.announce(world.a, name)
    watch = peers.watch(world.b)
    _, joined = watch.wait_event(
        lambda e: e["event"] == "joined" and e["name"] == name, limit=5.0
    )
    victim_id = joined["host_id"]
    assert joined["addresses"][0] == victim_ll
    # Established: a claim within 200 ms of the first announcement would be
    # a simultaneous start, which host IDs decide (spec 6.3, rule 3).
    time.sleep(1.0)
    forger_id = bytes(16)
    sender = UdpSender(world.x, forger_ll)
    try:
        for seq in (1, 2, 3):  # a start burst's worth, then the periodic one
            sender.send(announce(forger_ll, name, host_id=forger_id, seq=seq, ttl=15))
            time.sleep(0.5)
        # The forger is in the watcher's table: a conflict, seen and reported.
        _, conflict = watch.wait_event(
            lambda e: e["event"] == "conflict" and e["name"] == name, limit=3.0
        )
        assert conflict["holder"] == victim_id  # the watcher prefers the victim
        victim.wait_err(f"host {forger_id.hex()} on eth0 announces our name")
        time.sleep(2.0)  # the victim's answer to a rename would be out by now
        found = world.b.run(LINKNAME, "resolve", name, "-i", "eth0", "--timeout", "3")
    finally:
        sender.send(encode(Message(GOODBYE, forger_id, 0, 4)))  # forger leaves
        sender.close()
        # Home Assistant tracked the forger as a device of its own under the
        # same name: delete it, so that later tests see one tracker per name.
        forget_device(world, forger_id)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [f"{victim_ll}%eth0"]
    assert watch.stop() == 0
    # The victim never announced anything but its name, and never renamed.
    victim_names = {
        e["name"]
        for _, e in watch.events()
        if e.get("host_id") == victim_id and "name" in e
    }
    assert victim_names == {name}
    assert not [e for _, e in watch.events() if e["event"] == "renamed"]
    assert not victim.err_lines("is held by")
    assert victim.popen.poll() is None  # still running, still announcing
    # Home Assistant is left with one tracker for the name: the victim's.
    assert world.api.trackers()[name]["state"] == "home"
