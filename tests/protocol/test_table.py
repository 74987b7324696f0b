"""Tests of the neighbour table state machine (linkname.table)."""

from __future__ import annotations

import heapq
import tracemalloc

import pytest

from custom_components.linkname.protocol import table as table_module
from custom_components.linkname.protocol.auth import Key, pseudo_header, sign
from custom_components.linkname.protocol.codec import Message, Reason, encode
from custom_components.linkname.protocol.const import (
    ANNOUNCE,
    GOODBYE,
    GROUP,
    PORT,
    QUERY,
)
from custom_components.linkname.protocol.table import (
    AddressChanged,
    Change,
    Conflict,
    Joined,
    Left,
    LeftReason,
    Neighbour,
    NeighbourTable,
    Queried,
    Refreshed,
    Rejected,
    Renamed,
    RxMeta,
    Updated,
)

WALL = 1_800_000_000_000  # ms, an arbitrary fixed "now" for the auth window
KEY = Key.from_text("table-test-key-0123456789")


def hid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def lla(n: int) -> str:
    return f"fe80::{n:x}"


def meta(source: str = "fe80::1", *, hop_limit: int = 255, ifindex: int = 3) -> RxMeta:
    return RxMeta(source, 40000, GROUP, PORT, ifindex, hop_limit)


def announce(
    n: int = 1,
    *,
    name: str = "pi",
    seq: int = 1,
    boot: int = 7,
    ttl: int = 180,
    addresses: tuple[str, ...] | None = None,
    model: str | None = None,
) -> Message:
    return Message(
        ANNOUNCE,
        hid(n),
        boot,
        seq,
        ttl,
        name=name,
        addresses=addresses or (lla(n),),
        model=model,
    )


def goodbye(n: int = 1, *, seq: int = 2, boot: int = 7) -> Message:
    return Message(GOODBYE, hid(n), boot, seq)


def feed(
    table: NeighbourTable,
    message: Message,
    now: float = 0.0,
    *,
    source: str | None = None,
    hop_limit: int = 255,
    key: Key | None = None,
    wall: int = WALL,
) -> list[object]:
    src = source or (message.addresses[0] if message.addresses else lla(1))
    data = encode(message)
    rx = meta(src, hop_limit=hop_limit)
    if key is not None:
        pseudo = pseudo_header(rx.source, rx.source_port, rx.destination, PORT)
        data = sign(data, key, pseudo, wall)
    return list(table.datagram_received(data, rx, now, WALL))


def test_join_refresh_and_ttl_expiry() -> None:
    table = NeighbourTable()
    events = feed(table, announce(1, ttl=180), now=10.0)
    assert [type(e) for e in events] == [Joined]
    assert table.get(hid(1)) is not None
    assert table.next_deadline() == 190.0

    events = feed(table, announce(1, seq=2, ttl=180), now=70.0)
    assert [type(e) for e in events] == [Refreshed]
    assert table.next_deadline() == 250.0
    assert table.expire(249.9) == []
    left = table.expire(250.0)
    assert len(left) == 1
    assert isinstance(left[0], Left)
    assert left[0].reason == "expired"
    assert len(table) == 0
    assert table.next_deadline() is None


def test_goodbye_removes_at_once_and_second_goodbye_is_quiet() -> None:
    table = NeighbourTable()
    feed(table, announce(1), now=0.0)
    events = feed(table, goodbye(1, seq=2), now=1.0, source=lla(1))
    assert len(events) == 1
    assert isinstance(events[0], Left)
    assert events[0].reason == "goodbye"
    assert feed(table, goodbye(1, seq=3), now=1.1, source=lla(1)) == []
    assert len(table) == 0
    assert table.next_deadline() is None


def test_rename_keeps_identity_and_address_change() -> None:
    table = NeighbourTable()
    feed(table, announce(1, name="pi"))
    events = feed(
        table,
        announce(1, name="kitchen", seq=2, addresses=(lla(1), "fd00::5")),
        now=5.0,
    )
    kinds = [type(e) for e in events]
    assert kinds == [Renamed, AddressChanged]
    renamed = events[0]
    assert isinstance(renamed, Renamed)
    assert renamed.old_name == "pi"
    assert renamed.neighbour.host_id == hid(1)
    assert len(table) == 1
    # A new link-local address (new NIC, or a second interface): same entry,
    # a second path; the old one goes when it has not been heard for its TTL.
    events = feed(
        table, announce(1, name="kitchen", seq=3, addresses=("fe80::99",)), now=6.0
    )
    assert [type(e) for e in events] == [AddressChanged]
    neighbour = table.get(hid(1))
    assert neighbour is not None
    assert neighbour.addresses == (lla(1), "fd00::5", "fe80::99")
    assert table.find("KITCHEN") == [neighbour]
    feed(table, announce(1, name="kitchen", seq=4, addresses=("fe80::99",)), now=100.0)
    events = table.expire(185.0)  # fe80::1 last heard at 5.0, TTL 180
    assert [type(e) for e in events] == [AddressChanged]
    assert neighbour.link_local == "fe80::99"
    assert neighbour.addresses == ("fe80::99",)
    assert table.get(hid(1)) is neighbour


def test_attribute_update() -> None:
    table = NeighbourTable()
    feed(table, announce(1))
    events = feed(table, announce(1, seq=2, model="Pi 5", ttl=90))
    assert len(events) == 1
    assert isinstance(events[0], Updated)
    assert events[0].changed == {"model", "ttl"}


