"""Tests of the linkname/1 codec (linkname.codec) against docs/PROTOCOL.md."""

from __future__ import annotations

import socket
import struct
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from custom_components.linkname.protocol.codec import (
    Auth,
    DecodeError,
    EncodeError,
    Message,
    MessageType,
    Reason,
    decode,
    encode,
    name_key,
    text_problem,
    validate_name,
)
from custom_components.linkname.protocol.const import (
    ANNOUNCE,
    FLAG_RESPONSE,
    GOODBYE,
    MAX_DATAGRAM,
    QUERY,
    TLV_ADDRESSES,
    TLV_AUTH,
    TLV_MANUFACTURER,
    TLV_MODEL,
    TLV_NAME,
    TLV_QUERY_NAME,
)
from custom_components.linkname.protocol.names import char_allowed, name_problem

from . import vectors
from .vectors import Vector

HOST = bytes(range(16))
LL = "fe80::1"

# -- helpers: raw datagrams, independent of the encoder ------------------------


def header(
    mtype: int = ANNOUNCE,
    *,
    ttl: int | None = None,
    flags: int = 0,
    reserved: int = 0,
    seq: int = 1,
) -> bytes:
    if ttl is None:
        ttl = 180 if mtype == ANNOUNCE else 0
    return struct.pack(
        "!2sBBBBH16sII", b"LN", 1, mtype, flags, reserved, ttl, HOST, 7, seq
    )


def tlv(tlv_type: int, value: bytes) -> bytes:
    return struct.pack("!BH", tlv_type, len(value)) + value


def v6(address: str) -> bytes:
    return b"\x06" + socket.inet_pton(socket.AF_INET6, address)


def v4(address: str) -> bytes:
    return b"\x04" + socket.inet_pton(socket.AF_INET, address)


def announce_raw(name: bytes = b"pi", addresses: bytes | None = None) -> bytes:
    return (
        header()
        + tlv(TLV_NAME, name)
        + tlv(TLV_ADDRESSES, v6(LL) if addresses is None else addresses)
    )


def reason_of(data: bytes) -> Reason:
    with pytest.raises(DecodeError) as info:
        decode(data)
    return info.value.reason


# -- the spec's vectors ---------------------------------------------------------

REQUIRED_MALFORMED = {
    "truncated-header": Reason.TRUNCATED,
    "bad-magic": Reason.BAD_MAGIC,
    "version-2": Reason.UNSUPPORTED_VERSION,
    "unknown-type": Reason.UNKNOWN_TYPE,
    "truncated-tlv": Reason.BAD_TLV_LENGTH,
    "unknown-critical-tlv": Reason.UNKNOWN_CRITICAL_TLV,
    "name-bidi": Reason.BAD_NAME,
    "name-not-nfc": Reason.BAD_NAME,
    "duplicate-name": Reason.DUPLICATE_TLV,
    "first-address-not-link-local": Reason.BAD_ADDRESS,
    "auth-not-last": Reason.BAD_AUTH,
    "oversized": Reason.TOO_LARGE,
    "goodbye-ttl-60": Reason.BAD_TTL,
}


def test_spec_holds_every_required_vector() -> None:
    idents = {v.ident for v in vectors.all_vectors()}
    valid = {
        "announce",
        "announce-response",
        "goodbye",
        "query-name",
        "query-everyone",
        "announce-signed",
        "announce-manufacturer",
    }
    assert valid <= idents
    for ident, reason in REQUIRED_MALFORMED.items():
        assert vectors.vector(ident).fields["reason"] == reason.value
    assert len(vectors.malformed_vectors()) >= 8


def test_spec_vectors_are_what_the_generator_prints() -> None:
    """scripts/gen_vectors.py --check, as a test: the appendix is up to date."""
    generator = vectors.load_generator()
    spec = vectors.spec_text()
    assert (
        generator.replace_section(spec, generator.render(generator.vectors())) == spec
    )


def test_every_reason_code_is_in_the_spec_table() -> None:
    spec = vectors.spec_text()
    for reason in Reason:
        assert f"| `{reason.value}` |" in spec, reason


@pytest.mark.parametrize("vector", vectors.valid_vectors(), ids=lambda v: v.ident)
def test_valid_vector_decodes_as_stated(vector: Vector) -> None:
    unknown = (
        set(vector.fields)
        - vectors.MESSAGE_KEYS
        - vectors.SIGNING_KEYS
        - {"length", "roundtrip"}
    )
    assert not unknown, f"fields the test does not check: {unknown}"
    message = decode(vector.data)
    assert message == vector.message()
    assert message.is_response == bool(message.flags & FLAG_RESPONSE)


