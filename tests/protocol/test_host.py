"""Tests of linkname.host: one identity on several interfaces, the name policy.

The endpoints are built but not started: the tests feed datagrams to their
tables and the resulting events to the endpoints' callbacks, and drive the
announcers by hand with an injected clock, so no socket is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from custom_components.linkname.protocol.announcer import (
    FIRST_JITTER,
    PROBE_WAIT,
    TIE_WINDOW,
    Announcer,
    Transmit,
)
from custom_components.linkname.protocol.auth import BadKeyError, Key
from custom_components.linkname.protocol.codec import Message, decode, encode
from custom_components.linkname.protocol.const import (
    ANNOUNCE,
    GOODBYE,
    GROUP,
    PORT,
    QUERY,
)
from custom_components.linkname.protocol.endpoint import Endpoint
from custom_components.linkname.protocol.host import Host
from custom_components.linkname.protocol.table import Event, RxMeta
from tests.netns import Lab, Netns
from tests.peer import Peer

ME = bytes.fromhex("80" * 16)
LOW = bytes(15) + b"\x01"  # smaller than ME
HIGH = b"\xff" * 16  # greater than ME
ATTACKER = bytes(16)  # 00...00: the smallest host ID there is


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_host(name: str = "kitchen", **kwargs: object) -> tuple[Host, Clock]:
    clock = Clock()
    host = Host(
        host_id=ME,
        name=name,
        rng=random.Random(7),
        boot_id=1234,
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )
    return host, clock


def started(host: Host, interface: str, clock: Clock, n: int = 1) -> Endpoint:
    """Add ``interface`` and start its announcer as the endpoint would."""
    endpoint = host.add_interface(interface)
    endpoint.table.ifindex = n
    assert endpoint.announcer is not None
    endpoint.announcer.set_addresses((f"fe80::{n}",), clock.now)
    endpoint.announcer.start(clock.now)
    return endpoint


def heard(
    endpoint: Endpoint,
    host_id: bytes,
    name: str,
    now: float,
    *,
    mtype: int = ANNOUNCE,
    source: str = "fe80::99",
    seq: int = 1,
    ttl: int = 60,
) -> list[Event]:
    """A datagram from another host arrives on ``endpoint``'s interface."""
    assert endpoint.table.ifindex is not None
    if mtype == ANNOUNCE:
        message = Message(
            ANNOUNCE, host_id, 9, seq, ttl, name=name, addresses=(source,)
        )
    else:
        message = Message(mtype, host_id, 9, seq)
    meta = RxMeta(source, 40000, GROUP, PORT, endpoint.table.ifindex, 255)
    events = endpoint.table.datagram_received(encode(message), meta, now, 0)
    assert endpoint.on_event is not None
    for event in events:
        endpoint.on_event(event)
    return events


def poll(endpoint: Endpoint, until: float) -> list[tuple[float, Transmit]]:
    """Everything the announcer sends until ``until``, by its deadlines."""
    announcer = endpoint.announcer
    assert announcer is not None
    out: list[tuple[float, Transmit]] = []
    while (deadline := announcer.next_deadline()) is not None and deadline <= until:
        out.extend((deadline, t) for t in announcer.poll(deadline))
    return out


def names_sent(sent: list[tuple[float, Transmit]]) -> list[str | None]:
    return [t.message.name for _, t in sent if t.message.type == ANNOUNCE]


# -- one identity ---------------------------------------------------------------


def test_interfaces_share_host_id_boot_id_and_one_sequence_space() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock, 1)
    wlan0 = started(host, "wlan0", clock, 2)
    sent: list[Message] = []
    for step in range(1, 400):
        now = clock.now + step * 0.5
        for endpoint in (eth0, wlan0) if step % 2 else (wlan0, eth0):
            assert endpoint.announcer is not None
            sent.extend(t.message for t in endpoint.announcer.poll(now))
    assert len(sent) > 10
    assert {m.host_id for m in sent} == {ME}
    assert {m.boot_id for m in sent} == {1234}
    seqs = [m.seq for m in sent]
    assert seqs == list(range(1, len(sent) + 1))  # no number twice, no gap
    # Both interfaces sent, and their numbers interleave in one space.
    assert eth0.announcer is not None
    assert wlan0.announcer is not None
    assert eth0.announcer.seq == wlan0.announcer.seq == len(sent)
    assert eth0.table is not wlan0.table
    assert eth0.table.own_host_id == wlan0.table.own_host_id == ME


def test_listen_only_host_queries_with_its_identity() -> None:
    host = Host(host_id=ME)
    assert host.name is None
    one, two = host.add_interface("eth0"), host.add_interface("eth1")
    assert one.announcer is None
    assert two.announcer is None
    assert one.table.own_host_id == ME
    with pytest.raises(RuntimeError):
        host.set_name("x")
    # A random host ID when none is given.
    assert Host().host_id != Host().host_id


