"""Tests of the announcer schedule (linkname.announcer)."""

from __future__ import annotations

import itertools
import random

import pytest

from custom_components.linkname.protocol.announcer import (
    ANSWER_DELAY,
    FIRST_JITTER,
    MAX_PENDING_ANSWERS,
    PROBE_WAIT,
    TIE_WINDOW,
    Announcer,
    NameClaim,
    SequenceSpace,
    Transmit,
    suffixed_name,
    validate_attribute,
)
from custom_components.linkname.protocol.codec import Message, decode, encode
from custom_components.linkname.protocol.const import (
    ANNOUNCE,
    FLAG_RESPONSE,
    GOODBYE,
    GROUP,
    PORT,
    QUERY,
)
from custom_components.linkname.protocol.table import RxMeta

HOST = bytes(range(16))


def make(interval: float = 60.0, seed: int = 1) -> Announcer:
    return Announcer(
        host_id=HOST,
        name="ha",
        addresses=("fe80::1", "fd00::1"),
        interval=interval,
        rng=random.Random(seed),
        boot_id=42,
    )


def run(
    announcer: Announcer, until: float, step: float = 0.01
) -> list[tuple[float, Transmit]]:
    """Drive the announcer like an event loop would, by its deadlines."""
    out: list[tuple[float, Transmit]] = []
    while True:
        deadline = announcer.next_deadline()
        if deadline is None or deadline > until:
            return out
        out.extend((deadline, t) for t in announcer.poll(deadline))


def query(
    name: str | None = None, source: str = "fe80::9", port: int = 5555
) -> tuple[Message, RxMeta]:
    return (
        Message(QUERY, bytes(16), 1, 1, query_name=name),
        RxMeta(source, port, GROUP, PORT, 3, 255),
    )


def test_start_sends_query_then_three_announcements_with_jitter() -> None:
    announcer = make()
    announcer.start(100.0)
    sent = run(announcer, 105.0)
    kinds = [t.message.type for _, t in sent]
    assert kinds == [QUERY, ANNOUNCE, ANNOUNCE, ANNOUNCE]
    assert sent[0][1].message.query_name is None  # solicits everyone
    times = [when for when, t in sent if t.message.type == ANNOUNCE]
    for when, nominal in zip(times, (100.0, 101.0, 102.0), strict=True):
        assert nominal <= when <= nominal + 0.25
    assert all(t.destination is None for _, t in sent)
    seqs = [t.message.seq for _, t in sent]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    # Every message encodes and decodes: the schedule only produces valid ones.
    for _, t in sent:
        assert decode(encode(t.message)) == t.message


def test_steady_state_interval_jitter_and_ttl() -> None:
    announcer = make(interval=60.0)
    assert announcer.ttl == 180
    announcer.start(0.0)
    sent = run(announcer, 3600.0)
    times = [when for when, t in sent if t.message.type == ANNOUNCE]
    gaps = [b - a for a, b in itertools.pairwise(times[2:])]
    assert len(gaps) > 50
    assert all(54.0 <= gap <= 66.0 for gap in gaps)
    assert len({round(g, 3) for g in gaps}) > 10  # jittered, not a fixed period
    assert all(t.message.ttl == 180 for _, t in sent if t.message.type == ANNOUNCE)


def test_query_answered_by_unicast_after_random_delay() -> None:
    announcer = make()
    announcer.start(0.0)
    run(announcer, 10.0)
    msg, rx = query("HA")  # names compare by casefold
    announcer.query_received(msg, rx, 20.0)
    sent = run(announcer, 21.0)
    assert len(sent) == 1
    when, transmit = sent[0]
    assert ANSWER_DELAY[0] <= when - 20.0 <= ANSWER_DELAY[1]
    assert transmit.destination == ("fe80::9", 5555)
    assert transmit.message.flags & FLAG_RESPONSE
    assert transmit.message.type == ANNOUNCE


def test_query_for_other_name_or_too_often_is_not_answered() -> None:
    announcer = make()
    announcer.start(0.0)
    run(announcer, 10.0)
    announcer.query_received(*query("other"), 20.0)
    assert run(announcer, 21.0) == []
    announcer.query_received(*query(None), 30.0)
    announcer.query_received(*query(None), 30.5)  # same querier within 1 s
    assert len(run(announcer, 31.0)) == 1
    announcer.query_received(*query(None), 31.6)
    assert len(run(announcer, 32.0)) == 1


def test_pending_answers_are_capped() -> None:
    announcer = make()
    announcer.start(0.0)
    run(announcer, 10.0)
    for n in range(200):
        announcer.query_received(*query(None, source=f"fe80::{n + 1:x}"), 20.0)
    assert len(run(announcer, 21.0)) == MAX_PENDING_ANSWERS