@pytest.mark.parametrize("vector", vectors.valid_vectors(), ids=lambda v: v.ident)
def test_valid_vector_reencodes(vector: Vector) -> None:
    message = decode(vector.data)
    again = encode(message)
    if vector.fields.get("roundtrip", "yes") == "yes":
        assert again == vector.data
    else:
        assert vector.fields["roundtrip"] == "no"
        assert again != vector.data
        assert decode(again) == message


@pytest.mark.parametrize("vector", vectors.malformed_vectors(), ids=lambda v: v.ident)
def test_malformed_vector_is_rejected_with_its_reason(vector: Vector) -> None:
    assert set(vector.fields) == {"reason", "length"}
    assert reason_of(vector.data) == Reason(vector.fields["reason"])


def test_hexdump_parser_rejects_a_wrong_ascii_column() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        vectors.parse_hexdump(
            ["0000  4c 4e                                             |XX|", "0002"]
        )


def test_hexdump_parser_expands_repeats() -> None:
    row = "0010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|"
    lines = [row.replace("0010", "0000"), "*", "0030"]
    assert vectors.parse_hexdump(lines) == bytes(48)
    with pytest.raises(ValueError, match="last line"):
        vectors.parse_hexdump(["0000", row])


# -- decoding: shapes beyond the vectors -----------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", Reason.TRUNCATED),
        (header()[:-1], Reason.TRUNCATED),
        (announce_raw() + tlv(0x7E, bytes(MAX_DATAGRAM)), Reason.TOO_LARGE),
        (header(QUERY, ttl=1), Reason.BAD_TTL),
        (header(GOODBYE, ttl=0xFFFF), Reason.BAD_TTL),
        (header(ANNOUNCE, ttl=0) + b"\x01", Reason.BAD_TTL),
        (header(QUERY) + b"\x01", Reason.BAD_TLV_LENGTH),
        (header(QUERY) + b"\x03\x00\x01", Reason.BAD_TLV_LENGTH),
        (header(QUERY) + b"\x7e\xff\xff" + bytes(10), Reason.BAD_TLV_LENGTH),
        (header(QUERY) + tlv(0xFF, b"x"), Reason.UNKNOWN_CRITICAL_TLV),
        (header(QUERY) + tlv(0x80, b""), Reason.UNKNOWN_CRITICAL_TLV),
        (header(GOODBYE) + tlv(TLV_ADDRESSES, v6(LL)), Reason.UNEXPECTED_TLV),
        (header(GOODBYE) + tlv(TLV_MODEL, b"m"), Reason.UNEXPECTED_TLV),
        (header(GOODBYE) + tlv(TLV_QUERY_NAME, b"pi"), Reason.UNEXPECTED_TLV),
        (announce_raw() + tlv(TLV_QUERY_NAME, b"pi"), Reason.UNEXPECTED_TLV),
        (header(QUERY) + tlv(TLV_MODEL, b"m"), Reason.UNEXPECTED_TLV),
        (
            header(QUERY) + tlv(TLV_QUERY_NAME, b"a") + tlv(TLV_QUERY_NAME, b"b"),
            Reason.DUPLICATE_TLV,
        ),
        (
            announce_raw() + tlv(TLV_MODEL, b"a") + tlv(TLV_MODEL, b"b"),
            Reason.DUPLICATE_TLV,
        ),
        (announce_raw(name=b""), Reason.BAD_NAME),
        (announce_raw(name=b" pi"), Reason.BAD_NAME),
        (announce_raw(name=b"pi "), Reason.BAD_NAME),
        (announce_raw(name=b" "), Reason.BAD_NAME),
        (announce_raw(name="a\u2028b".encode()), Reason.BAD_NAME),  # Zl
        (announce_raw(name="a\u00a0b".encode()), Reason.BAD_NAME),  # Zs (NBSP)
        (announce_raw(name="a\ue000".encode()), Reason.BAD_NAME),  # Co
        (announce_raw(name="a\u0378".encode()), Reason.BAD_NAME),  # Cn
        (announce_raw(name="a\u200b".encode()), Reason.BAD_NAME),  # Cf (ZWSP)
        (announce_raw(name=b"a\tb"), Reason.BAD_NAME),  # Cc
        (announce_raw(name=b"\xed\xa0\x80"), Reason.BAD_NAME),  # UTF-8 surrogate
        (announce_raw(name=b"\xc0\xaf"), Reason.BAD_NAME),  # overlong
        (header(QUERY) + tlv(TLV_QUERY_NAME, b"a.b"), Reason.BAD_NAME),
        (header(QUERY) + tlv(TLV_QUERY_NAME, b""), Reason.BAD_NAME),
        (header(GOODBYE) + tlv(TLV_NAME, "x\u202e".encode()), Reason.BAD_NAME),
        (announce_raw(addresses=b""), Reason.BAD_ADDRESS),
        (announce_raw(addresses=v6(LL)[:-1]), Reason.BAD_ADDRESS),
        (announce_raw(addresses=v6(LL) + v4("192.0.2.1")[:-1]), Reason.BAD_ADDRESS),
        (announce_raw(addresses=v6(LL) * 17), Reason.BAD_ADDRESS),
        (announce_raw(addresses=v4("192.0.2.1") + v6(LL)), Reason.BAD_ADDRESS),
        (announce_raw(addresses=v6("fec0::1")), Reason.BAD_ADDRESS),  # site-local
        (announce_raw(addresses=v6("fe00::1")), Reason.BAD_ADDRESS),
        (announce_raw(addresses=v6("ff02::1")), Reason.BAD_ADDRESS),
        (announce_raw(addresses=b"\x00" * 17), Reason.BAD_ADDRESS),
        (announce_raw() + tlv(TLV_MODEL, b""), Reason.BAD_ATTRIBUTE),
        (announce_raw() + tlv(TLV_MODEL, b"m" * 65), Reason.BAD_ATTRIBUTE),
        (announce_raw() + tlv(0x11, b"os\n"), Reason.BAD_ATTRIBUTE),
        (announce_raw() + tlv(0x12, b" v1"), Reason.BAD_ATTRIBUTE),
        (announce_raw() + tlv(0x12, b"\xff"), Reason.BAD_ATTRIBUTE),
        (header(QUERY) + tlv(TLV_AUTH, bytes(43)), Reason.BAD_AUTH),
        (
            header(QUERY) + tlv(TLV_AUTH, bytes(42)) + tlv(TLV_QUERY_NAME, b"a"),
            Reason.BAD_AUTH,
        ),
        (
            header(QUERY) + tlv(TLV_AUTH, bytes(42)) + tlv(TLV_AUTH, bytes(42)),
            Reason.BAD_AUTH,
        ),
        (header() + tlv(TLV_ADDRESSES, v6(LL)), Reason.MISSING_NAME),
        (header() + tlv(TLV_NAME, b"pi"), Reason.MISSING_ADDRESSES),
        (header(), Reason.MISSING_NAME),
    ],
    ids=lambda value: value.value if isinstance(value, Reason) else "",
)
def test_malformed_shapes(data: bytes, reason: Reason) -> None:
    assert reason_of(data) == reason