def test_add_remove_interface() -> None:
    host, _clock = make_host()
    endpoint = host.add_interface("eth0")
    assert dict(host.endpoints) == {"eth0": endpoint}
    with pytest.raises(ValueError, match="already added"):
        host.add_interface("eth0")


async def test_remove_interface_and_close() -> None:
    host, _clock = make_host()
    host.add_interface("eth0")
    host.add_interface("eth1")
    await host.remove_interface("eth0")  # never started: nothing to say
    assert list(host.endpoints) == ["eth1"]
    with pytest.raises(KeyError):
        await host.remove_interface("eth0")
    await host.close()
    assert list(host.endpoints) == []


def test_keys_first_signs_collisions_refused(
    colliding_keys: tuple[Key, Key],
) -> None:
    one = Key.from_text("host-test-key-number-one-0123")
    two = Key.from_text("host-test-key-number-two-0123")
    host = Host(host_id=ME, name="x", keys=[one, two, one])
    assert host.signing_key == one
    endpoint = host.add_interface("eth0")
    assert endpoint.key == one
    assert set(endpoint.table.keys) == {one.key_id, two.key_id}
    a, b = colliding_keys
    with pytest.raises(BadKeyError, match=f"same key ID 0x{a.key_id:04x}"):
        Host(host_id=ME, keys=[a, b])


def test_bad_configuration_is_value_error() -> None:
    with pytest.raises(ValueError, match="host_id"):
        Host(host_id=b"short")
    with pytest.raises(ValueError, match="invalid name"):
        Host(name="bad.name")
    with pytest.raises(ValueError, match="interval"):
        Host(name="ok", interval=1.0)
    host, _ = make_host()
    with pytest.raises(ValueError, match="invalid"):
        host.set_attributes(model="\u202e", os=None, software=None)


def test_set_attributes_reach_every_interface() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock, 1)
    host.set_attributes(
        model="Pi 5", os="Debian 13", software=None, manufacturer="Raspberry Pi"
    )
    late = started(host, "eth1", clock, 2)
    for endpoint in (eth0, late):
        sent = [t for _, t in poll(endpoint, clock.now + 1) if t.message.name]
        assert sent
        assert {
            (t.message.model, t.message.os, t.message.software, t.message.manufacturer)
            for t in sent
        } == {("Pi 5", "Debian 13", None, "Raspberry Pi")}
        for transmit in sent:  # and they encode (the receiver's rules)
            assert decode(encode(transmit.message)) == transmit.message
    with pytest.raises(ValueError, match="invalid manufacturer"):
        host.set_attributes(model=None, os=None, software=None, manufacturer="")
    assert eth0.announcer is not None
    assert eth0.announcer.manufacturer == "Raspberry Pi"  # nothing changed


def test_set_interval_reaches_every_interface_and_validates() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock, 1)
    host.set_interval(30)
    late = started(host, "eth1", clock, 2)
    for endpoint in (eth0, late):
        assert endpoint.announcer is not None
        assert endpoint.announcer.interval == 30
        ttls = {
            t.message.ttl for _, t in poll(endpoint, clock.now + 1) if t.message.name
        }
        assert ttls == {90}  # three intervals (section 5.2)
    with pytest.raises(ValueError, match="interval must be"):
        host.set_interval(0.5)
    assert host.interval == 30
    assert eth0.announcer is not None
    assert eth0.announcer.interval == 30  # nothing changed


def test_a_kept_table_takes_the_host_identity_and_keys(
    colliding_keys: tuple[Key, Key],
) -> None:
    key = colliding_keys[0]
    first, clock = make_host()
    table = started(first, "eth0", clock).table
    table.capacity = 7
    heard(first.endpoints["eth0"], LOW, "printer", clock.now)
    assert len(table) == 1
    # A restart with a key: a new host (same ID), the same table
    second = Host(host_id=HIGH, name="kitchen", keys=[key], clock=clock)
    endpoint = second.add_interface("eth0", table=table)
    assert endpoint.table is table
    assert table.own_host_id == HIGH
    assert table.keys == {key.key_id: key}
    assert endpoint.key is key
    assert table.capacity == 7  # the caller's setting stays
    assert [n.name for n in table] == ["printer"]  # and what it knew
    with pytest.raises(ValueError, match="already added"):
        second.add_interface("eth0", table=table)


# -- names: probe, defend, yield, return ------------------------------------------


