"""Tests of the table file for the NSS module: format, parser, atomic writer."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.linkname.protocol import hostsfile
from custom_components.linkname.protocol import names as core_names
from custom_components.linkname.protocol.announcer import Announcer
from custom_components.linkname.protocol.hostsfile import (
    EXPIRY_MARGIN,
    HEADER,
    MAX_FILE_BYTES,
    HostRecord,
    HostsFileError,
    HostsFileWriter,
    format_record,
    format_table,
    name_key,
    neighbour_record,
    parse_table,
    write_atomic,
)
from custom_components.linkname.protocol.table import (
    Joined,
    Left,
    Neighbour,
    Refreshed,
    Updated,
)

NOW = 1_800_000_000


def rec(
    name: str = "kitchen-pi",
    addresses: tuple[str, ...] = ("fe80::1", "2001:db8::1", "192.0.2.7"),
    expires: int = NOW + 180,
    ifindex: int = 3,
) -> HostRecord:
    return HostRecord(name=name, addresses=addresses, expires=expires, ifindex=ifindex)


# -- format ---------------------------------------------------------------------


def test_format_is_the_documented_one() -> None:
    data = format_table([rec("Kitchen-Pi"), rec("Küche", ("fe80::2",), ifindex=4)])
    assert data == (
        b"linkname-hosts 1\n"
        b"kitchen-pi\t1800000180\tKitchen-Pi\tfe80::1%3 2001:db8::1 192.0.2.7\n"
        b"k\xc3\xbcche\t1800000180\tK\xc3\xbcche\tfe80::2%4\n"
        b"end 2\n"
    )
    assert format_table([]) == b"linkname-hosts 1\nend 0\n"


def test_round_trip_and_expiry() -> None:
    records = [rec("a"), rec("b", expires=NOW), rec("c", ("192.0.2.1",), ifindex=0)]
    parsed = parse_table(format_table(records), NOW)
    assert [r.name for r in parsed] == ["a", "c"]  # b expired at NOW
    assert parsed[0] == rec("a")
    assert parsed[1] == HostRecord("c", ("192.0.2.1",), NOW + 180, 0)


def test_key_folds_case_and_compatibility_forms() -> None:
    assert name_key("Kitchen-PI") == "kitchen-pi"
    assert name_key("ＫＩＴＣＨＥＮ") == "kitchen"  # fullwidth (NFKC)
    assert name_key("Straße") == "strasse"
    assert name_key("\u0390") == name_key("\u03aa\u0301")  # issue 9, section 4


def test_keys_that_fold_to_capitals_parse() -> None:
    """Case folding maps Cherokee small letters to the capitals (U+AB70 ->
    U+13A0): such a key is folded although it is not "lower case"; only an
    ASCII capital or a dot makes a key bad, as in the module."""
    assert name_key("\uab70") == "\u13a0"
    parsed = parse_table(format_table([rec("\uab70")]), NOW)
    assert [r.name for r in parsed] == ["\uab70"]
    with pytest.raises(HostsFileError, match="bad key"):
        parse_table(
            b"linkname-hosts 1\nKitchen\t1800000180\tk\tfe80::1%3\nend 1\n", NOW
        )


def test_records_that_cannot_be_represented_are_left_out() -> None:
    assert format_record(rec("a\u2024b")) is None  # NFKC makes a dot
    assert format_record(rec(addresses=("fe80::1",), ifindex=0)) is None  # no scope
    assert format_record(rec(addresses=("bogus",))) is None
    assert format_record(rec(expires=0)) is None
    assert format_record(rec("x" * 64)) is None
    # bad addresses are dropped, duplicates kept once, canonical form
    line = format_record(rec(addresses=("bogus", "FE80::1%eth9", "fe80:0::1")))
    assert line == b"kitchen-pi\t1800000180\tkitchen-pi\tfe80::1%3\n"
    many = tuple(f"2001:db8::{i:x}" for i in range(1, 30))
    line = format_record(rec(addresses=many))
    assert line is not None
    assert line.count(b" ") == 15  # 16 addresses at most


def test_first_record_of_a_key_wins() -> None:
    data = format_table([rec("Alpha", ("192.0.2.1",)), rec("ALPHA", ("192.0.2.2",))])
    assert [r.addresses for r in parse_table(data, NOW)] == [("192.0.2.1",)]


def test_size_limit() -> None:
    records = [
        rec(f"host-{i}-" + "x" * 50, tuple(f"2001:db8::{i:x}:{j:x}" for j in range(16)))
        for i in range(4000)
    ]
    data = format_table(records)
    assert len(data) <= MAX_FILE_BYTES
    assert 1000 < len(parse_table(data, NOW)) < 4000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"linkname-hosts 2\nend 0\n",
        b"linkname-hosts 1\nend 1\n",
        b"linkname-hosts 1\nend 0",
        b"linkname-hosts 1\nend 01\n",
        b"linkname-hosts 1\n\nend 1\n",
        b"linkname-hosts 1\nend 0\n\0",
        b"linkname-hosts 1\nk\t1\tk\tfe80::1\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\t2001:db8::1%3\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\tFE80::1%3\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\tfe80::1%0\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\t192.0.2.1%3\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\t1.2.3\nend 1\n",
        b"linkname-hosts 1\nK\t1\tk\t192.0.2.1\nend 1\n",
        b"linkname-hosts 1\nk.l\t1\tk\t192.0.2.1\nend 1\n",
        b"linkname-hosts 1\nk\t01\tk\t192.0.2.1\nend 1\n",
        b"linkname-hosts 1\nk\t1\t\t192.0.2.1\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\xff\t192.0.2.1\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\t192.0.2.1\t\nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\t192.0.2.1 \nend 1\n",
        b"linkname-hosts 1\nk\t1\tk\x01\t192.0.2.1\nend 1\n",
        HEADER + b"x" * MAX_FILE_BYTES + b"\nend 0\n",
    ],
)
def test_parser_refuses_whole_file(data: bytes) -> None:
    with pytest.raises(HostsFileError):
        parse_table(data, 0)


names = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S", "M"]),
    min_size=1,
    max_size=20,
).filter(lambda s: s == s.strip())
addresses = st.lists(
    st.one_of(
        st.ip_addresses(v=6).map(str),
        st.ip_addresses(v=4).map(str),
        st.integers(1, 2**64 - 1).map(lambda i: f"fe80::{i:x}"[:24].rstrip(":")),
    ),
    min_size=1,
    max_size=20,
)


@given(st.lists(st.tuples(names, addresses, st.integers(1, 2**40)), max_size=8))
@settings(max_examples=200, deadline=None)
def test_whatever_is_written_parses(items: list[tuple[str, list[str], int]]) -> None:
    records = [rec(n, tuple(a), e, 7) for n, a, e in items]
    data = format_table(records)
    parsed = parse_table(data, 0)
    assert len(parsed) == data.count(b"\n") - 2
    for record in parsed:
        assert name_key(record.name).encode() in data


# -- I/O ------------------------------------------------------------------------


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "hosts"
    target.write_bytes(b"old")
    stat = write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.stat(target).st_ino == stat.st_ino
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts"]
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "hosts", b"x")


def test_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKNAME_RUNTIME_DIR", raising=False)
    assert hostsfile.runtime_dir(None) == Path("/run/linkname")
    monkeypatch.setenv("LINKNAME_RUNTIME_DIR", "/tmp/x")
    assert hostsfile.runtime_dir(None) == Path("/tmp/x")
    assert hostsfile.runtime_dir("/tmp/y") == Path("/tmp/y")


def neighbour(name: str, host_id: int, expires: float, ttl: int = 180) -> Neighbour:
    return Neighbour(
        host_id=bytes([host_id]) * 16,
        name=name,
        addresses=(f"fe80::{host_id}", "2001:db8::1"),
        model=None,
        os=None,
        software=None,
        boot_id=1,
        seq=1,
        ttl=ttl,
        first_seen=0.0,
        last_seen=0.0,
        expires=expires,
    )


@dataclass
class FakeEndpoint:
    table: list[Neighbour] = field(default_factory=list)
    ifindex: int | None = 5
    addresses: tuple[str, ...] = ("fe80::aa", "192.0.2.99")
    state: str = "up"
    announcer: Announcer | None = None
    on_event: object = None
    on_state: object = None


async def wait_writes(writer: HostsFileWriter, count: int, limit: float = 3) -> None:
    deadline = time.monotonic() + limit
    while writer.writes < count:
        assert time.monotonic() < deadline, f"{writer.writes} writes, not {count}"
        await asyncio.sleep(0.01)


async def test_writer_follows_the_table(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    endpoint = FakeEndpoint(
        announcer=Announcer(host_id=b"\x01" * 16, name="Home", interval=60)
    )
    writer = hostsfile.follow(endpoint, str(tmp_path / "run"))
    assert writer is not None
    writer.min_interval = 0.05
    path = tmp_path / "run" / "hosts"
    writer.start()
    assert writer.writes == 1
    now = time.time()
    [own] = parse_table(path.read_bytes(), now)
    assert own == HostRecord("Home", ("fe80::aa", "192.0.2.99"), own.expires, 5)
    assert now + 179 <= own.expires <= now + 182

    # a neighbour joins: rewritten (after the minimum interval)
    alpha = neighbour("Alpha", 2, loop.time() + 100)
    endpoint.table.append(alpha)
    endpoint.on_event(Joined(alpha))  # type: ignore[operator]
    await wait_writes(writer, 2)
    names = {r.name: r for r in parse_table(path.read_bytes(), time.time())}
    assert set(names) == {"Home", "Alpha"}
    assert abs(names["Alpha"].expires - (time.time() + 100)) <= 2
    assert names["Alpha"].addresses == ("fe80::2", "2001:db8::1")
    assert names["Alpha"].ifindex == 5

    # refreshed (even by a lot), or another attribute changed: no rewrite
    # while the written expiry is far off (re-announcements cost no write)
    alpha.expires += 100
    endpoint.on_event(Refreshed(alpha))  # type: ignore[operator]
    endpoint.on_event(Updated(alpha, frozenset({"model"})))  # type: ignore[operator]
    await asyncio.sleep(0.2)
    assert writer.writes == 2
    # but a rewrite comes EXPIRY_MARGIN before the earliest written expiry,
    # with the table's later one: a live record never expires in the file
    alpha.expires = loop.time() + 0.3 + EXPIRY_MARGIN
    endpoint.on_event(Joined(alpha))  # type: ignore[operator]
    await wait_writes(writer, 3)
    alpha.expires += 100
    endpoint.on_event(Refreshed(alpha))  # type: ignore[operator]
    assert writer.writes == 3
    await wait_writes(writer, 4)
    names = {r.name: r for r in parse_table(path.read_bytes(), time.time())}
    assert names["Alpha"].expires >= time.time() + 100

    # a burst of events is one write
    for _ in range(50):
        endpoint.on_event(Joined(alpha))  # type: ignore[operator]
    await asyncio.sleep(0.3)
    assert writer.writes == 5

    # it leaves; the state changes (the endpoint went down): rewritten
    endpoint.table.clear()
    endpoint.on_event(Left(alpha, "goodbye"))  # type: ignore[operator]
    await wait_writes(writer, 6)
    assert [r.name for r in parse_table(path.read_bytes(), time.time())] == ["Home"]
    endpoint.state = "down"
    endpoint.on_state("down")  # type: ignore[operator]
    await wait_writes(writer, 7)
    assert parse_table(path.read_bytes(), time.time()) == []

    writer.close()
    assert not path.exists()
    endpoint.on_event(Joined(alpha))  # type: ignore[operator]
    writer.request()
    await asyncio.sleep(0.1)
    assert writer.writes == 7


async def test_writer_refreshes_and_leaves_others_files(tmp_path: Path) -> None:
    endpoint = FakeEndpoint()
    writer = HostsFileWriter(tmp_path / "hosts", refresh=0.05, min_interval=0.01)
    writer.attach(endpoint)
    writer.start()
    await wait_writes(writer, 3)
    # another writer replaced the file: close() leaves it alone
    write_atomic(tmp_path / "hosts", format_table([rec()]))
    writer.close()
    assert (tmp_path / "hosts").exists()


async def test_writer_survives_an_unwritable_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    writer = HostsFileWriter(blocker / "run" / "hosts", refresh=0.02, min_interval=0)
    writer.start()
    await asyncio.sleep(0.1)
    writer.close()
    assert writer.writes == 0
    assert writer.errors >= 2
    warnings = [r for r in caplog.records if "cannot write the table" in r.message]
    assert len(warnings) == 1


def test_follow_is_opt_in_for_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKNAME_RUNTIME_DIR", raising=False)
    assert hostsfile.follow(FakeEndpoint(), None, by_default=False) is None
    monkeypatch.setenv("LINKNAME_RUNTIME_DIR", "/tmp/somewhere")
    writer = hostsfile.follow(FakeEndpoint(), None, by_default=False)
    assert writer is not None
    assert writer.path == Path("/tmp/somewhere/hosts")


def test_the_holder_of_a_contested_name_answers_not_the_smallest_host_id() -> None:
    early = neighbour("Alpha", 9, 100.0)
    early.first_seen = 1.0
    hijacker = neighbour("ALPHA", 0, 100.0)  # host ID 00..00, came later
    hijacker.first_seen = 50.0
    other = neighbour("beta", 5, 100.0)
    other.first_seen = 20.0
    assert hostsfile.by_precedence([hijacker, other, early]) == [early, other, hijacker]

    class Table(list[Neighbour]):
        def holder(self, name: str) -> Neighbour | None:
            return hijacker if name.casefold() == "alpha" else None

    # a table that knows its holders decides (here: the later one holds it)
    assert hostsfile.by_precedence(Table([early, other, hijacker]))[0] is hijacker
    data = format_table(
        neighbour_record(n, 2, 0.0, NOW)
        for n in hostsfile.by_precedence([hijacker, early])
    )
    [record] = parse_table(data, NOW)
    assert record.addresses[0] == "fe80::9"


def test_name_key_is_the_cores() -> None:
    core = core_names.name_key
    assert hostsfile.name_key is core
    for name in ("Kitchen", "ＫＩＴＣＨＥＮ", "\u0390", "Straße"):
        assert name_key(name) == core(name)