def test_conflict_reported_once_per_name_with_its_holder() -> None:
    table = NeighbourTable()
    feed(table, announce(2, name="Pi"), now=0.0)
    events = feed(table, announce(1, name="pi"), now=1.0)
    conflicts = [e for e in events if isinstance(e, Conflict)]
    # Host 2 announced the name first: it holds it, whatever the host IDs.
    assert conflicts == [Conflict("pi", (hid(1), hid(2)), holder=hid(2))]
    assert [n.host_id for n in table.find("pi")] == [hid(2), hid(1)]
    holder = table.holder("PI")
    assert holder is not None
    assert holder.host_id == hid(2)
    assert table.holder("nobody") is None
    assert table.name_conflicts("pi", hid(1))[0].host_id == hid(2)
    assert table.conflicts() == [Conflict("Pi", (hid(1), hid(2)), holder=hid(2))]
    # Re-announcing does not report it again, nor does a third claimant.
    events = feed(table, announce(1, name="pi", seq=2), now=2.0)
    assert not any(isinstance(e, Conflict) for e in events)
    events = feed(table, announce(3, name="PI"), now=3.0)
    assert not any(isinstance(e, Conflict) for e in events)
    # The holder leaves: the next-oldest claimant holds it, and that is news.
    events = feed(table, goodbye(2, seq=3), now=4.0, source=lla(2))
    assert [type(e) for e in events] == [Left, Conflict]
    assert events[1] == Conflict("pi", (hid(1), hid(2)), holder=hid(1))
    # Down to one host: no conflict; when a second returns, it is reported.
    feed(table, goodbye(3, seq=3), now=5.0, source=lla(3))
    assert table.conflicts() == []
    events = feed(table, announce(3, name="pi", seq=4), now=6.0)
    assert [e for e in events if isinstance(e, Conflict)] == [
        Conflict("pi", (hid(1), hid(3)), holder=hid(1))
    ]


def test_rename_moves_between_name_groups() -> None:
    table = NeighbourTable()
    feed(table, announce(1, name="pi"), now=0.0)
    feed(table, announce(2, name="other"), now=1.0)
    # Host 2 takes "pi": a conflict, host 1 holds it.
    events = feed(table, announce(2, name="PI", seq=2), now=2.0)
    assert [type(e) for e in events] == [Renamed, Conflict]
    assert events[1] == Conflict("PI", (hid(1), hid(2)), holder=hid(1))
    assert table.holder("other") is None
    # Another spelling of the same name: renamed, same group, nothing new.
    events = feed(table, announce(2, name="Pi", seq=3), now=3.0)
    assert [type(e) for e in events] == [Renamed]
    # Host 1 renames away: host 2 is alone with "pi", no conflict left.
    events = feed(table, announce(1, name="kitchen", seq=2), now=4.0)
    assert [type(e) for e in events] == [Renamed]
    assert table.conflicts() == []
    assert [n.host_id for n in table.find("pi")] == [hid(2)]
    assert [n.host_id for n in table.find("KITCHEN")] == [hid(1)]


def test_left_reasons_are_an_enum_equal_to_the_old_strings() -> None:
    table = NeighbourTable()
    feed(table, announce(1, ttl=10, name="a"), now=0.0)
    feed(table, announce(2, name="b"), now=0.0)
    feed(table, announce(3, name="c"), now=0.0)
    [expired] = table.expire(10.0)
    [bye] = feed(table, goodbye(2), now=11.0, source=lla(2))
    [removed] = table.remove(hid(3))
    reasons = [e.reason for e in (expired, bye, removed)]  # type: ignore[attr-defined]
    assert reasons == [LeftReason.EXPIRED, LeftReason.GOODBYE, LeftReason.REMOVED]
    assert reasons == ["expired", "goodbye", "removed"]
    assert all(isinstance(r, LeftReason) for r in reasons)


def test_updated_reports_changes_as_an_enum() -> None:
    table = NeighbourTable()
    feed(table, announce(1))
    msg = announce(1, seq=2)._replace(manufacturer="Acme", os="Debian")
    [event] = feed(table, msg)
    assert isinstance(event, Updated)
    assert event.changed == {Change.MANUFACTURER, Change.OS}
    assert event.changed == {"manufacturer", "os"}
    assert event.neighbour.manufacturer == "Acme"
    # Dropping the attribute again is a change too.
    [event] = feed(table, announce(1, seq=3)._replace(os="Debian"))
    assert isinstance(event, Updated)
    assert event.changed == {Change.MANUFACTURER}
    assert event.neighbour.manufacturer is None


def test_out_of_order_and_replayed_sequence_unsigned() -> None:
    table = NeighbourTable()
    feed(table, announce(1, seq=10))
    for seq in (10, 9, 1):
        events = feed(table, announce(1, seq=seq, name="evil"))
        assert isinstance(events[0], Rejected)
        assert events[0].reason is Reason.STALE_SEQUENCE
    assert table.get(hid(1)).name == "pi"  # type: ignore[union-attr]
    assert table.rejected[Reason.STALE_SEQUENCE] == 3
    # A stale GOODBYE does not remove the host either.
    assert isinstance(feed(table, goodbye(1, seq=5), source=lla(1))[0], Rejected)
    assert len(table) == 1
    # Serial-number wrap-around is newer, and a new boot ID is a restart.
    assert isinstance(feed(table, announce(1, seq=0x80000000))[0], Refreshed)
    assert isinstance(feed(table, announce(1, seq=0xFFFFFFFF))[0], Refreshed)
    assert isinstance(feed(table, announce(1, seq=1))[0], Refreshed)
    assert isinstance(feed(table, announce(1, seq=1, boot=8))[0], Refreshed)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"hop_limit": 64}, Reason.HOP_LIMIT),
        ({"source": "2001:db8::1"}, Reason.NOT_LINK_LOCAL),
        ({"source": "fe80::2"}, Reason.SOURCE_MISMATCH),
    ],
)
def test_receiver_drop_rules(kwargs: dict[str, object], reason: Reason) -> None:
    table = NeighbourTable()
    events = feed(table, announce(1), **kwargs)  # type: ignore[arg-type]
    assert len(events) == 1
    assert isinstance(events[0], Rejected)
    assert events[0].reason is reason
    assert table.rejected[reason] == 1
    assert len(table) == 0