def test_decode_error_carries_reason_and_detail() -> None:
    with pytest.raises(DecodeError) as info:
        decode(header(9))
    assert info.value.reason is Reason.UNKNOWN_TYPE
    assert info.value.detail == "type 9"
    assert str(info.value) == "unknown_type: type 9"


def test_limits_are_inclusive() -> None:
    name = "n" * 63
    addresses = v6(LL) + v6("fd00::1") * 14 + v4("192.0.2.1")
    data = announce_raw(name.encode(), addresses) + tlv(TLV_MODEL, b"m" * 64)
    message = decode(data)
    assert message.name == name
    assert len(message.addresses) == 16
    assert message.model == "m" * 64
    assert encode(message) == data


def test_exactly_1232_bytes_is_accepted() -> None:
    base = announce_raw()
    data = base + tlv(0x7E, bytes(MAX_DATAGRAM - len(base) - 3))
    assert len(data) == MAX_DATAGRAM
    assert decode(data).name == "pi"
    assert reason_of(data + b"\x00") == Reason.TOO_LARGE


def test_unknown_non_critical_tlvs_are_skipped_even_repeated() -> None:
    data = announce_raw() + tlv(0x7E, b"x") + tlv(0x7E, b"y") + tlv(0x00, b"")
    assert decode(data) == decode(announce_raw())


