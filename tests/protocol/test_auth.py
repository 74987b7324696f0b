"""Tests of the optional shared-key authentication (linkname.auth)."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import string
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_components.linkname.protocol.auth import (
    DEFAULT_WINDOW_MS,
    MAX_KEY_FILE_BYTES,
    START_SKEW_MS,
    BadKeyError,
    Key,
    ReplayGuard,
    check_mac,
    generate_key_text,
    key_ring,
    pseudo_header,
    seq_newer,
    sign,
)
from custom_components.linkname.protocol.codec import (
    Auth,
    DecodeError,
    Message,
    Reason,
    decode,
    encode,
)
from custom_components.linkname.protocol.const import (
    ANNOUNCE,
    GOODBYE,
    GROUP,
    PORT,
    QUERY,
)
from custom_components.linkname.protocol.state import StateError, read_host_id
from custom_components.linkname.protocol.table import (
    Joined,
    Left,
    NeighbourTable,
    RxMeta,
)

from . import vectors

SIGNED = vectors.vector("announce-signed")
KEY_TEXT = SIGNED.text("key") or ""
KEY = Key.from_text(KEY_TEXT)
KEYS = {KEY.key_id: KEY}
NOW = SIGNED.integer("auth.timestamp_ms")
SOURCE = SIGNED.fields["source"]
SOURCE_PORT = SIGNED.integer("source_port")
# A different key text whose key ID collides with KEY's (found by search).
COLLIDING_TEXT = "colliding-key-00004148"
HOST = bytes(range(16))


def pseudo(
    source: str = SOURCE,
    source_port: int = SOURCE_PORT,
    destination: str = GROUP,
    destination_port: int = PORT,
) -> bytes:
    return pseudo_header(source, source_port, destination, destination_port)


def signed(message: Message, key: Key = KEY, ts: int = NOW, ph: bytes = b"") -> bytes:
    return sign(encode(message), key, ph or pseudo(), ts)


def verify(data: bytes, keys: dict[int, Key] = KEYS, ph: bytes = b"") -> Reason | None:
    """What a signed-mode receiver decides about the MAC (DecodeError: dropped)."""
    return check_mac(data, decode(data), keys, ph or pseudo())


def announce(seq: int = 1) -> Message:
    return Message(ANNOUNCE, HOST, 7, seq, ttl=180, name="pi", addresses=(SOURCE,))


# -- the spec's vector ------------------------------------------------------------


def test_key_id_derivation_matches_the_spec() -> None:
    digest = hashlib.sha256(b"linkname/1 key id\x00" + KEY_TEXT.encode()).digest()
    assert KEY.key_id == int.from_bytes(digest[:2], "big")
    assert KEY.key_id == SIGNED.integer("key_id") == SIGNED.integer("auth.key_id")
    assert f"the key ID is 0x{KEY.key_id:04x}" in vectors.spec_text()
    assert KEY.secret == KEY_TEXT.encode("utf-8")


def test_pseudo_header_matches_the_spec() -> None:
    ph = pseudo_header(
        SOURCE,
        SOURCE_PORT,
        SIGNED.fields["destination"],
        SIGNED.integer("destination_port"),
    )
    assert ph == bytes.fromhex(SIGNED.fields["pseudo_header"])
    assert ph == (
        socket.inet_pton(socket.AF_INET6, SOURCE)
        + socket.inet_pton(socket.AF_INET6, GROUP)
        + struct.pack("!HH", SOURCE_PORT, PORT)
    )
    assert len(ph) == 36


def test_signed_vector_verifies() -> None:
    assert verify(SIGNED.data) is None


def test_signed_vector_mac_is_hmac_of_pseudo_header_and_datagram() -> None:
    data = SIGNED.data
    expected = hmac.new(KEY.secret, pseudo() + data[:-32], hashlib.sha256).digest()
    assert data[-32:] == expected == bytes.fromhex(SIGNED.fields["auth.mac"])
    assert data[-45:-32] == struct.pack("!BHHQ", 0x20, 42, KEY.key_id, NOW)


def test_sign_reproduces_the_vector() -> None:
    unsigned = decode(SIGNED.data)._replace(auth=None)
    assert sign(encode(unsigned), KEY, pseudo(), NOW) == SIGNED.data


# -- sign and verify ----------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        announce(),
        Message(GOODBYE, HOST, 7, 2, name="pi"),
        Message(QUERY, HOST, 7, 3),
        Message(QUERY, HOST, 7, 4, query_name="kitchen"),
    ],
    ids=["announce", "goodbye", "query-everyone", "query-name"],
)
def test_sign_verify_roundtrip(message: Message) -> None:
    data = signed(message)
    decoded = decode(data)
    assert decoded.auth == Auth(KEY.key_id, NOW, data[-32:])
    assert decoded._replace(auth=None) == message
    assert verify(data) is None


def test_unsigned_message_is_rejected() -> None:
    assert verify(encode(announce())) == Reason.UNSIGNED


def test_unknown_key_id_is_rejected() -> None:
    other = Key.from_text("another-key-0123456789")
    assert other.key_id != KEY.key_id
    assert verify(signed(announce()), {other.key_id: other}) == Reason.UNKNOWN_KEY


def test_wrong_key_with_the_same_key_id_is_rejected() -> None:
    colliding = Key.from_text(COLLIDING_TEXT)
    assert colliding.key_id == KEY.key_id
    assert colliding.secret != KEY.secret
    data = signed(announce())
    assert verify(data, {KEY.key_id: colliding}) == Reason.BAD_SIGNATURE


def test_key_id_field_is_covered_by_the_mac() -> None:
    other = Key.from_text("another-key-0123456789")
    keys = {KEY.key_id: KEY, other.key_id: other}
    data = bytearray(signed(announce()))
    struct.pack_into("!H", data, len(data) - 42, other.key_id)
    assert verify(bytes(data), keys) == Reason.BAD_SIGNATURE


def test_timestamp_is_covered_by_the_mac() -> None:
    data = bytearray(signed(announce()))
    struct.pack_into("!Q", data, len(data) - 40, NOW + 1)
    assert verify(bytes(data)) == Reason.BAD_SIGNATURE


def test_every_tampered_byte_is_detected() -> None:
    data = SIGNED.data
    for position in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(data)
            tampered[position] ^= mask
            try:
                message = decode(bytes(tampered))
            except DecodeError:
                continue  # dropped by the decoder: fine
            result = check_mac(bytes(tampered), message, KEYS, pseudo())
            assert result is not None, (position, mask)


@pytest.mark.parametrize(
    "changed",
    [
        {"source": "fe80::2"},
        {"source_port": SOURCE_PORT + 1},
        {"destination": "fe80::99"},  # replayed as unicast to someone
        {"destination_port": PORT + 1},
    ],
    ids=["source", "source-port", "destination", "destination-port"],
)
def test_mac_is_bound_to_the_pseudo_header(changed: dict[str, str | int]) -> None:
    fields: dict[str, str | int] = {
        "source": SOURCE,
        "source_port": SOURCE_PORT,
        "destination": GROUP,
        "destination_port": PORT,
    }
    fields.update(changed)
    other = pseudo_header(
        str(fields["source"]),
        int(fields["source_port"]),
        str(fields["destination"]),
        int(fields["destination_port"]),
    )
    assert verify(SIGNED.data, ph=other) == Reason.BAD_SIGNATURE


def test_pseudo_header_ignores_zones() -> None:
    assert pseudo_header("fe80::1%eth0", 1, "ff02::1:1%3", 2) == pseudo_header(
        "fe80::1", 1, "ff02::1:1", 2
    )


# -- keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a" * 16,
        "a" * 256,
        "  padded-key-0123456789  \n",
        "ключ-ключ-ключ-ключ",
        "!#$%&'()*+,-./:;<=>?@[]^_`{|}~",
    ],
    ids=["16", "256", "padded", "cyrillic", "punctuation"],
)
def test_valid_key_texts(text: str) -> None:
    key = Key.from_text(text)
    assert key.secret == text.strip().encode("utf-8")
    digest = hashlib.sha256(b"linkname/1 key id\x00" + key.secret).digest()
    assert key.key_id == int.from_bytes(digest[:2], "big")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "a" * 15,
        "a" * 257,
        "with a space-0123456789",
        "with\ttab-0123456789",
        "with\nnewline-0123456789",
        "nbsp\u00a0inside-0123456789",
        "control\x07-0123456789",
        "bidi\u202e-0123456789",
    ],
    ids=[
        "empty",
        "blank",
        "15",
        "257",
        "space",
        "tab",
        "newline",
        "nbsp",
        "control",
        "bidi",
    ],
)
def test_invalid_key_texts(text: str) -> None:
    with pytest.raises(BadKeyError):
        Key.from_text(text)


def test_bad_key_error_is_a_value_error() -> None:
    assert issubclass(BadKeyError, ValueError)


def test_key_repr_hides_the_secret() -> None:
    assert KEY_TEXT not in repr(KEY)
    assert f"0x{KEY.key_id:04x}" in repr(KEY)


def test_key_file_with_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(f"# linkname key\n\n   # rotated 2026\n{KEY_TEXT}\r\nignored\n")
    assert Key.from_file(path) == KEY
    assert Key.from_file(str(path)) == KEY


@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n  \n", b"# only a comment\n  # and another\n"],
    ids=["empty", "blank-lines", "comments-only"],
)
def test_key_file_without_a_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(BadKeyError, match="holds no key"):
        Key.from_file(path)


def test_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(BadKeyError, match="cannot read"):
        Key.from_file(tmp_path / "missing")
    with pytest.raises(BadKeyError, match="cannot read"):
        Key.from_file(tmp_path)  # a directory
    latin1 = tmp_path / "latin1"
    latin1.write_bytes(b"schl\xfcssel-0123456789\n")
    with pytest.raises(BadKeyError, match="cannot read"):
        Key.from_file(latin1)
    short = tmp_path / "short"
    short.write_text("too-short\n")
    with pytest.raises(BadKeyError, match="16 to 256"):
        Key.from_file(short)


def test_generated_keys() -> None:
    texts = {generate_key_text() for _ in range(50)}
    assert len(texts) == 50
    allowed = set(string.ascii_letters + string.digits + "-_")
    for text in texts:
        assert len(text) == 32
        assert set(text) <= allowed
        assert Key.from_text(text).secret == text.encode()


# -- sequence numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "than", "newer"),
    [
        (1, 0, True),
        (0, 1, False),
        (5, 5, False),
        (0, 0xFFFFFFFF, True),  # wraparound
        (0xFFFFFFFF, 0, False),
        (0x7FFFFFFF, 0, True),
        (0x80000000, 0, False),  # exactly half way: undefined, "not newer"
        (0, 0x80000000, False),
        (0x80000001, 0, False),
        (4, 0x80000005, True),
    ],
)
def test_seq_newer(seq: int, than: int, newer: bool) -> None:
    assert seq_newer(seq, than) is newer


@given(st.integers(0, 2**32 - 1), st.integers(1, 2**31 - 1))
def test_seq_newer_is_rfc1982(base: int, step: int) -> None:
    later = (base + step) % 2**32
    assert seq_newer(later, base)
    assert not seq_newer(base, later)


# -- replay guard ----------------------------------------------------------------------


def stamped(seq: int, ts: int = NOW, *, boot: int = 7, host: bytes = HOST) -> Message:
    return Message(
        ANNOUNCE,
        host,
        boot,
        seq,
        ttl=180,
        name="pi",
        addresses=(SOURCE,),
        auth=Auth(KEY.key_id, ts, bytes(32)),
    )


def running() -> ReplayGuard:
    """A guard of a receiver that started an hour ago."""
    return ReplayGuard(started_ms=NOW - 3_600_000)


def test_same_boot_needs_a_newer_sequence_number() -> None:
    guard = running()
    assert guard.check(stamped(10), NOW) is None
    assert guard.check(stamped(11), NOW) is None
    assert guard.check(stamped(11), NOW) == Reason.REPLAY  # equal
    assert guard.check(stamped(3), NOW) == Reason.REPLAY  # older
    assert guard.check(stamped(12, NOW - 5000), NOW) is None  # ts may go back


def test_sequence_number_wraps_around() -> None:
    guard = ReplayGuard()
    assert guard.check(stamped(0xFFFFFFFF), NOW) is None
    assert guard.check(stamped(0), NOW) is None
    assert guard.check(stamped(0xFFFFFFFF), NOW) == Reason.REPLAY


def test_new_boot_needs_a_newer_timestamp() -> None:
    guard = ReplayGuard()
    assert guard.check(stamped(50, NOW, boot=1), NOW) is None
    assert guard.check(stamped(1, NOW, boot=2), NOW) == Reason.REPLAY  # equal ts
    assert guard.check(stamped(1, NOW - 1, boot=2), NOW) == Reason.REPLAY
    assert guard.check(stamped(1, NOW + 1, boot=2), NOW) is None  # restarted
    # A message of the earlier boot, replayed within the window:
    assert guard.check(stamped(51, NOW, boot=1), NOW) == Reason.REPLAY


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-DEFAULT_WINDOW_MS - 1, False),
        (-DEFAULT_WINDOW_MS, True),
        (0, True),
        (DEFAULT_WINDOW_MS, True),
        (DEFAULT_WINDOW_MS + 1, False),
    ],
)
def test_timestamp_window_on_both_sides(offset: int, accepted: bool) -> None:
    assert DEFAULT_WINDOW_MS == 60_000
    guard = running()
    result = guard.check(stamped(1, NOW + offset), NOW)
    assert result == (None if accepted else Reason.STALE_TIMESTAMP)
    assert len(guard) == (1 if accepted else 0)  # rejections leave no state


def test_stale_timestamp_is_checked_for_known_hosts_too() -> None:
    guard = ReplayGuard()
    assert guard.check(stamped(1), NOW) is None
    later = NOW + 10 * DEFAULT_WINDOW_MS
    assert guard.check(stamped(2), later) == Reason.STALE_TIMESTAMP
    assert guard.check(stamped(2, later), later) is None


def test_unsigned_message_is_refused_by_the_guard() -> None:
    message = stamped(1)._replace(auth=None)
    assert ReplayGuard().check(message, NOW) == Reason.UNSIGNED


def test_hosts_are_independent() -> None:
    guard = ReplayGuard()
    other = bytes(16)
    assert guard.check(stamped(5), NOW) is None
    assert guard.check(stamped(5, host=other), NOW) is None
    assert guard.check(stamped(5), NOW) == Reason.REPLAY


def test_least_recently_heard_host_is_forgotten_first() -> None:
    guard = ReplayGuard(capacity=10)
    hosts = [i.to_bytes(16, "big") for i in range(11)]
    for host in hosts[:10]:
        assert guard.check(stamped(1, host=host), NOW) is None
    assert guard.check(stamped(2, host=hosts[0]), NOW) is None  # heard again
    assert guard.check(stamped(1, host=hosts[10]), NOW) is None  # evicts hosts[1]
    assert len(guard) == 10
    assert guard.check(stamped(2, host=hosts[0]), NOW) == Reason.REPLAY  # kept
    # hosts[1] was forgotten: its old message passes the guard again (the
    # limitation the spec states in section 10.3).
    assert guard.check(stamped(1, host=hosts[1]), NOW) is None


def test_memory_stays_bounded_under_100k_host_ids() -> None:
    guard = ReplayGuard(capacity=4096)
    auth = Auth(KEY.key_id, NOW, bytes(32))
    flood = [
        Message(ANNOUNCE, i.to_bytes(16, "big"), 1, 1, 180, auth=auth)
        for i in range(100_000)
    ]
    tracemalloc.start()
    try:
        for message in flood:
            assert guard.check(message, NOW) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(guard) == 4096
    # 4096 remembered hosts need about 1 MB; all 100k would need about 18 MB.
    assert peak < 4_000_000


# -- revision 2: restart window, key rings, key files ----------------------------


def test_restarted_receiver_refuses_what_was_sent_before_its_start() -> None:
    # A signed ANNOUNCE heard, then its host's GOODBYE; the receiver restarts
    # 30 s later with empty replay state; the ANNOUNCE is replayed.
    captured = stamped(41, NOW - 30_000)
    guard = ReplayGuard(started_ms=NOW)
    assert guard.check(captured, NOW) == Reason.STALE_TIMESTAMP
    assert len(guard) == 0
    # Within the skew (clocks a little apart) and anything newer: accepted.
    assert guard.check(stamped(42, NOW - START_SKEW_MS), NOW) is None
    assert guard.check(stamped(43, NOW + 5), NOW + 5) is None
    # Without started_ms the first check is the start.
    lazy = ReplayGuard()
    assert lazy.check(stamped(1, NOW), NOW) is None
    assert lazy.started_ms == NOW
    assert lazy.check(stamped(1, NOW - 10_000, host=bytes(16)), NOW) == (
        Reason.STALE_TIMESTAMP
    )


def test_key_ring_refuses_a_key_id_collision(
    colliding_keys: tuple[Key, Key],
) -> None:
    a, b = colliding_keys
    assert a.key_id == b.key_id
    assert a.secret != b.secret
    with pytest.raises(BadKeyError, match=f"same key ID 0x{a.key_id:04x}"):
        key_ring([KEY, a, b])
    assert key_ring([KEY, a, KEY]) == {KEY.key_id: KEY, a.key_id: a}  # same key


def test_key_file_whitespace_lines_bom_and_escaped_hash(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(f"\ufeff \t \n\u00a0\u2003\n\x0b\n  {KEY_TEXT}  \n")
    assert Key.from_file(path) == KEY
    path.write_text("# a comment\n\\#starts-with-a-hash-0123\n")
    assert Key.from_file(path) == Key.from_text("#starts-with-a-hash-0123")
    path.write_text("\\\\starts-with-backslash-01\n")
    assert Key.from_file(path) == Key.from_text("\\starts-with-backslash-01")


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "huge"])
def test_key_and_state_files_are_size_limited_regular_files(
    tmp_path: Path, kind: str
) -> None:
    if kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)  # nobody writes: a plain open() would hang
    elif kind == "directory":
        path = tmp_path
    else:
        path = tmp_path / "huge"
        path.write_bytes(b"#" * (MAX_KEY_FILE_BYTES + 1))
    reason = "larger than" if kind == "huge" else "not a regular file"
    with pytest.raises(BadKeyError, match=reason):
        Key.from_file(path)
    with pytest.raises(StateError, match=reason):
        read_host_id(path)


def test_key_file_mode_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY_TEXT)
    path.chmod(0o640)
    key, mode = Key.from_file_with_mode(path)
    assert key == KEY
    assert mode & 0o777 == 0o640


def test_restarted_table_takes_no_replay_after_goodbye() -> None:
    """Issue 9 section 5: the ghost entry of a replay after a receiver restart."""
    rx = RxMeta(SOURCE, 40000, GROUP, PORT, 3, 255)
    pseudo = pseudo_header(SOURCE, 40000, GROUP, PORT)

    def signed(message: Message, wall: int) -> bytes:
        return sign(encode(message), KEY, pseudo, wall)

    hello = Message(ANNOUNCE, HOST, 7, 1, 180, name="pi", addresses=(SOURCE,))
    captured = signed(hello, NOW)
    first = NeighbourTable(keys=[KEY], ifindex=3)
    assert isinstance(first.datagram_received(captured, rx, 0.0, NOW)[0], Joined)
    bye = signed(Message(GOODBYE, HOST, 7, 2), NOW + 1000)
    assert isinstance(first.datagram_received(bye, rx, 1.0, NOW + 1000)[0], Left)
    # The receiver restarts 30 s later (new table, empty replay state): it
    # hears another host, then the captured ANNOUNCE replayed.
    later = NOW + 30_000
    second = NeighbourTable(keys=[KEY], ifindex=3)
    other = Message(ANNOUNCE, bytes(16), 1, 1, 180, name="nas", addresses=(SOURCE,))
    fresh = signed(other, later)
    assert isinstance(second.datagram_received(fresh, rx, 0.0, later)[0], Joined)
    events = second.datagram_received(captured, rx, 1.0, later + 10)
    assert [e.reason for e in events] == [Reason.STALE_TIMESTAMP]  # type: ignore[attr-defined]
    assert second.get(HOST) is None  # no ghost entry