def test_wrong_interface_and_malformed_are_counted() -> None:
    table = NeighbourTable(ifindex=5)
    data = encode(announce(1))
    events = table.datagram_received(data, meta(lla(1), ifindex=3), 0.0, WALL)
    assert events == [Rejected(Reason.WRONG_INTERFACE, lla(1), "ifindex 3")]
    events = table.datagram_received(
        b"LN\x02" + data[3:], meta(lla(1), ifindex=5), 0, WALL
    )
    assert isinstance(events[0], Rejected)
    assert events[0].reason is Reason.UNSUPPORTED_VERSION
    assert table.rejected == {Reason.WRONG_INTERFACE: 1, Reason.UNSUPPORTED_VERSION: 1}
    assert len(table) == 0


def test_own_messages_are_looped_not_neighbours() -> None:
    table = NeighbourTable(own_host_id=hid(1))
    assert feed(table, announce(1)) == []
    assert table.looped == 1
    assert len(table) == 0


def test_query_is_passed_on() -> None:
    table = NeighbourTable()
    query = Message(QUERY, hid(4), 1, 1, query_name="pi")
    events = feed(table, query, source=lla(4))
    assert len(events) == 1
    assert isinstance(events[0], Queried)
    assert events[0].message.query_name == "pi"


def test_table_cap_and_per_source_rate() -> None:
    table = NeighbourTable(capacity=50, new_per_source_per_minute=10)
    # One source inventing host IDs is limited to 10 new entries a minute.
    results = [
        feed(table, announce(n, name=f"h{n}", addresses=(lla(1),)))
        for n in range(1, 30)
    ]
    assert sum(isinstance(r[0], Joined) for r in results) == 10
    assert table.rejected[Reason.RATE_LIMITED] == 19
    # A minute later the bucket has refilled.
    assert isinstance(
        feed(table, announce(99, addresses=(lla(1),)), now=60.0)[0], Joined
    )
    # Many sources: the cap holds, existing entries are never evicted.
    for n in range(100, 200):
        feed(table, announce(n, name=f"h{n}"), now=61.0)
    assert len(table) == 50
    assert table.rejected[Reason.TABLE_FULL] == 100 - (50 - 11)
    assert table.get(hid(1)) is not None
    # Known hosts still refresh when the table is full.
    assert isinstance(
        feed(table, announce(1, seq=5, name="h1", addresses=(lla(1),)), 62.0)[0],
        Refreshed,
    )


def test_flood_of_100k_names_keeps_memory_bounded() -> None:
    table = NeighbourTable(capacity=1024)
    tracemalloc.start()
    try:
        for n in range(100_000):
            # Each datagram from its own (spoofed) source to defeat the limiter.
            source = f"fe80::{n >> 16:x}:{n & 0xFFFF:x}"
            msg = announce(n + 1, name=f"flood{n}", addresses=(source,))
            table.datagram_received(encode(msg), meta(source), 0.0, WALL)
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table) == 1024
    assert table.rejected[Reason.TABLE_FULL] == 100_000 - 1024
    assert current < 8 * 1024 * 1024  # bounded: entries + limiter, not 100k of either
    assert len(table._limiter.buckets) <= 4096


def test_signed_mode_accepts_only_good_signatures() -> None:
    table = NeighbourTable(keys=[KEY])
    assert table.signed_mode
    # Unsigned.
    events = feed(table, announce(1))
    assert isinstance(events[0], Rejected)
    assert events[0].reason is Reason.UNSIGNED
    # Wrong key (unknown key ID) and right key ID with a wrong secret.
    other = Key.from_text("another-key-0123456789")
    assert feed(table, announce(1), key=other)[0].reason is Reason.UNKNOWN_KEY  # type: ignore[attr-defined]
    forged = Key(b"x" * 20, KEY.key_id)
    assert feed(table, announce(1), key=forged)[0].reason is Reason.BAD_SIGNATURE  # type: ignore[attr-defined]
    assert len(table) == 0
    # Good.
    events = feed(table, announce(1, seq=1), key=KEY)
    assert isinstance(events[0], Joined)
    assert events[0].neighbour.signed
    # Replay of the same datagram, and an old timestamp.
    assert feed(table, announce(1, seq=1), key=KEY)[0].reason is Reason.REPLAY  # type: ignore[attr-defined]
    stale = feed(table, announce(1, seq=2), key=KEY, wall=WALL - 61_000)
    assert stale[0].reason is Reason.STALE_TIMESTAMP  # type: ignore[attr-defined]
    assert isinstance(
        feed(table, announce(1, seq=2), key=KEY, wall=WALL + 1)[0], Refreshed
    )
    # A signed GOODBYE works; an unsigned one is refused.
    assert feed(table, goodbye(1, seq=3), source=lla(1))[0].reason is Reason.UNSIGNED  # type: ignore[attr-defined]
    assert isinstance(
        feed(table, goodbye(1, seq=3), source=lla(1), key=KEY, wall=WALL + 2)[0], Left
    )
    assert table.rejected[Reason.UNSIGNED] == 2


def test_signed_packet_replayed_from_another_address_fails() -> None:
    table = NeighbourTable(keys=[KEY])
    msg = announce(1)
    rx = meta(lla(1))
    data = sign(encode(msg), KEY, pseudo_header(lla(1), 40000, GROUP, PORT), WALL)
    # The attacker re-sends the captured bytes from its own address and port.
    moved = RxMeta(lla(1), 40001, GROUP, PORT, 3, 255)
    assert (
        table.datagram_received(data, moved, 0, WALL)[0].reason is Reason.BAD_SIGNATURE
    )  # type: ignore[union-attr]
    assert isinstance(table.datagram_received(data, rx, 0, WALL)[0], Joined)