def test_tlv_order_is_free_except_auth() -> None:
    data = (
        header()
        + tlv(TLV_MODEL, b"m")
        + tlv(TLV_ADDRESSES, v6(LL))
        + tlv(TLV_NAME, b"pi")
    )
    message = decode(data)
    assert (message.name, message.addresses, message.model) == ("pi", (LL,), "m")


def test_reserved_bits_are_ignored() -> None:
    data = header(QUERY, flags=0xFF, reserved=0xAB)
    message = decode(data)
    assert not message.is_response  # RESPONSE is meaningless on a QUERY
    assert message.flags == 0x7F
    assert encode(message) == header(QUERY, flags=0x7F)  # reserved byte sent as 0
    announce = decode(announce_raw()[:4] + b"\x81" + announce_raw()[5:])
    assert announce.is_response
    assert announce.flags == 0x81


def test_response_flag_is_cleared_on_goodbye() -> None:
    message = decode(header(GOODBYE, flags=FLAG_RESPONSE))
    assert message.flags == 0
    assert not message.is_response


def test_addresses_decode_to_canonical_text() -> None:
    data = announce_raw(
        addresses=v6("FE80:0:0:0:0:0:0:1")
        + v6("2001:db8::1")
        + v6("::ffff:192.0.2.1")
        + v4("10.0.0.1")
    )
    assert decode(data).addresses == (
        "fe80::1",
        "2001:db8::1",
        "::ffff:192.0.2.1",
        "10.0.0.1",
    )


def test_any_fe80_10_address_is_link_local() -> None:
    for first in ("fe80::1", "febf:ffff::1"):
        assert decode(announce_raw(addresses=v6(first))).addresses == (first,)


# -- encoding ---------------------------------------------------------------------


def good_announce(**changes: Any) -> Message:
    base = Message(ANNOUNCE, HOST, 7, 1, ttl=180, name="pi", addresses=(LL,))
    return base._replace(**changes)


def test_encode_strips_the_zone_of_addresses() -> None:
    data = encode(good_announce(addresses=("fe80::1%eth0", "192.0.2.1")))
    assert decode(data).addresses == (LL, "192.0.2.1")


def test_encode_sends_tlvs_in_ascending_order_auth_last() -> None:
    message = good_announce(
        model="m", os="o", software="s", manufacturer="x", auth=Auth(1, 2, bytes(32))
    )
    data = encode(message)
    types = []
    pos = 32
    while pos < len(data):
        tlv_type, length = struct.unpack_from("!BH", data, pos)
        types.append(tlv_type)
        pos += 3 + length
    assert types == [0x01, 0x02, 0x10, 0x11, 0x12, 0x13, 0x20]


@pytest.mark.parametrize(
    "message",
    [
        good_announce(type=4),
        good_announce(type=0),
        good_announce(host_id=bytes(15)),
        good_announce(host_id=bytes(17)),
        good_announce(ttl=0),
        good_announce(ttl=-1),
        good_announce(ttl=0x10000),
        good_announce(name=None),
        good_announce(addresses=()),
        good_announce(addresses=("fd00::1", LL)),
        good_announce(addresses=("192.0.2.1",)),
        good_announce(addresses=(LL,) * 17),
        good_announce(addresses=(LL, "not an address")),
        good_announce(addresses=(LL, "192.0.2")),
        good_announce(addresses=(LL, "fe80::1::2")),
        good_announce(query_name="pi"),
        good_announce(auth=Auth(1, 2, bytes(31))),
        good_announce(model=""),
        good_announce(model="m" * 65),
        good_announce(model="é" * 33),
        good_announce(os=" x"),
        good_announce(software="a\u202eb"),
        good_announce(software="\ud800"),  # a lone surrogate cannot be UTF-8
        good_announce(name=""),
        good_announce(name="n" * 64),
        good_announce(name="é" * 32),
        good_announce(name="a.b"),
        good_announce(name="a\nb"),
        good_announce(name="pi "),
        good_announce(name="Bu\u0308ro"),
        good_announce(name="\udfff"),
        Message(GOODBYE, HOST, 7, 1, ttl=60),
        Message(GOODBYE, HOST, 7, 1, addresses=(LL,)),
        Message(GOODBYE, HOST, 7, 1, model="m"),
        Message(GOODBYE, HOST, 7, 1, query_name="pi"),
        Message(QUERY, HOST, 7, 1, ttl=1),
        Message(QUERY, HOST, 7, 1, name="pi"),
        Message(QUERY, HOST, 7, 1, addresses=(LL,)),
        Message(QUERY, HOST, 7, 1, os="o"),
        Message(QUERY, HOST, 7, 1, query_name="a.b"),
        Message(QUERY, HOST, 7, 1, query_name=""),
    ],
)
def test_encode_rejects_invalid_messages(message: Message) -> None:
    with pytest.raises(EncodeError):
        encode(message)