def test_first_announcement_after_the_probe_within_250_ms() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    sent = poll(eth0, clock.now + 0.3)
    assert [t.message.type for _, t in sent] == [QUERY, ANNOUNCE]
    when = sent[1][0] - clock.now
    assert PROBE_WAIT <= when <= PROBE_WAIT + FIRST_JITTER
    assert names_sent(sent) == ["kitchen"]
    assert host.claim is not None
    assert host.claim.established


def test_probe_finds_the_name_taken_and_picks_name_2_before_announcing() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    poll(eth0, clock.now + 0.05)  # the QUERY
    # A neighbour that holds "kitchen" answers the QUERY.
    heard(eth0, LOW, "Kitchen", clock.now + 0.08)
    heard(eth0, HIGH, "kitchen-2", clock.now + 0.09)  # taken too
    clock.now += 0.1
    sent = poll(eth0, clock.now + 5)
    # Never announced the held name: the first ANNOUNCE is already NAME-3.
    assert set(names_sent(sent)) == {"kitchen-3"}
    assert host.name == "kitchen-3"
    assert host.configured_name == "kitchen"


def test_established_host_keeps_its_name_against_a_newcomer() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    poll(eth0, clock.now + 5)
    clock.now += 5
    # Host ID 00..00 is the smallest there is: under revision 1 it won.
    for seq in range(1, 4):
        heard(eth0, ATTACKER, "kitchen", clock.now, seq=seq)
        clock.now += 1
    assert host.name == "kitchen"
    sent = poll(eth0, clock.now + 600)
    assert set(names_sent(sent)) == {"kitchen"}


def test_simultaneous_start_smaller_host_id_keeps_the_name() -> None:
    # Both probed at the same time and announced within the tie window.
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    sent = poll(eth0, clock.now + 0.25)
    first = sent[-1][0]
    clock.now = first + TIE_WINDOW / 2
    heard(eth0, LOW, "kitchen", clock.now)
    assert host.name == "kitchen-2"
    sent = poll(eth0, clock.now + 3)
    assert set(names_sent(sent)) == {"kitchen-2"}
    assert len(names_sent(sent)) == 3  # announced at once, as a burst


def test_simultaneous_start_greater_host_id_yields_to_us() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    first = poll(eth0, clock.now + 0.25)[-1][0]
    clock.now = first + TIE_WINDOW / 2
    heard(eth0, HIGH, "kitchen", clock.now)
    assert host.name == "kitchen"


def test_claim_after_the_tie_window_does_not_win_even_with_smaller_id() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    first = poll(eth0, clock.now + 0.25)[-1][0]
    clock.now = first + TIE_WINDOW + 0.01
    heard(eth0, ATTACKER, "kitchen", clock.now)
    assert host.name == "kitchen"


def test_returns_to_configured_name_after_goodbye() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    heard(eth0, LOW, "kitchen", clock.now + 0.05)
    clock.now += 0.3
    poll(eth0, clock.now)
    assert host.name == "kitchen-2"
    clock.now += 10
    heard(eth0, LOW, "", clock.now, mtype=GOODBYE, seq=2)
    assert host.name == "kitchen"
    sent = poll(eth0, clock.now + 3)
    assert names_sent(sent) == ["kitchen"] * 3  # announced at once


def test_returns_to_configured_name_after_ttl_or_rename() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock)
    heard(eth0, LOW, "kitchen", clock.now + 0.05, ttl=30)
    heard(eth0, HIGH, "kitchen", clock.now + 0.06, ttl=90)
    clock.now += 0.3
    poll(eth0, clock.now)
    assert host.name == "kitchen-2"
    # One holder's TTL runs out: the other still holds it.
    clock.now += 31
    for event in eth0.table.expire(clock.now):
        assert eth0.on_event is not None
        eth0.on_event(event)
    assert host.name == "kitchen-2"
    # The other renames away: free again.
    heard(eth0, HIGH, "pantry", clock.now, seq=2, ttl=90)
    assert host.name == "kitchen"


def test_name_decision_covers_all_interfaces() -> None:
    host, clock = make_host()
    eth0 = started(host, "eth0", clock, 1)
    wlan0 = started(host, "wlan0", clock, 2)
    # The holder is heard on wlan0 only; eth0's probe ends first.
    heard(wlan0, LOW, "kitchen", clock.now + 0.05)
    sent0 = poll(eth0, clock.now + 3)
    sent1 = poll(wlan0, clock.now + 3)
    assert set(names_sent(sent0)) == {"kitchen-2"}
    assert set(names_sent(sent1)) == {"kitchen-2"}
    # The holder leaves (heard on wlan0): back to "kitchen" on both.
    clock.now += 10
    heard(wlan0, LOW, "", clock.now, mtype=GOODBYE, seq=2)
    assert set(names_sent(poll(eth0, clock.now + 3))) == {"kitchen"}
    assert set(names_sent(poll(wlan0, clock.now + 3))) == {"kitchen"}