def test_remove_and_restore() -> None:
    table = NeighbourTable(capacity=1)
    feed(table, announce(1))
    neighbour = table.get(hid(1))
    assert neighbour is not None
    events = table.remove(hid(1))
    assert isinstance(events[0], Left)
    assert events[0].reason == "removed"
    assert table.remove(hid(1)) == []
    assert table.restore(neighbour)
    assert table.next_deadline() == neighbour.expires
    other = announce(2).addresses
    assert other
    feed(table, announce(2))
    assert len(table) == 1  # full: the restored entry stays, the new one is refused


def test_expiry_moved_earlier_still_expires() -> None:
    """A restored entry with a late expiry, then re-announced: the new TTL counts."""
    table = NeighbourTable()
    feed(table, announce(1, ttl=180), now=0.0)
    neighbour = table.get(hid(1))
    assert neighbour is not None
    table.remove(hid(1))
    neighbour.expires = 10_000.0  # e.g. restored from storage, clock moved
    assert table.restore(neighbour)
    feed(table, announce(1, seq=2, ttl=180), now=100.0)
    assert table.next_deadline() == 280.0
    left = table.expire(280.0)
    assert [type(e) for e in left] == [Left]
    assert len(table) == 0


# -- away_after (Home Assistant's "away after" option) -----------------------------


def test_away_after_replaces_the_ttl() -> None:
    table = NeighbourTable(away_after=30)
    assert table.away_after == 30.0
    feed(table, announce(1, ttl=180), now=0.0)
    assert table.next_deadline() == 30.0
    feed(table, announce(1, seq=2, ttl=180), now=20.0)
    assert table.expire(49.9) == []
    [left] = table.expire(50.0)
    assert isinstance(left, Left)
    assert left.reason is LeftReason.EXPIRED
    assert NeighbourTable(away_after=0).away_after is None


def test_away_after_changed_live_reschedules_every_entry() -> None:
    table = NeighbourTable()
    for n in range(1, 6):
        feed(table, announce(n, ttl=100 * n, name=f"h{n}"), now=float(n))
    assert table.next_deadline() == 101.0
    table.away_after = 10  # entries now last 10 s after they were last heard
    assert [e.expires for e in table] == [11.0, 12.0, 13.0, 14.0, 15.0]
    assert table.next_deadline() == 11.0
    assert [e.neighbour.host_id for e in table.expire(12.5)] == [hid(1), hid(2)]  # type: ignore[attr-defined]
    # Longer again, then off: back to each entry's own TTL.
    table.set_away_after(1000)
    assert table.next_deadline() == 1003.0
    table.away_after = None
    assert table.next_deadline() == 303.0
    assert [e.neighbour.host_id for e in table.expire(404.0)] == [hid(3), hid(4)]  # type: ignore[attr-defined]
    assert len(table) == 1
    # A heard entry follows the setting from then on.
    table.away_after = 50
    feed(table, announce(5, seq=2, ttl=500, name="h5"), now=600.0)
    assert table.next_deadline() == 650.0


def test_away_after_change_costs_no_heap_growth() -> None:
    table = NeighbourTable(capacity=200)
    for n in range(200):
        feed(table, announce(n, ttl=60, name=f"h{n}"), now=0.0, source=lla(n))
    for value in (10, 20, None, 30) * 5:
        table.away_after = value
    assert len(table._heap) == 200


@pytest.mark.parametrize("value", [-1, float("inf"), float("nan"), "10", True])
def test_away_after_rejects_bad_values(value: object) -> None:
    with pytest.raises(ValueError, match="away_after"):
        NeighbourTable(away_after=value)  # type: ignore[arg-type]
    table = NeighbourTable()
    with pytest.raises(ValueError, match="away_after"):
        table.away_after = value  # type: ignore[assignment]
    assert table.away_after is None


# -- restore (issue 9, section 7) --------------------------------------------------


def _restorable(**changes: object) -> Neighbour:
    base = Neighbour(
        hid(1), "pi", (lla(1), "2001:db8::1"), "Pi 5", None, None,
        7, 3, 180, 10.0, 20.0, 200.0, signed=False, manufacturer="Acme",
    )  # fmt: skip
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.mark.parametrize(
    "changes",
    [
        {"expires": float("inf")},
        {"expires": float("nan")},
        {"expires": -1.0},
        {"last_seen": float("nan")},
        {"first_seen": float("-inf")},
        {"expires": "200"},
        {"host_id": b"short"},
        {"host_id": "00" * 16},
        {"name": ""},
        {"name": "a.b"},
        {"name": "x\u202e"},
        {"addresses": ()},
        {"addresses": ["fe80::1"]},
        {"addresses": ("2001:db8::1",)},
        {"addresses": ("fe80::1", "not an address")},
        {"addresses": ("fe80::1",) * 17},
        {"model": ""},
        {"manufacturer": "x" * 65},
        {"os": "bad\x00"},
        {"ttl": 0},
        {"ttl": 65536},
        {"boot_id": -1},
        {"seq": 2**32},
        {"seq": True},
        {"signed": "yes"},
    ],
    ids=repr,
)
def test_restore_rejects_invalid_input(changes: dict[str, object]) -> None:
    table = NeighbourTable()
    with pytest.raises(ValueError, match="cannot restore"):
        table.restore(_restorable(**changes))
    assert len(table) == 0
    assert table.next_deadline() is None
    assert table.holder("pi") is None