def test_encode_error_is_a_value_error() -> None:
    assert issubclass(EncodeError, ValueError)


# -- names and text ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["pi", "Kitchen Pi", "Büro", "台所", "n" * 63, "é" * 31, "a-b_c(1)", "🙂", "ΐ"],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name
    assert text_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        " pi",
        "pi ",
        "a.b",
        "a\x00b",
        "a\u202eb",
        "a\u00a0b",
        "Bu\u0308ro",
        "n" * 64,
        # Default-ignorable and invisible characters (issue 9, section 4).
        "\u3164",  # HANGUL FILLER (Lo)
        "pi\u3164",
        "p\u034fi",  # COMBINING GRAPHEME JOINER (Mn)
        "pi\ufe0f",  # VARIATION SELECTOR-16 (Mn)
        "\u2800",  # BRAILLE PATTERN BLANK (So)
        "pi\u2800",
        "p\u200bi",  # ZERO WIDTH SPACE (Cf)
        "p\u200di",  # ZERO WIDTH JOINER (Cf)
        "p\u2060i",  # WORD JOINER (Cf)
        "p\ufeffi",  # ZERO WIDTH NO-BREAK SPACE (Cf)
        "p\u00adi",  # SOFT HYPHEN (Cf)
        "\u115f",  # HANGUL CHOSEONG FILLER (Lo)
        "\uffa0",  # HALFWIDTH HANGUL FILLER (Lo)
        "p\u17b4i",  # KHMER VOWEL INHERENT AQ (Mn)
        "p\u180bi",  # MONGOLIAN FREE VARIATION SELECTOR ONE (Mn)
        "p\U000e0100i",  # VARIATION SELECTOR-17 (Mn)
        "p\U000e0041i",  # TAG LATIN CAPITAL LETTER A (Cf)
        "\U0001d159",  # MUSICAL SYMBOL NULL NOTEHEAD (So)
        "p\ue000i",  # private use
        "p\U0001fae8",  # assigned in Unicode 15.0 (Python 3.12): not in the repertoire
        # Full stops: a name is one label.
        "a\u3002b",  # IDEOGRAPHIC FULL STOP
        "a\uff0eb",  # FULLWIDTH FULL STOP (NFKC: ".")
        "a\uff61b",  # HALFWIDTH IDEOGRAPHIC FULL STOP
        "a\u2024b",  # ONE DOT LEADER (NFKC: ".")
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid name"):
        validate_name(name)
    raw = name.encode("utf-8", "surrogatepass")
    if 0 < len(raw) <= 63:
        assert reason_of(announce_raw(name=raw)) is Reason.BAD_NAME
        with pytest.raises(EncodeError):
            encode(good_announce(name=name))


@pytest.mark.parametrize(
    "text", ["\u3164", "m\u034f", "m\ufe0f", "\u2800", "m\u200b", "m\ue000"]
)
def test_attributes_follow_the_repertoire_too(text: str) -> None:
    raw = announce_raw() + tlv(TLV_MODEL, text.encode("utf-8"))
    assert reason_of(raw) is Reason.BAD_ATTRIBUTE
    with pytest.raises(EncodeError):
        encode(good_announce(model=text))


