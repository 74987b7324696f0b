"""Tests of the neighbour table state machine (linkname.table)."""

from __future__ import annotations

import tracemalloc

import pytest

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
    Conflict,
    Joined,
    Left,
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
    # A new link-local address (privacy address, new NIC): same entry.
    events = feed(table, announce(1, name="kitchen", seq=3, addresses=("fe80::99",)))
    assert [type(e) for e in events] == [AddressChanged]
    neighbour = table.get(hid(1))
    assert neighbour is not None
    assert neighbour.link_local == "fe80::99"
    assert table.find("KITCHEN") == [neighbour]


def test_attribute_update() -> None:
    table = NeighbourTable()
    feed(table, announce(1))
    events = feed(table, announce(1, seq=2, model="Pi 5", ttl=90))
    assert len(events) == 1
    assert isinstance(events[0], Updated)
    assert events[0].changed == {"model", "ttl"}


def test_conflict_reported_once_per_pair() -> None:
    table = NeighbourTable()
    feed(table, announce(2, name="Pi"))
    events = feed(table, announce(1, name="pi"))
    conflicts = [e for e in events if isinstance(e, Conflict)]
    assert conflicts == [Conflict("pi", (hid(1), hid(2)))]
    assert [n.host_id for n in table.find("pi")] == [hid(1), hid(2)]
    assert table.name_conflicts("pi", hid(2))[0].host_id == hid(1)
    # Re-announcing does not report it again.
    events = feed(table, announce(1, name="pi", seq=2))
    assert not any(isinstance(e, Conflict) for e in events)
    # After one side leaves and returns, it is reported again.
    feed(table, goodbye(1, seq=3), source=lla(1))
    events = feed(table, announce(1, name="pi", seq=4))
    assert any(isinstance(e, Conflict) for e in events)


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