def test_restore_rejects_what_is_not_a_neighbour() -> None:
    with pytest.raises(ValueError, match="not a Neighbour"):
        NeighbourTable().restore({"host_id": hid(1)})  # type: ignore[arg-type]


def test_restored_entry_with_bad_expiry_used_to_break_a_later_announce() -> None:
    """Regression: inf expiry was never scheduled; the next ANNOUNCE raised."""
    table = NeighbourTable()
    with pytest.raises(ValueError, match="expires"):
        table.restore(_restorable(expires=float("inf")))
    assert [type(e) for e in feed(table, announce(1), now=30.0)] == [Joined]
    assert table.next_deadline() == 210.0


def test_restore_after_a_restart_keeps_names_and_conflicts() -> None:
    table = NeighbourTable()
    assert table.restore(_restorable())
    assert table.restore(_restorable(host_id=hid(2), first_seen=5.0, expires=100.0))
    assert table.restore(_restorable(host_id=hid(3), name="other"))
    # Restoring reports nothing, but the table knows the name's holder ...
    holder = table.holder("PI")
    assert holder is not None
    assert holder.host_id == hid(2)  # heard first (first_seen 5 < 10)
    assert table.conflicts() == [Conflict("pi", (hid(1), hid(2)), holder=hid(2))]
    # ... and expiries.
    assert table.next_deadline() == 100.0
    [left] = table.expire(100.0)
    assert left.neighbour.host_id == hid(2)  # type: ignore[attr-defined]
    assert table.conflicts() == []
    # Restoring the same host ID again replaces the entry.
    assert table.restore(_restorable(name="renamed"))
    assert table.holder("pi") is None
    assert [n.host_id for n in table.find("renamed")] == [hid(1)]
    assert len(table) == 2
    # The restored host is heard again: an ordinary update.
    msg = announce(1, name="renamed", seq=4, addresses=(lla(1), "2001:db8::1"))
    events = feed(table, msg._replace(model="Pi 5", manufacturer="Acme"), now=30.0)
    assert [type(e) for e in events] == [Refreshed]


# -- bounded work under a same-name flood (issue 9, section 1) ----------------------


class _CountingDict(dict):  # type: ignore[type-arg]
    """A dict that counts walks over all of it (values, items, keys, iter)."""

    walks = 0

    def values(self):  # type: ignore[no-untyped-def, override]
        _CountingDict.walks += 1
        return super().values()

    def items(self):  # type: ignore[no-untyped-def, override]
        _CountingDict.walks += 1
        return super().items()

    def keys(self):  # type: ignore[no-untyped-def, override]
        _CountingDict.walks += 1
        return super().keys()

    def __iter__(self):  # type: ignore[no-untyped-def]
        _CountingDict.walks += 1
        return super().__iter__()


class _CountingHeapq:
    """Stands in for the table's ``heapq``: counts the heap operations."""

    def __init__(self) -> None:
        self.calls = 0
        self.heapified = 0  # items handed to heapify (rebuilds)

    def heappush(self, heap: list[object], item: object) -> None:
        self.calls += 1
        heapq.heappush(heap, item)  # type: ignore[misc]

    def heappop(self, heap: list[object]) -> object:
        self.calls += 1
        return heapq.heappop(heap)  # type: ignore[misc]

    def heapreplace(self, heap: list[object], item: object) -> object:
        self.calls += 1
        return heapq.heapreplace(heap, item)  # type: ignore[misc]

    def heapify(self, heap: list[object]) -> None:
        self.calls += 1
        self.heapified += len(heap)
        heapq.heapify(heap)  # type: ignore[misc]


SPELLINGS = ("dup", "DUP", "Dup", "dUp", "duP", "DUp", "dUP", "DuP")


def _records(table: NeighbourTable) -> int:
    """Every item the table keeps about entries and names, all containers."""
    total = len(table._entries) + len(table._heap) + len(table._scheduled)
    for group in table._groups.values():
        if isinstance(group, tuple):
            total += 1
        else:
            total += len(group.members) + len(group.heap)
    return total + len(table._contested)