def test_announce_now_is_rate_limited() -> None:
    announcer = make()
    assert not announcer.announce_now(0.0)  # not started
    announcer.start(0.0)
    run(announcer, 10.0)
    assert announcer.announce_now(20.0)
    assert not announcer.announce_now(20.5)
    sent = run(announcer, 20.0)
    assert [t.message.type for _, t in sent] == [ANNOUNCE]
    assert announcer.announce_now(21.0)


def test_rename_and_address_change_reannounce() -> None:
    announcer = make()
    announcer.start(0.0)
    run(announcer, 10.0)
    announcer.set_name("ha-2", 20.0)
    sent = run(announcer, 23.0)
    assert len(sent) == 3
    assert all(t.message.name == "ha-2" for _, t in sent)
    announcer.set_addresses(("fe80::2",), 30.0)
    sent = run(announcer, 33.0)
    assert [t.message.addresses for _, t in sent] == [("fe80::2",)] * 3
    with pytest.raises(ValueError, match="invalid name"):
        announcer.set_name("bad.name", 40.0)


def test_no_address_means_no_sends_and_no_spin() -> None:
    announcer = Announcer(host_id=HOST, name="ha", rng=random.Random(1))
    announcer.start(0.0)
    assert announcer.next_deadline() is None
    assert announcer.poll(5.0) == []
    announcer.set_addresses(("fe80::1",), 6.0)
    # What fell due meanwhile goes out at once, as one QUERY and one ANNOUNCE.
    assert [t.message.type for t in announcer.poll(6.0)] == [QUERY, ANNOUNCE]
    assert run(announcer, 6.3) == []


def test_stop_gives_two_goodbyes_and_silences() -> None:
    announcer = make()
    announcer.start(0.0)
    run(announcer, 10.0)
    byes = announcer.stop()
    assert [t.message.type for t in byes] == [GOODBYE, GOODBYE]
    assert byes[0].message.ttl == 0
    assert byes[1].message.seq == byes[0].message.seq + 1
    assert announcer.next_deadline() is None
    assert announcer.stop() == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="host_id"):
        Announcer(host_id=b"short", name="x")
    with pytest.raises(ValueError, match="interval"):
        Announcer(host_id=HOST, name="x", interval=1.0)
    with pytest.raises(ValueError, match="invalid name"):
        Announcer(host_id=HOST, name="")


# -- revision 2: probe, shared sequence space, timing, answer limits -----------


def test_probe_delays_first_announcement_and_decides_the_name() -> None:
    decided: list[float] = []

    def decide(announcer: Announcer, now: float) -> str:
        decided.append(now)
        return "ha-2"

    announcer = make()
    announcer.decide_name = decide
    announcer.start(100.0)
    assert announcer.probing
    # While probing: no answers, no "announce now", no burst on a change.
    announcer.query_received(*query(None), 100.05)
    assert not announcer.announce_now(100.05)
    announcer.set_name("other", 100.06)
    sent = run(announcer, 100.3)
    assert [t.message.type for _, t in sent] == [QUERY, ANNOUNCE]
    assert PROBE_WAIT <= sent[1][0] - 100.0 <= PROBE_WAIT + FIRST_JITTER
    assert sent[1][1].message.name == "ha-2"
    assert decided == [sent[1][0]]
    assert not announcer.probing
    sent = run(announcer, 103.0)
    assert [t.message.name for _, t in sent] == ["ha-2", "ha-2"]
    assert len(decided) == 1  # once per (re)start
    announcer.restart(200.0)
    run(announcer, 201.0)
    assert len(decided) == 2


def test_sequence_space_is_shared_and_wraps() -> None:
    space = SequenceSpace(0xFFFFFFFE)
    one = Announcer(host_id=HOST, name="a", addresses=("fe80::1",), sequence=space)
    two = Announcer(host_id=HOST, name="a", addresses=("fe80::2",), sequence=space)
    seqs = [one.make_query().seq, two.make_query().seq, one.make_query().seq]
    assert seqs == [0xFFFFFFFF, 0, 1]
    assert one.seq == two.seq == 1


def test_first_periodic_announcement_one_interval_after_the_burst() -> None:
    announcer = make(interval=60.0)
    announcer.start(0.0)
    sent = run(announcer, 200.0)
    times = [when for when, t in sent if t.message.type == ANNOUNCE]
    assert 2.0 <= times[2] <= 2.25  # the last of the start burst
    assert 54.0 <= times[3] - times[2] <= 66.0


