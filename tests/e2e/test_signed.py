"""Signed mode end to end: a shared key set through the reconfigure flow.

Peer A signs (``--key-file``) and is tracked; peer B does not and is not.
A's real signed announcement, captured on the link, is replayed: from A's
own address and port it is a replay, from another host a bad signature.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from custom_components.linkname.protocol.auth import Key, pseudo_header, sign
from custom_components.linkname.protocol.const import ANNOUNCE, GROUP, PORT
from tests.e2e.conftest import World, changed_at
from tests.e2e.frames import Capture, Injector, UdpSender, announce
from tests.e2e.procs import Peers
from tests.e2e.report import REPORT

pytestmark = pytest.mark.netns

KEY = "e2e-shared-key-0123456789abcdef"
OTHER_KEY = "e2e-another-key-fedcba9876543210"


@pytest.fixture
def signed_mode(world: World) -> Iterator[str]:
    """The entry reconfigured with a shared key (unsigned again afterwards)."""
    started = time.monotonic()
    world.reconfigure(KEY)
    REPORT.step(
        "reconfigure flow with a key -> entry reloaded", time.monotonic() - started
    )
    key_file = world.tmp / "shared.key"
    key_file.write_text(f"# shared with Home Assistant\n{KEY}\n")
    try:
        yield str(key_file)
    finally:
        world.reconfigure("")


def test_only_signed_peers_are_tracked(
    world: World, peers: Peers, signed_mode: str
) -> None:
    before = world.rejected()
    capture = Capture(world.x)
    try:
        foxtrot = peers.announce(world.a, "foxtrot", "--key-file", signed_mode)
        tracker = world.wait_tracker("foxtrot", "home", limit=5.0)
        a_ll = world.link_local(world.a)
        data, port = capture.next(a_ll, ANNOUNCE)
    finally:
        capture.close()
    latency = changed_at(tracker) - foxtrot.spawned
    REPORT.step("signed A: spawn -> tracker home", latency, 2.0)
    assert latency < 2.0
    known = world.neighbour("foxtrot")
    assert known is not None
    assert known["signed"] is True

    golf = peers.announce(world.b, "golf")
    golf.wait_err("up, source")

    # A's own datagram again, from A's address and port: a replay.
    injector = Injector(world.a)
    x_ll = world.link_local(world.x)
    other = UdpSender(world.x, x_ll)
    try:
        injector.datagram(a_ll, port, data)
        # One bit of the MAC changed: a bad signature.
        injector.datagram(a_ll, port, data[:-1] + bytes((data[-1] ^ 1,)))
        # The same bytes from another host: its address and port are signed.
        other.send(data)
        # Signed with a key Home Assistant does not have.
        pseudo = pseudo_header(x_ll, other.port, GROUP, PORT)
        now_ms = time.time_ns() // 1_000_000
        foreign = announce(x_ll, "hostile-other-key")
        other.send(sign(foreign, Key.from_text(OTHER_KEY), pseudo, now_ms))
    finally:
        injector.close()
        other.close()
    expected = {"unsigned": 3, "replay": 1, "bad_signature": 2, "unknown_key": 1}

    delta = world.wait_rejected(before, expected)
    REPORT.reject(delta)
    assert set(delta) == set(expected)
    assert (delta["replay"], delta["bad_signature"], delta["unknown_key"]) == (1, 2, 1)
    trackers = world.api.trackers()
    assert "golf" not in trackers
    assert "hostile-other-key" not in trackers
    assert world.neighbour("golf") is None
    assert trackers["foxtrot"]["state"] == "home"
    assert golf.popen.poll() is None  # B kept announcing, unsigned, all along
    assert world.linkname_problems() == []