def test_same_name_flood_costs_constant_work_per_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1,024 host IDs announce "dup" (case varied) from 100 sources.

    The revision-1 table recorded every pair (523,776 conflicts, 1,023 Conflict
    events for the last join alone) and rebuilt that set on every departure.
    Here the table never walks all its entries during an event, does a
    bounded number of heap operations per event, reports the conflict once
    and keeps records linear in the entries.
    """
    size = 1024
    counting = _CountingHeapq()
    monkeypatch.setattr(table_module, "heapq", counting)
    table = NeighbourTable(capacity=size)
    table._entries = _CountingDict()
    step = 60.0 / (10 * 100) * 1.01  # 100 sources at the limiter's pace
    conflicts: list[Conflict] = []
    for n in range(size):
        source = lla(n % 100 + 1)
        msg = announce(n + 1, name=SPELLINGS[n % 8], ttl=65535, addresses=(source,))
        events = feed(table, msg, now=n * step, source=source)
        assert isinstance(events[0], Joined), events
        conflicts += [e for e in events if isinstance(e, Conflict)]
    assert len(table) == size
    # One conflict, reported once, with the first host as its holder.
    assert conflicts == [Conflict("DUP", (hid(1), hid(2)), holder=hid(1))]
    assert len(table.conflicts()) == 1
    assert len(table._groups) == 1
    assert _records(table) <= 6 * size
    assert _CountingDict.walks == 0
    assert counting.calls <= 3 * size
    holder = table.holder("dUP")
    assert holder is not None
    assert holder.host_id == hid(1)
    assert len(table.find("Dup")) == size

    # Each GOODBYE and remove takes the current holder: the worst case.
    calls = counting.calls
    end = size * step
    for i in range(100):
        victim = table.holder("dup")
        assert victim is not None
        events = feed(
            table,
            goodbye(int.from_bytes(victim.host_id)),
            now=end,
            source=victim.link_local,
        )
        assert [type(e) for e in events] == [Left, Conflict]
        new_holder = events[1].holder  # type: ignore[attr-defined]
        assert new_holder == hid(i + 2)  # the next-oldest claimant
        assert table.holder("dup").host_id == new_holder  # type: ignore[union-attr]
    for _ in range(100):
        victim = table.holder("dup")
        assert victim is not None
        assert len(table.remove(victim.host_id)) == 2
    assert _CountingDict.walks == 0
    assert counting.calls - calls <= 10 * 200 + counting.heapified
    assert _records(table) <= 6 * size

    # The rest expire, one call per deadline (as the endpoint's timer does).
    calls = counting.calls
    expired = 0
    while (deadline := table.next_deadline()) is not None:
        events = table.expire(deadline)
        expired += sum(isinstance(e, Left) for e in events)
        assert len(events) <= 2
    assert expired == size - 200
    assert _CountingDict.walks == 0
    assert counting.calls - calls <= 10 * size
    assert counting.heapified <= 4 * size
    assert table._groups == {}
    assert table._contested == set()
    assert _records(table) == 0


def test_same_name_flood_memory_is_linear() -> None:
    """Within 2x of the same number of distinct names (issue 9's goal)."""

    def traced(names: list[str]) -> int:
        table = NeighbourTable(capacity=len(names), new_per_source_per_minute=10**6)
        datagrams = [
            encode(announce(n + 1, name=name, addresses=(lla(n % 100 + 1),)))
            for n, name in enumerate(names)
        ]
        tracemalloc.start()
        try:
            for n, data in enumerate(datagrams):
                table.datagram_received(data, meta(lla(n % 100 + 1)), 0.0, WALL)
            current, _peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(table) == len(names)
        return current

    same = traced([SPELLINGS[n % 8] for n in range(1024)])
    distinct = traced([f"dup{n}" for n in range(1024)])
    assert same < 2 * distinct
    assert same < 2 * 1024 * 1024  # the revision-1 table held +125 MiB here


def test_expire_with_a_limit_spreads_a_mass_expiry() -> None:
    table = NeighbourTable()
    for n in range(10):
        feed(table, announce(n + 1, name="same" if n % 2 else f"h{n}", ttl=10))
    first = table.expire(10.0, limit=4)
    assert sum(isinstance(e, Left) for e in first) == 4
    assert table.next_deadline() == 10.0  # still due
    rest = table.expire(10.0, limit=100)
    assert sum(isinstance(e, Left) for e in rest) == 6
    assert table.next_deadline() is None
    assert table.expire(10.0, limit=0) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("\u0390", "\u03aa\u0301"),  # issue 9: this pair escaped casefold alone
        ("kitchen", "\uff2b\uff29\uff34\uff23\uff28\uff25\uff2e"),  # fullwidth
        ("Straße", "STRASSE"),
    ],
)
def test_conflicts_and_lookups_compare_nfkc_casefold(first: str, second: str) -> None:
    table = NeighbourTable()
    feed(table, announce(1, name=first), now=0.0)
    events = feed(table, announce(2, name=second), now=1.0)
    assert [e for e in events if isinstance(e, Conflict)] == [
        Conflict(second, (hid(1), hid(2)), holder=hid(1))
    ]
    assert [n.host_id for n in table.find(first)] == [hid(1), hid(2)]
    assert [n.host_id for n in table.find(second)] == [hid(1), hid(2)]
    # A rename between the two spellings stays in the name's group.
    events = feed(table, announce(1, name=second, seq=2), now=2.0)
    assert [type(e) for e in events] == [Renamed]
    assert len(table.conflicts()) == 1


# -- one host on several interfaces of the link (issue 9, section 3) ---------------

ETH = ("fe80::e", "fd00::e")  # the laptop's Ethernet addresses
WIFI = ("fe80::f", "fd00::f")  # its Wi-Fi addresses


def laptop(seq: int, path: tuple[str, ...], **kwargs: object) -> Message:
    """An ANNOUNCE of host 7 (one boot ID and sequence space) on one path."""
    return announce(7, name="laptop", seq=seq, addresses=path, **kwargs)  # type: ignore[arg-type]


def test_host_on_two_interfaces_is_one_stable_neighbour() -> None:
    table = NeighbourTable()
    assert [type(e) for e in feed(table, laptop(1, ETH), now=0.0)] == [Joined]
    events = feed(table, laptop(2, WIFI), now=0.01)
    assert [type(e) for e in events] == [AddressChanged]
    neighbour = table.get(hid(7))
    assert neighbour is not None
    assert neighbour.addresses == ETH + WIFI
    assert table.paths(hid(7)) == [ETH, WIFI]
    # Sixty rounds, one copy per interface, arriving in either order (the
    # Wi-Fi copy, sent second, often overtakes the Ethernet one): nothing
    # but refreshes, no restart, no flapping of the primary address.
    seq = 2
    for round_ in range(1, 61):
        first, second = seq + 1, seq + 2
        seq = second
        order = [(first, ETH), (second, WIFI)]
        if round_ % 2:
            order.reverse()
        for s, path in order:
            events = feed(table, laptop(s, path), now=60.0 * round_)
            assert [type(e) for e in events] == [Refreshed], (round_, events)
    assert neighbour.link_local == ETH[0]
    assert neighbour.addresses == ETH + WIFI
    assert sum(table.rejected.values()) == 0
    assert len(table) == 1
    # A copy seen before on its path is still stale, from either path.
    for path in (ETH, WIFI):
        [event] = feed(table, laptop(seq - 1, path), now=3601.0)
        assert isinstance(event, Rejected)
        assert event.reason is Reason.STALE_SEQUENCE