def test_change_burst_resets_the_periodic_timer() -> None:
    announcer = make(interval=60.0)
    announcer.start(0.0)
    run(announcer, 40.0)  # the first periodic one is due at 56..68 s
    announcer.set_name("ha-2", 40.0)
    sent = run(announcer, 200.0)
    times = [when for when, t in sent if t.message.type == ANNOUNCE]
    assert [40 <= t <= 42.25 for t in times[:3]] == [True] * 3
    # Nothing between the burst and one interval after its last ANNOUNCE.
    assert 54.0 <= times[3] - times[2] <= 66.0
    # "Announce now" does not reset it: it is one extra ANNOUNCE.
    announcer2 = make(interval=60.0)
    announcer2.start(0.0)
    run(announcer2, 30.0)
    periodic = announcer2.next_deadline()
    assert announcer2.announce_now(30.0)
    run(announcer2, 30.0)
    assert announcer2.next_deadline() == periodic


def test_answer_limit_is_per_address_and_port() -> None:
    announcer = make()
    announcer.start(0.0)
    run(announcer, 10.0)
    # Two programs on one host (same address, two ports): both answered.
    announcer.query_received(*query(None, port=5555), 20.0)
    announcer.query_received(*query(None, port=6666), 20.1)
    sent = run(announcer, 21.0)
    assert sorted(t.destination for _, t in sent) == [  # type: ignore[type-var]
        ("fe80::9", 5555),
        ("fe80::9", 6666),
    ]
    # A QUERY for another name is not answered and does not count.
    announcer.query_received(*query("other", port=7777), 30.0)
    announcer.query_received(*query("ha", port=7777), 30.2)
    assert [t.destination for _, t in run(announcer, 31.0)] == [("fe80::9", 7777)]
    # The same (address, port) again within a second: not answered.
    announcer.query_received(*query("ha", port=7777), 30.9)
    assert run(announcer, 32.0) == []


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("model", ""),
        ("model", "x" * 65),
        ("os", "tab\there"),
        ("software", "evil\u202eexe"),
        ("os", " leading"),
        ("software", "e\u0301"),  # not NFC
    ],
)
def test_bad_attributes_are_refused_at_construction(field: str, text: str) -> None:
    with pytest.raises(ValueError, match=f"invalid {field}"):
        Announcer(host_id=HOST, name="x", **{field: text})  # type: ignore[arg-type]
    assert validate_attribute("model", "ü" * 32) == "ü" * 32  # 64 bytes


# -- NameClaim -------------------------------------------------------------------

ME = bytes.fromhex("80" * 16)


def claim_with(held: dict[str, list[bytes]]) -> NameClaim:
    return NameClaim(ME, "pi", lambda name: held.get(name.casefold(), []))


def test_claim_probe_picks_the_first_free_name() -> None:
    held: dict[str, list[bytes]] = {"pi": [bytes(16)], "pi-2": [b"\x01" * 16]}
    claim = claim_with(held)
    assert not claim.established
    assert claim.contested(bytes(16), 1.0) is None  # probing: settle decides
    assert claim.settle(1.0) == "pi-3"
    assert claim.established
    assert claim.settle(5.0) == "pi-3"  # fixed once established
    held["pi-3"] = [ME]  # ourselves: not a holder
    assert claim.free_name() == "pi-3"


def test_claim_defends_yields_only_in_the_tie_window_returns() -> None:
    held: dict[str, list[bytes]] = {}
    claim = claim_with(held)
    assert claim.settle(10.0) == "pi"
    held["pi"] = [bytes(16)]
    assert claim.contested(bytes(16), 10.0 + TIE_WINDOW + 0.001) is None
    assert claim.contested(b"\xff" * 16, 10.1) is None  # greater: it yields
    assert claim.contested(ME, 10.1) is None
    assert claim.contested(bytes(16), 10.1) == "pi-2"  # smaller, simultaneous
    assert claim.name == "pi-2"
    assert claim.released(20.0) is None  # still held
    held["pi"] = []
    assert claim.released(30.0) == "pi"
    assert claim.released(31.0) is None  # nothing to do


def test_suffixed_name_fits_63_bytes_at_character_boundaries() -> None:
    assert suffixed_name("pi", 2) == "pi-2"
    long = "ü" * 31  # 62 bytes
    out = suffixed_name(long, 12)
    assert out == "ü" * 30 + "-12"
    assert len(out.encode()) <= 63
    assert suffixed_name(" " * 5, 2) == "host-2"
    claim = NameClaim(ME, "x", lambda name: [bytes(16)])  # every name is held
    assert claim.settle(0.0) == f"linkname-{ME.hex()[:12]}"