def test_set_name_takes_name_n_if_held() -> None:
    names: list[tuple[str, str, bytes | None]] = []
    host, clock = make_host(on_name=lambda *a: names.append(a))
    eth0 = started(host, "eth0", clock)
    poll(eth0, clock.now + 3)
    heard(eth0, LOW, "pantry", clock.now + 3)
    assert host.set_name("pantry") == "pantry-2"
    assert host.set_name("cellar") == "cellar"
    assert names == [("kitchen", "pantry-2", None), ("pantry-2", "cellar", None)]


def test_events_reach_the_callback_with_the_interface() -> None:
    seen: list[tuple[str, str]] = []
    host, clock = make_host(on_event=lambda i, e: seen.append((i, type(e).__name__)))
    eth0 = started(host, "eth0", clock)
    heard(eth0, LOW, "pantry", clock.now)
    assert seen == [("eth0", "Joined")]
    assert [n.name for _, n in host.find("PANTRY")] == ["pantry"]
    assert host.holders("pantry") == [LOW]


def test_endpoint_constructor_without_host_still_works() -> None:
    # What the Home Assistant coordinator does today.
    announcer = Announcer(host_id=ME, name="ha")
    endpoint = Endpoint("eth0", announcer=announcer)
    assert endpoint.table.own_host_id == ME
    endpoint.set_name("ha-2")
    assert announcer.name == "ha-2"


# -- on a real link ---------------------------------------------------------------


@pytest.mark.netns
@pytest.mark.usefixtures("socket_enabled")
async def test_two_interfaces_on_one_link_send_one_identity(fast_lab: Lab) -> None:
    """A host with eth0 and eth1 on one bridge: a listener hears one host ID,
    one boot ID and one sequence space from two source addresses; removing
    eth1 says GOODBYE there and eth0 announces at once."""
    host_ns, listener_ns = fast_lab.netns("h"), fast_lab.netns("l")
    switch = fast_lab.bridge([host_ns, listener_ns])
    fast_lab.veth(switch, "p9", host_ns, "eth1", up=False)
    switch.ip("link", "set", "p9", "master", "br0")
    switch.set_link("p9", True)
    host_ns.set_link("eth1", True)
    sources = {host_ns.link_local("eth0"), host_ns.link_local("eth1")}
    listener = Peer(listener_ns, bytes(range(16)), "listener")
    host = Host(name="dual", interval=5.0)
    # The endpoints follow their interfaces by name: in the host's namespace.
    with host_ns.entered():
        try:
            await _dual(host, host_ns, listener, sources)
        finally:
            await host.close()
            listener.close()


async def _dual(host: Host, host_ns: Netns, listener: Peer, sources: set[str]) -> None:
    for interface in ("eth0", "eth1"):
        await host.add_interface(interface).start()
    heard: list[tuple[Message, str]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.6  # the start bursts of both interfaces
    while loop.time() < deadline:
        with contextlib.suppress(TimeoutError):
            message, meta, _ = await listener.recv(
                limit=max(0.01, deadline - loop.time())
            )
            heard.append((message, meta.source))
    announces = [(m, src) for m, src in heard if m.type == ANNOUNCE]
    assert {src for _, src in announces} == sources
    assert len(announces) == 6  # three per interface
    assert {m.host_id for m, _ in heard} == {host.host_id}
    assert {m.boot_id for m, _ in heard} == {host.boot_id}
    seqs = [m.seq for m, _ in heard]
    assert len(set(seqs)) == len(seqs)  # one space: no number twice
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    assert {m.name for m, _ in announces} == {"dual"}
    # Remove eth1 at run time: GOODBYE from eth1, then eth0 at once.
    listener.drain()
    await host.remove_interface("eth1")
    goodbye, meta, _ = await listener.recv_type(GOODBYE)
    assert meta.source == host_ns.link_local("eth1")
    again, meta, _ = await listener.recv_type(ANNOUNCE, limit=1.0)
    assert meta.source == host_ns.link_local("eth0")
    assert again.seq > goodbye.seq
    assert again.boot_id == host.boot_id


def test_rename_false_keeps_the_configured_name() -> None:
    host, clock = make_host(rename=False)
    eth0 = started(host, "eth0", clock)
    heard(eth0, LOW, "kitchen", clock.now + 0.05)  # held before the probe ends
    sent = poll(eth0, clock.now + 0.3)
    assert names_sent(sent) == ["kitchen"]
    clock.now = sent[-1][0] + TIE_WINDOW / 2
    heard(eth0, ATTACKER, "kitchen", clock.now)  # a tie it would lose
    assert host.name == "kitchen"