def test_a_path_not_heard_for_its_ttl_goes_the_neighbour_stays() -> None:
    table = NeighbourTable()
    feed(table, laptop(1, ETH, ttl=180), now=0.0)
    feed(table, laptop(2, WIFI, ttl=180), now=0.0)
    # Wi-Fi goes quiet; Ethernet keeps announcing.
    for n, now in enumerate((60.0, 120.0, 170.0), start=3):
        feed(table, laptop(n, ETH, ttl=180), now=now)
    assert table.next_deadline() == 180.0  # the Wi-Fi path's expiry
    events = table.expire(180.0)
    assert [type(e) for e in events] == [AddressChanged]
    neighbour = table.get(hid(7))
    assert neighbour is not None
    assert neighbour.addresses == ETH
    assert table.paths(hid(7)) == [ETH]
    assert table.next_deadline() == 350.0
    # It comes back: a second path again, then the host falls silent.
    assert [type(e) for e in feed(table, laptop(9, WIFI), now=200.0)] == [
        AddressChanged
    ]
    assert table.paths(hid(7)) == [ETH, WIFI]
    assert table.expire(349.0) == []
    [changed] = table.expire(350.0)  # Ethernet path: last heard at 170
    assert isinstance(changed, AddressChanged)
    assert neighbour.link_local == WIFI[0]
    [left] = table.expire(380.0)
    assert isinstance(left, Left)
    assert left.reason is LeftReason.EXPIRED
    assert len(table) == 0
    assert table._paths == {}


def test_a_restart_is_seen_once_not_per_path() -> None:
    table = NeighbourTable()
    feed(table, laptop(10, ETH), now=0.0)
    feed(table, laptop(11, WIFI), now=0.0)
    # New boot ID, sequence numbers start over; the Wi-Fi copy comes first.
    events = feed(table, laptop(1, WIFI, boot=8), now=5.0)
    assert [type(e) for e in events] == [AddressChanged]
    assert table.paths(hid(7)) == [WIFI]
    events = feed(table, laptop(2, ETH, boot=8), now=5.0)
    assert [type(e) for e in events] == [AddressChanged]
    assert table.paths(hid(7)) == [WIFI, ETH]
    neighbour = table.get(hid(7))
    assert neighbour is not None
    assert neighbour.boot_id == 8
    assert not any(table.rejected.values())


def test_goodbye_on_one_interface_drops_that_path_only() -> None:
    table = NeighbourTable()
    feed(table, laptop(1, ETH), now=0.0)
    feed(table, laptop(2, WIFI), now=0.0)
    events = feed(table, goodbye(7, seq=3), now=1.0, source=WIFI[0])
    assert [type(e) for e in events] == [AddressChanged]
    assert table.paths(hid(7)) == [ETH]
    assert feed(table, goodbye(7, seq=3), now=1.0, source=ETH[0])[0].reason is (  # type: ignore[attr-defined]
        Reason.STALE_SEQUENCE
    )
    events = feed(table, goodbye(7, seq=4), now=1.1, source=ETH[0])
    assert [type(e) for e in events] == [Left]
    assert len(table) == 0


def test_a_stale_goodbye_on_a_path_is_refused() -> None:
    table = NeighbourTable()
    feed(table, laptop(5, ETH), now=0.0)
    feed(table, laptop(6, WIFI), now=0.0)
    [event] = feed(table, goodbye(7, seq=6), now=1.0, source=WIFI[0])
    assert isinstance(event, Rejected)
    assert table.paths(hid(7)) == [ETH, WIFI]


def test_new_paths_are_bounded() -> None:
    table = NeighbourTable(new_per_source_per_minute=100)
    feed(table, laptop(1, ("fe80::100",)), now=0.0)
    results = [
        feed(table, laptop(n + 1, (f"fe80::{n + 100:x}",)), now=0.0)[0]
        for n in range(1, 20)
    ]
    accepted = [e for e in results if isinstance(e, AddressChanged)]
    assert len(accepted) == table_module.MAX_PATHS - 1
    assert len(table.paths(hid(7))) == table_module.MAX_PATHS
    # A new path with a sequence number far older than the newest: stale.
    table = NeighbourTable()
    feed(table, laptop(1000, ETH), now=0.0)
    assert isinstance(feed(table, laptop(900, WIFI), now=0.0)[0], Rejected)
    assert isinstance(feed(table, laptop(990, WIFI), now=0.0)[0], AddressChanged)


def test_paths_follow_away_after_and_restore_resets_them() -> None:
    table = NeighbourTable()
    feed(table, laptop(1, ETH), now=0.0)
    feed(table, laptop(2, WIFI), now=50.0)
    table.away_after = 100
    assert table.next_deadline() == 100.0
    [event] = table.expire(100.0)
    assert isinstance(event, AddressChanged)
    assert table.paths(hid(7)) == [WIFI]
    assert table.next_deadline() == 150.0
    feed(table, laptop(3, ETH), now=120.0)
    neighbour = table.get(hid(7))
    assert neighbour is not None
    table.remove(hid(7))
    assert table.restore(neighbour)
    assert table.paths(hid(7)) == [neighbour.addresses]