def test_repertoire_is_printable_less_ignorables_and_invisibles() -> None:
    """Every repertoire character is printable here too (revision 1's rule 3);
    what is left out of the printable ones is invisible or newer."""
    left_out_printable = set()
    for code in range(0x110000):
        char = chr(code)
        if char_allowed(char):
            assert char.isprintable(), hex(code)
            assert unicodedata.category(char)[0] in "LMNPS" or char == " "
        elif char.isprintable():
            left_out_printable.add(code)
    for code in (0x034F, 0x115F, 0x1160, 0x17B4, 0x3164, 0xFE0F, 0xFFA0, 0x2800):
        assert code in left_out_printable
    assert not char_allowed("\u0085")  # NEL: a control character
    assert char_allowed(" ")
    assert not char_allowed("\u3000")  # IDEOGRAPHIC SPACE (Zs)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("\u0390", "\u03aa\u0301"),  # issue 9: these two must compare equal
        ("Kitchen", "KITCHEN"),
        ("kitchen", "\uff4b\uff49\uff54\uff43\uff48\uff45\uff4e"),  # fullwidth
        ("Straße", "STRASSE"),
        ("\ufb01le", "FILE"),  # LATIN SMALL LIGATURE FI
        ("\u2460", "1"),  # CIRCLED DIGIT ONE
        ("\u216b", "xii"),  # ROMAN NUMERAL TWELVE
        ("\u00c5", "\u212b"),  # A WITH RING ABOVE and ANGSTROM SIGN
        ("\u01c5", "\u01c6"),  # titlecase and small dz with caron
    ],
)
def test_name_key_is_nfkc_casefold(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("pi", "p\u0456"),  # Latin i, Cyrillic i: homoglyphs stay two names
        ("kitchen", "kitchen-2"),
        ("\u00f6", "o"),
    ],
)
def test_name_key_keeps_different_names_apart(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


def test_both_spellings_of_the_issue_9_pair_are_valid_names() -> None:
    for name in ("\u0390", "\u03aa\u0301"):
        assert validate_name(name) == name
        assert decode(encode(good_announce(name=name))).name == name


# -- properties -------------------------------------------------------------------

# Letters, marks, numbers, punctuation and symbols of the repertoire (the
# runtime's Unicode database knows characters the repertoire does not).
_TEXT_CHARS = st.characters(categories=("L", "M", "N", "P", "S")).filter(
    char_allowed
) | st.just(" ")


def _clean(text: str, *, dots: bool) -> str:
    text = unicodedata.normalize("NFC", text).strip(" ")
    return text if dots else text.replace(".", "-")


def _fits(limit: int) -> Callable[[str], bool]:
    return lambda text: 0 < len(text.encode("utf-8")) <= limit


names = (
    st.one_of(
        st.text(
            st.characters(codec="ascii", categories=("L", "N", "P", "S")),
            min_size=1,
            max_size=63,
        ),
        st.text(_TEXT_CHARS, min_size=1, max_size=20),
    )
    .map(lambda t: _clean(t, dots=False))
    .filter(_fits(63))
    .filter(lambda t: name_problem(t) is None)  # e.g. U+FF0E: "." under NFKC
)

attributes = (
    st.text(_TEXT_CHARS, min_size=1, max_size=30)
    .map(lambda t: _clean(t, dots=True))
    .filter(_fits(64))
    .filter(lambda t: text_problem(t) is None)  # NFC can leave the repertoire
)

link_locals = st.tuples(st.integers(0, 0x3F), st.binary(min_size=14, max_size=14)).map(
    lambda t: socket.inet_ntop(socket.AF_INET6, bytes((0xFE, 0x80 | t[0])) + t[1])
)
other_addresses = st.one_of(
    st.binary(min_size=16, max_size=16).map(
        lambda b: socket.inet_ntop(socket.AF_INET6, b)
    ),
    st.binary(min_size=4, max_size=4).map(
        lambda b: socket.inet_ntop(socket.AF_INET, b)
    ),
)
auths = st.builds(
    Auth,
    st.integers(0, 0xFFFF),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
)
u32 = st.integers(0, 2**32 - 1)
host_ids = st.binary(min_size=16, max_size=16)


@st.composite
def announces(draw: st.DrawFn) -> Message:
    return Message(
        ANNOUNCE,
        draw(host_ids),
        draw(u32),
        draw(u32),
        ttl=draw(st.integers(1, 0xFFFF)),
        flags=draw(st.integers(0, 0xFF)),
        name=draw(names),
        addresses=(draw(link_locals), *draw(st.lists(other_addresses, max_size=15))),
        model=draw(st.none() | attributes),
        os=draw(st.none() | attributes),
        software=draw(st.none() | attributes),
        auth=draw(st.none() | auths),
        manufacturer=draw(st.none() | attributes),
    )


@st.composite
def goodbyes(draw: st.DrawFn) -> Message:
    return Message(
        GOODBYE,
        draw(host_ids),
        draw(u32),
        draw(u32),
        flags=draw(st.integers(0, 0x7F)),
        name=draw(st.none() | names),
        auth=draw(st.none() | auths),
    )


@st.composite
def queries(draw: st.DrawFn) -> Message:
    return Message(
        QUERY,
        draw(host_ids),
        draw(u32),
        draw(u32),
        flags=draw(st.integers(0, 0x7F)),
        query_name=draw(st.none() | names),
        auth=draw(st.none() | auths),
    )


messages = st.one_of(announces(), goodbyes(), queries())


@given(messages)
@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
def test_roundtrip_of_any_valid_message(message: Message) -> None:
    data = encode(message)
    assert len(data) <= MAX_DATAGRAM
    assert decode(data) == message
    assert encode(decode(data)) == data


def decoded(data: bytes) -> Message | DecodeError:
    """The decoded message, or the DecodeError; any other exception propagates."""
    try:
        return decode(data)
    except DecodeError as err:
        return err


def check_decode(data: bytes) -> None:
    """decode raises nothing but DecodeError, and what it accepts re-encodes."""
    result = decoded(data)
    if isinstance(result, DecodeError):
        assert isinstance(result.reason, Reason)
        return
    again = encode(result)  # a decodable message must be encodable
    assert decode(again) == result
    assert MessageType(result.type)


@given(st.binary(max_size=1300))
@settings(max_examples=300)
def test_decode_arbitrary_bytes(data: bytes) -> None:
    check_decode(data)


_TLV_TYPES = st.sampled_from(
    [0x00, 0x01, 0x02, 0x03, 0x10, 0x11, 0x12, 0x20, 0x7E, 0x80, 0x85, 0xFF]
) | st.integers(0, 0xFF)


@given(
    st.sampled_from([ANNOUNCE, GOODBYE, QUERY, 0, 4]),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
    st.lists(st.tuples(_TLV_TYPES, st.binary(max_size=80)), max_size=8),
    st.binary(max_size=4),
)
@settings(max_examples=500)
@example(QUERY, 5, 0, [], b"")  # a QUERY with a TTL: decodable => encodable
def test_decode_random_tlv_soup(
    mtype: int, ttl: int, flags: int, items: list[tuple[int, bytes]], tail: bytes
) -> None:
    data = header(mtype, ttl=ttl, flags=flags)
    data += b"".join(tlv(t, v) for t, v in items) + tail
    check_decode(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(encode(draw(messages)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif data:
            data[pos] = draw(st.integers(0, 0xFF))
    return bytes(data)


@given(mutated())
@settings(max_examples=1000, suppress_health_check=[HealthCheck.filter_too_much])
def test_decode_mutated_valid_messages(data: bytes) -> None:
    check_decode(data)


@given(st.text(max_size=70))
@settings(max_examples=300)
def test_encode_rejects_every_invalid_name_with_encode_error(name: str) -> None:
    try:
        validate_name(name)
    except ValueError:
        with pytest.raises(EncodeError):
            encode(good_announce(name=name))
        with pytest.raises(EncodeError):
            encode(Message(QUERY, HOST, 7, 1, query_name=name))
    else:
        assert decode(encode(good_announce(name=name))).name == name


@given(st.text(max_size=70))
@settings(max_examples=300)
def test_encode_checks_attributes_like_the_decoder(text: str) -> None:
    raw = announce_raw() + tlv(TLV_MODEL, text.encode("utf-8", "surrogatepass"))
    result = decoded(raw)
    if isinstance(result, DecodeError):
        assert result.reason == Reason.BAD_ATTRIBUTE
        with pytest.raises(EncodeError):
            encode(good_announce(model=text))
    else:
        assert result.model == text
        assert decode(encode(good_announce(model=text))).model == text


# -- decoder input types (issue 9, section 7) -------------------------------------


@pytest.mark.parametrize("kind", [bytearray, memoryview, lambda b: memoryview(b)[:]])
def test_decode_accepts_bytes_like(kind: Callable[[bytes], Any]) -> None:
    data = encode(good_announce(model="m", manufacturer="Acme"))
    assert decode(kind(data)) == decode(data)
    # Malformed bytes-like input raises the decoder's own error, not TypeError.
    with pytest.raises(DecodeError) as err:
        decode(kind(data[:20]))
    assert err.value.reason is Reason.TRUNCATED
    with pytest.raises(DecodeError) as err:
        decode(kind(b"LX" + data[2:]))
    assert err.value.reason is Reason.BAD_MAGIC


def test_decode_copies_a_reused_buffer() -> None:
    buffer = bytearray(encode(good_announce(name="one")))
    message = decode(buffer)
    buffer[35:38] = b"two"  # the receiver reuses its buffer for the next datagram
    assert message.name == "one"
    assert decode(buffer).name == "two"


def test_decode_of_a_strided_memoryview_uses_its_bytes() -> None:
    data = encode(good_announce())
    doubled = bytes(b for byte in data for b in (byte, 0))
    assert decode(memoryview(doubled)[::2]) == decode(data)


@pytest.mark.parametrize("value", ["LN\x01", 5, None, [1, 2], object()])
def test_decode_of_a_non_bytes_like_raises_only_decode_error(value: object) -> None:
    with pytest.raises(DecodeError) as err:
        decode(value)  # type: ignore[arg-type]
    assert err.value.reason is Reason.TRUNCATED
    assert "not bytes-like" in err.value.detail


# -- MANUFACTURER (issue 10, section 3) ------------------------------------------


def test_manufacturer_follows_the_attribute_rules() -> None:
    message = decode(announce_raw() + tlv(TLV_MANUFACTURER, b"Raspberry Pi Ltd"))
    assert message.manufacturer == "Raspberry Pi Ltd"
    assert message.model is None
    for bad in (b"", b"x" * 65, b"a\x00b", "\u202eevil".encode(), b"\xff"):
        raw = announce_raw() + tlv(TLV_MANUFACTURER, bad)
        assert reason_of(raw) is Reason.BAD_ATTRIBUTE, bad
    twice = announce_raw() + tlv(TLV_MANUFACTURER, b"a") + tlv(TLV_MANUFACTURER, b"b")
    assert reason_of(twice) is Reason.DUPLICATE_TLV
    goodbye = header(GOODBYE, ttl=0) + tlv(TLV_MANUFACTURER, b"a")
    assert reason_of(goodbye) is Reason.UNEXPECTED_TLV
    assert decode(announce_raw() + tlv(TLV_MANUFACTURER, b"x" * 64)).manufacturer
    with pytest.raises(EncodeError):
        encode(good_announce(manufacturer="x" * 65))
    with pytest.raises(EncodeError):
        encode(Message(GOODBYE, HOST, 7, 1, manufacturer="Acme"))


def test_manufacturer_is_not_critical() -> None:
    """A revision-1 receiver skips it: its type lacks the critical bit."""
    assert not TLV_MANUFACTURER & 0x80


def test_manufacturer_survives_the_body_cache() -> None:
    first = encode(good_announce(manufacturer="Acme", seq=1))
    again = encode(good_announce(manufacturer="Acme", seq=2))
    assert decode(first).manufacturer == "Acme"
    assert decode(again).manufacturer == "Acme"  # the cached TLV section
    assert decode(encode(good_announce(seq=3))).manufacturer is None


# -- reserved TLV types 0x00 and 0x80 (revision 2, section 4.3) -------------------


@pytest.mark.parametrize("value", [b"", b"\x00", b"\x00" * 40])
def test_tlv_type_0_is_skipped_like_any_unknown_type(value: bytes) -> None:
    zero = tlv(0x00, value)
    name, addresses = tlv(TLV_NAME, b"pi"), tlv(TLV_ADDRESSES, v6(LL))
    for with_zero, without in (
        (header() + name + addresses + zero, header() + name + addresses),
        (header() + zero + name + addresses, header() + name + addresses),
        (header(QUERY) + zero + zero, header(QUERY)),
    ):
        assert decode(with_zero) == decode(without)
        assert encode(decode(with_zero)) == without  # skipped, not kept


def test_tlv_type_0_is_not_padding() -> None:
    """A lone zero byte is a truncated TLV header, not one byte of padding."""
    assert reason_of(announce_raw() + b"\x00") is Reason.BAD_TLV_LENGTH
    assert reason_of(announce_raw() + b"\x00\x00") is Reason.BAD_TLV_LENGTH
    assert reason_of(announce_raw() + b"\x00\x00\x05ab") is Reason.BAD_TLV_LENGTH


@pytest.mark.parametrize("mtype", [ANNOUNCE, GOODBYE, QUERY])
def test_tlv_type_0x80_drops_the_message(mtype: int) -> None:
    body = (
        tlv(TLV_NAME, b"pi") + tlv(TLV_ADDRESSES, v6(LL)) if mtype == ANNOUNCE else b""
    )
    data = header(mtype) + body + tlv(0x80, b"")
    assert reason_of(data) is Reason.UNKNOWN_CRITICAL_TLV
    assert (
        reason_of(header(mtype) + tlv(0x80, b"x") + body) is Reason.UNKNOWN_CRITICAL_TLV
    )
