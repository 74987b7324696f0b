"""Tests of the announcer schedule (linkname.announcer)."""

from __future__ import annotations

import itertools
import random

import pytest

from custom_components.linkname.protocol.announcer import (
    ANSWER_DELAY,
    MAX_PENDING_ANSWERS,
    Announcer,
    Transmit,
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
    sent = run(announcer, 6.3)
    assert [t.message.type for _, t in sent] == [QUERY, ANNOUNCE]


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