def test_own_host_id_from_another_interface_is_rejected() -> None:
    table = NeighbourTable(own_host_id=hid(7))
    # Without its own addresses the table counts every own message as looped.
    assert feed(table, laptop(1, WIFI), now=0.0) == []
    assert table.looped == 1
    table.own_addresses = [ETH[0]]
    assert table.own_addresses == {ETH[0]}
    assert feed(table, laptop(2, ETH), now=0.0) == []  # looped back
    assert table.looped == 2
    events = feed(table, laptop(3, WIFI), now=0.0)  # our Wi-Fi, heard on Ethernet
    assert events == [Rejected(Reason.OWN_HOST_ID, WIFI[0], "from another address")]
    assert table.rejected[Reason.OWN_HOST_ID] == 1
    query = Message(QUERY, hid(7), 7, 4)
    assert feed(table, query, source=WIFI[0])[0].reason is Reason.OWN_HOST_ID  # type: ignore[attr-defined]
    assert len(table) == 0
    with pytest.raises(ValueError, match="link-local"):
        table.own_addresses = ["2001:db8::1"]


def test_restored_entry_spelt_otherwise_is_still_one_path() -> None:
    table = NeighbourTable()
    assert table.restore(_restorable(addresses=("FE80:0::1",), expires=300.0))
    events = feed(table, announce(1, seq=4, addresses=(lla(1),)), now=30.0)
    assert [type(e) for e in events] == [AddressChanged, Updated]  # attributes
    assert table.paths(hid(1)) == [(lla(1),)]
    assert table._paths == {}
    assert table.next_deadline() == 210.0


@pytest.mark.parametrize("seed", range(6))
def test_name_groups_match_a_brute_force_model(seed: int) -> None:
    """Random joins, renames, goodbyes, removals and expiry: holder, find,
    conflicts and membership agree with a model that scans everything."""
    import random

    rng = random.Random(seed)
    table = NeighbourTable(capacity=64, new_per_source_per_minute=10**6)
    spellings = [
        "pi",
        "PI",
        "Pi",
        "\uff50\uff49",
        "nas",
        "NAS",
        "\u0390",
        "\u03aa\u0301",
    ]
    seqs: dict[int, int] = {}
    # Model: host -> (name key, since, expires).
    model: dict[int, tuple[str, float, float]] = {}
    now = 0.0
    for _step in range(1500):
        now += rng.choice((0.0, 0.5, 3.0))
        op = rng.random()
        host = rng.randrange(1, 24)
        if op < 0.6:
            name = rng.choice(spellings)
            ttl = rng.choice((5, 20, 60))
            seqs[host] = seqs.get(host, 0) + 1
            feed(table, announce(host, name=name, seq=seqs[host], ttl=ttl), now=now)
            key = table_module.name_key(name)
            old = model.get(host)
            since = old[1] if old is not None and old[0] == key else now
            model[host] = (key, since, now + ttl)
        elif op < 0.75:
            seqs[host] = seqs.get(host, 0) + 1
            feed(table, goodbye(host, seq=seqs[host]), now=now, source=lla(host))
            model.pop(host, None)
        elif op < 0.85:
            table.remove(hid(host))
            model.pop(host, None)
        else:
            table.expire(now)
            model = {h: v for h, v in model.items() if v[2] > now}
        assert {int.from_bytes(n.host_id) for n in table} == set(model)
        keys = {v[0] for v in model.values()}
        for key in keys:
            members = [h for h, v in model.items() if v[0] == key]
            holder = min(members, key=lambda h: (model[h][1], hid(h)))
            found = table.find(key)
            assert {int.from_bytes(n.host_id) for n in found} == set(members)
            assert found[0].host_id == hid(holder)
            got = table.holder(key)
            assert got is not None
            assert got.host_id == hid(holder)
        contested = {
            key for key in keys if sum(v[0] == key for v in model.values()) > 1
        }
        assert {table_module.name_key(c.name) for c in table.conflicts()} == contested
        assert all(
            c.holder == table.holder(c.name).host_id  # type: ignore[union-attr]
            for c in table.conflicts()
        )
        assert len(table._groups) == len(keys)


@pytest.mark.parametrize("seed", range(6))
def test_paths_match_a_model_of_multi_interface_hosts(seed: int) -> None:
    """Hosts with up to three interfaces announce one sequence space on the
    ones that are up, copies delivered in random order; interfaces go down
    and come back.  Nothing is rejected, an entry carries exactly the paths
    heard within their TTL, the first-heard live path first."""
    import random

    rng = random.Random(seed)
    table = NeighbourTable(new_per_source_per_minute=10**6)
    ifaces = {h: [(f"fe80::{h:x}:{i}",) for i in range(3)] for h in range(1, 6)}
    up = {h: {0} for h in ifaces}
    seq = dict.fromkeys(ifaces, 0)
    # Model: host -> {path: expires}, in the order the table learnt them.
    model: dict[int, dict[tuple[str, ...], float]] = {}
    now = 0.0
    for _round in range(400):
        now += rng.choice((1.0, 10.0, 30.0))
        for host in ifaces:
            if rng.random() < 0.15:
                up[host] ^= {rng.randrange(3)}  # an interface goes down or up
        copies = []
        for host, live in up.items():
            for i in sorted(live):
                seq[host] += 1
                copies.append((host, ifaces[host][i], seq[host]))
        rng.shuffle(copies)
        for host, path, s in copies:
            events = feed(table, announce(host, seq=s, ttl=60, addresses=path), now=now)
            assert not any(isinstance(e, Rejected) for e in events), events
            paths = model.setdefault(host, {})
            paths[path] = now + 60
        table.expire(now)
        for host in list(model):
            model[host] = {p: t for p, t in model[host].items() if t > now}
            if not model[host]:
                del model[host]
        assert {int.from_bytes(n.host_id) for n in table} == set(model)
        for host, paths in model.items():
            assert table.paths(hid(host)) == list(paths)
            neighbour = table.get(hid(host))
            assert neighbour is not None
            assert neighbour.addresses == tuple(a for p in paths for a in p)
            assert neighbour.expires == max(paths.values())
    assert not table.rejected
