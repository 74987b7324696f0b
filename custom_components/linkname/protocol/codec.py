"""Encoding and decoding of linkname/1 messages (docs/PROTOCOL.md, section 4).

``decode`` raises :class:`DecodeError` (with a :class:`Reason`) for every
malformed input and nothing else.  ``encode`` raises :class:`EncodeError`
(a ``ValueError``) when asked to build a message the spec forbids.
"""

from __future__ import annotations

import socket
import struct
from enum import IntEnum, StrEnum
from typing import NamedTuple

from .const import (
    ANNOUNCE,
    AUTH_BODY_LEN,
    AUTH_MAC_LEN,
    CRITICAL,
    FAMILY_IPV4,
    FAMILY_IPV6,
    FLAG_RESPONSE,
    GOODBYE,
    HEADER_LEN,
    MAGIC,
    MAX_ADDRESSES,
    MAX_ATTRIBUTE_BYTES,
    MAX_DATAGRAM,
    MAX_NAME_BYTES,
    QUERY,
    TLV_ADDRESSES,
    TLV_AUTH,
    TLV_MANUFACTURER,
    TLV_MODEL,
    TLV_NAME,
    TLV_OS,
    TLV_QUERY_NAME,
    TLV_SOFTWARE,
    VERSION,
)
from .names import has_dot, name_key, text_problem, validate_name

__all__ = [
    "Auth",
    "DecodeError",
    "EncodeError",
    "Message",
    "MessageType",
    "Reason",
    "decode",
    "encode",
    "name_key",
    "text_problem",
    "validate_name",
    "validate_name_for_encode",
]


class MessageType(IntEnum):
    """The message types of linkname/1."""

    ANNOUNCE = ANNOUNCE
    GOODBYE = GOODBYE
    QUERY = QUERY


class Reason(StrEnum):
    """Why a datagram was not accepted.  Decoder reasons come first."""

    TRUNCATED = "truncated"
    TOO_LARGE = "too_large"
    BAD_MAGIC = "bad_magic"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_TYPE = "unknown_type"
    BAD_TTL = "bad_ttl"
    BAD_TLV_LENGTH = "bad_tlv_length"
    DUPLICATE_TLV = "duplicate_tlv"
    UNEXPECTED_TLV = "unexpected_tlv"
    UNKNOWN_CRITICAL_TLV = "unknown_critical_tlv"
    BAD_NAME = "bad_name"
    MISSING_NAME = "missing_name"
    BAD_ADDRESS = "bad_address"
    MISSING_ADDRESSES = "missing_addresses"
    BAD_ATTRIBUTE = "bad_attribute"
    BAD_AUTH = "bad_auth"
    # Receiver rules (section 6), applied after a successful decode.
    MISSING_CONTROL = "missing_control"  # no IPV6_PKTINFO/HOPLIMIT (endpoint)
    HOP_LIMIT = "hop_limit"
    NOT_LINK_LOCAL = "not_link_local"
    WRONG_INTERFACE = "wrong_interface"
    SOURCE_MISMATCH = "source_mismatch"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAY = "replay"
    STALE_SEQUENCE = "stale_sequence"
    TABLE_FULL = "table_full"
    RATE_LIMITED = "rate_limited"
    OWN_HOST_ID = "own_host_id"  # revision 2


class DecodeError(Exception):
    """A datagram is not a valid linkname/1 message."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class EncodeError(ValueError):
    """A message cannot be encoded as asked (it would not be valid)."""


class Auth(NamedTuple):
    """The AUTH TLV: key ID, sender timestamp (ms since the Unix epoch), MAC."""

    key_id: int
    timestamp_ms: int
    mac: bytes


class Message(NamedTuple):
    """A decoded linkname/1 message.  Addresses are text (no zone)."""

    type: int
    host_id: bytes
    boot_id: int
    seq: int
    ttl: int = 0
    flags: int = 0
    name: str | None = None
    addresses: tuple[str, ...] = ()
    model: str | None = None
    os: str | None = None
    software: str | None = None
    query_name: str | None = None
    auth: Auth | None = None
    manufacturer: str | None = None  # revision 2 (last: positional callers)

    @property
    def is_response(self) -> bool:
        """True for an ANNOUNCE sent by unicast in answer to a QUERY."""
        return bool(self.flags & FLAG_RESPONSE)


_HEADER = struct.Struct("!2sBBBBH16sII")
_TLV = struct.Struct("!BH")
_AUTH = struct.Struct("!HQ")
_INET6 = socket.AF_INET6
_INET = socket.AF_INET
_ntop = socket.inet_ntop

# Which known TLVs each message type may carry.
_ALLOWED: dict[int, frozenset[int]] = {
    ANNOUNCE: frozenset(
        {
            TLV_NAME,
            TLV_ADDRESSES,
            TLV_MODEL,
            TLV_OS,
            TLV_SOFTWARE,
            TLV_MANUFACTURER,
            TLV_AUTH,
        }
    ),
    GOODBYE: frozenset({TLV_NAME, TLV_AUTH}),
    QUERY: frozenset({TLV_QUERY_NAME, TLV_AUTH}),
}


def _text(raw: bytes, limit: int, reason: Reason) -> str:
    """Decode and check a NAME, QUERY_NAME or attribute value."""
    if not 0 < len(raw) <= limit:
        raise DecodeError(reason, f"length {len(raw)} not in 1..{limit}")
    if raw.isascii():  # fast path: the same checks as text_problem on ASCII
        text = raw.decode("ascii")
        if text.isprintable() and raw[0] != 0x20 and raw[-1] != 0x20:
            return text
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(reason, "not UTF-8") from None
    problem = text_problem(text)
    if problem:
        raise DecodeError(reason, problem)
    return text


def _name(raw: bytes) -> str:
    name = _text(raw, MAX_NAME_BYTES, Reason.BAD_NAME)
    if b"." in raw or (not raw.isascii() and has_dot(name)):
        raise DecodeError(Reason.BAD_NAME, "'.' in a name")
    return name


def _addresses(raw: bytes) -> tuple[str, ...]:
    """Check and convert an ADDRESSES value (ANNOUNCE only)."""
    out: list[str] = []
    append = out.append
    pos = 0
    end = len(raw)
    while pos < end:
        family = raw[pos]
        if family == FAMILY_IPV6:
            pos += 17
            if pos > end:
                raise DecodeError(Reason.BAD_ADDRESS, "truncated IPv6 address")
            append(_ntop(_INET6, raw[pos - 16 : pos]))
        elif family == FAMILY_IPV4:
            pos += 5
            if pos > end:
                raise DecodeError(Reason.BAD_ADDRESS, "truncated IPv4 address")
            append(_ntop(_INET, raw[pos - 4 : pos]))
        else:
            raise DecodeError(Reason.BAD_ADDRESS, f"unknown family {family}")
    if not out or len(out) > MAX_ADDRESSES:
        raise DecodeError(Reason.BAD_ADDRESS, f"{len(out)} addresses")
    if raw[0] != FAMILY_IPV6 or raw[1] != 0xFE or raw[2] & 0xC0 != 0x80:
        raise DecodeError(Reason.BAD_ADDRESS, "first address is not IPv6 link-local")
    return tuple(out)


# Where MODEL, OS, SOFTWARE and MANUFACTURER go in decode's attribute slots.
_ATTRIBUTE_SLOTS: dict[int, int] = {
    TLV_MODEL: 0,
    TLV_OS: 1,
    TLV_SOFTWARE: 2,
    TLV_MANUFACTURER: 3,
}

# Message.__new__ takes keywords and defaults; decode passes every field.
_new_message = tuple.__new__
_AUTH_TLV_LEN = 3 + AUTH_BODY_LEN
_AUTH_TLV_HEAD = _TLV.pack(TLV_AUTH, AUTH_BODY_LEN)

# Neighbours re-announce the same TLVs again and again (only the header's
# sequence number changes, and the AUTH TLV when signed).  decode remembers
# the fields of ANNOUNCE TLV sections it has decoded successfully, keyed by
# their bytes (without a trailing AUTH TLV): the fields are a pure function
# of those bytes, so a repeated announcement is one dictionary look-up.
# Bounded: sections longer than BODY_CACHE_MAX_BYTES are not remembered and
# the dictionary is emptied when it holds BODY_CACHE_LIMIT of them, so a
# flood of new names costs a little time and no unbounded memory.
BODY_CACHE_LIMIT = 2048
BODY_CACHE_MAX_BYTES = 512
_Fields = tuple[str, tuple[str, ...], str | None, str | None, str | None, str | None]
_BODIES: dict[bytes, _Fields] = {}


def _as_bytes(data: object) -> bytes:
    """A copy of bytes-like ``data``; DecodeError for anything else."""
    try:
        return memoryview(data).tobytes()  # type: ignore[arg-type]
    except TypeError:
        kind = type(data).__name__
        raise DecodeError(Reason.TRUNCATED, f"not bytes-like: {kind}") from None


def decode(data: bytes | bytearray | memoryview) -> Message:
    """Decode one datagram.  Raises only :class:`DecodeError`.

    ``data`` may be any bytes-like object (``bytes``, ``bytearray``,
    ``memoryview``, ...); it is copied to ``bytes`` first, so the message
    does not change when the caller reuses its buffer.  Anything that is not
    bytes-like is refused as ``truncated`` (there is no datagram to decode).
    """
    if not isinstance(data, bytes):
        data = _as_bytes(data)
    size = len(data)
    if size < HEADER_LEN:
        raise DecodeError(Reason.TRUNCATED, f"{size} bytes, header is {HEADER_LEN}")
    if size > MAX_DATAGRAM:
        raise DecodeError(Reason.TOO_LARGE, f"{size} bytes > {MAX_DATAGRAM}")
    magic, version, mtype, flags, _reserved, ttl, host_id, boot_id, seq = (
        _HEADER.unpack_from(data)
    )
    if magic != MAGIC:
        raise DecodeError(Reason.BAD_MAGIC)
    if version != VERSION:
        raise DecodeError(Reason.UNSUPPORTED_VERSION, f"version {version}")
    announce = mtype == ANNOUNCE
    if announce:
        if ttl == 0:
            raise DecodeError(Reason.BAD_TTL, "ANNOUNCE with TTL 0")
    elif mtype in (GOODBYE, QUERY):
        if ttl != 0:
            raise DecodeError(Reason.BAD_TTL, "GOODBYE or QUERY with TTL != 0")
        flags &= ~FLAG_RESPONSE
    else:
        raise DecodeError(Reason.UNKNOWN_TYPE, f"type {mtype}")

    if announce:
        auth = None
        section = data[HEADER_LEN:]
        known = _BODIES.get(section)
        if (
            known is None
            and size >= HEADER_LEN + _AUTH_TLV_LEN
            and data[-_AUTH_TLV_LEN : 3 - _AUTH_TLV_LEN] == _AUTH_TLV_HEAD
        ):
            # Signed: the section before the trailing AUTH TLV.  It decoded to
            # these fields and holds no AUTH, so the 45 bytes after it are a
            # valid last AUTH TLV (as the full decoding below would find).
            known = _BODIES.get(data[HEADER_LEN:-_AUTH_TLV_LEN])
            if known is not None:
                key_id, timestamp_ms = _AUTH.unpack_from(data, size - AUTH_BODY_LEN)
                auth = Auth(key_id, timestamp_ms, data[-AUTH_MAC_LEN:])
        if known is not None:
            k_name, k_addresses, k_model, k_os, k_software, k_manufacturer = known
            return _new_message(
                Message,
                (
                    mtype,
                    host_id,
                    boot_id,
                    seq,
                    ttl,
                    flags,
                    k_name,
                    k_addresses,
                    k_model,
                    k_os,
                    k_software,
                    None,
                    auth,
                    k_manufacturer,
                ),
            )

    # Which TLVs a type allows (_ALLOWED), inlined: NAME in ANNOUNCE and
    # GOODBYE, ADDRESSES and attributes in ANNOUNCE, QUERY_NAME in QUERY,
    # AUTH in all.  A TLV was seen before exactly when its field is set.
    name = query_name = None
    # model, os, software, manufacturer
    attributes: list[str | None] = [None, None, None, None]
    addresses: tuple[str, ...] = ()
    auth = None
    pos = HEADER_LEN
    while pos < size:
        start = pos + 3
        if start > size:
            raise DecodeError(Reason.BAD_TLV_LENGTH, "truncated TLV header")
        tlv_type = data[pos]
        pos = start + (data[pos + 1] << 8 | data[pos + 2])
        if pos > size:
            raise DecodeError(Reason.BAD_TLV_LENGTH, f"TLV {tlv_type} overruns")
        if tlv_type == TLV_NAME:
            if mtype == QUERY:
                raise DecodeError(Reason.UNEXPECTED_TLV, f"type {tlv_type}")
            if name is not None:
                raise DecodeError(Reason.DUPLICATE_TLV, f"type {tlv_type}")
            name = _name(data[start:pos])
        elif tlv_type == TLV_ADDRESSES:
            if not announce:
                raise DecodeError(Reason.UNEXPECTED_TLV, f"type {tlv_type}")
            if addresses:
                raise DecodeError(Reason.DUPLICATE_TLV, f"type {tlv_type}")
            addresses = _addresses(data[start:pos])
        elif tlv_type == TLV_AUTH:
            # A first AUTH ends the loop or raises: it cannot be a duplicate.
            if pos - start != AUTH_BODY_LEN or pos != size:
                raise DecodeError(Reason.BAD_AUTH, "AUTH must be last, 42 bytes")
            key_id, timestamp_ms = _AUTH.unpack_from(data, start)
            auth = Auth(key_id, timestamp_ms, data[start + 10 : pos])
        elif tlv_type == TLV_QUERY_NAME:
            if mtype != QUERY:
                raise DecodeError(Reason.UNEXPECTED_TLV, f"type {tlv_type}")
            if query_name is not None:
                raise DecodeError(Reason.DUPLICATE_TLV, f"type {tlv_type}")
            query_name = _name(data[start:pos])
        elif tlv_type in _ATTRIBUTE_SLOTS:  # MODEL, OS, SOFTWARE, MANUFACTURER
            if not announce:
                raise DecodeError(Reason.UNEXPECTED_TLV, f"type {tlv_type}")
            slot = _ATTRIBUTE_SLOTS[tlv_type]
            if attributes[slot] is not None:
                raise DecodeError(Reason.DUPLICATE_TLV, f"type {tlv_type}")
            attributes[slot] = _text(
                data[start:pos], MAX_ATTRIBUTE_BYTES, Reason.BAD_ATTRIBUTE
            )
        elif tlv_type & CRITICAL:
            raise DecodeError(Reason.UNKNOWN_CRITICAL_TLV, f"type {tlv_type}")
    model, os_, software, manufacturer = attributes
    if announce:
        if name is None:
            raise DecodeError(Reason.MISSING_NAME)
        if not addresses:
            raise DecodeError(Reason.MISSING_ADDRESSES)
        if auth is not None:
            section = data[HEADER_LEN:-_AUTH_TLV_LEN]  # without the AUTH TLV
        if len(section) <= BODY_CACHE_MAX_BYTES:
            if len(_BODIES) >= BODY_CACHE_LIMIT:
                _BODIES.clear()
            _BODIES[section] = (name, addresses, model, os_, software, manufacturer)
    return _new_message(
        Message,
        (
            mtype,
            host_id,
            boot_id,
            seq,
            ttl,
            flags,
            name,
            addresses,
            model,
            os_,
            software,
            query_name,
            auth,
            manufacturer,
        ),
    )


def _tlv(tlv_type: int, value: bytes) -> bytes:
    return _TLV.pack(tlv_type, len(value)) + value


def _pack_address(address: str) -> bytes:
    text = address.split("%", 1)[0]
    try:
        if ":" in text:
            return bytes((FAMILY_IPV6,)) + socket.inet_pton(_INET6, text)
        return bytes((FAMILY_IPV4,)) + socket.inet_pton(_INET, text)
    except OSError:
        raise EncodeError(f"not an IP address: {address!r}") from None


def _text_tlv(tlv_type: int, text: str, limit: int) -> bytes:
    problem = text_problem(text) if text else "empty"
    raw = b"" if problem else text.encode("utf-8")  # after the check: surrogates
    if problem is None and len(raw) > limit:
        problem = f"{len(raw)} bytes > {limit}"
    if problem:
        raise EncodeError(f"invalid text {text!r}: {problem}")
    return _tlv(tlv_type, raw)


def encode(message: Message) -> bytes:
    """Encode ``message`` (its AUTH TLV, if any, verbatim and last).

    To sign, encode the message without ``auth`` and pass the result to
    :func:`linkname.auth.sign`.
    """
    mtype = message.type
    if mtype not in _ALLOWED:
        raise EncodeError(f"unknown message type {mtype}")
    if len(message.host_id) != 16:
        raise EncodeError("host_id must be 16 bytes")
    if mtype == ANNOUNCE and not 0 < message.ttl <= 0xFFFF:
        raise EncodeError("ANNOUNCE needs 0 < ttl <= 65535")
    if mtype != ANNOUNCE and message.ttl != 0:
        raise EncodeError("GOODBYE and QUERY carry ttl 0")
    flags = message.flags if mtype == ANNOUNCE else message.flags & ~FLAG_RESPONSE
    parts = [
        _HEADER.pack(
            MAGIC,
            VERSION,
            mtype,
            flags & 0xFF,
            0,
            message.ttl,
            message.host_id,
            message.boot_id & 0xFFFFFFFF,
            message.seq & 0xFFFFFFFF,
        )
    ]
    if message.name is not None:
        if mtype == QUERY:
            raise EncodeError("a QUERY carries query_name, not name")
        validate_name_for_encode(message.name)
        parts.append(_text_tlv(TLV_NAME, message.name, MAX_NAME_BYTES))
    elif mtype == ANNOUNCE:
        raise EncodeError("ANNOUNCE needs a name")
    if message.addresses:
        if mtype != ANNOUNCE:
            raise EncodeError("only ANNOUNCE carries addresses")
        if len(message.addresses) > MAX_ADDRESSES:
            raise EncodeError(f"at most {MAX_ADDRESSES} addresses")
        packed = [_pack_address(a) for a in message.addresses]
        first = packed[0]
        if first[0] != FAMILY_IPV6 or first[1] != 0xFE or first[2] & 0xC0 != 0x80:
            raise EncodeError("the first address must be the IPv6 link-local one")
        parts.append(_tlv(TLV_ADDRESSES, b"".join(packed)))
    elif mtype == ANNOUNCE:
        raise EncodeError("ANNOUNCE needs its link-local address")
    for tlv_type, text in (
        (TLV_MODEL, message.model),
        (TLV_OS, message.os),
        (TLV_SOFTWARE, message.software),
        (TLV_MANUFACTURER, message.manufacturer),
    ):
        if text is not None:
            if mtype != ANNOUNCE:
                raise EncodeError("only ANNOUNCE carries attributes")
            parts.append(_text_tlv(tlv_type, text, MAX_ATTRIBUTE_BYTES))
    if message.query_name is not None:
        if mtype != QUERY:
            raise EncodeError("only QUERY carries query_name")
        validate_name_for_encode(message.query_name)
        parts.append(_text_tlv(TLV_QUERY_NAME, message.query_name, MAX_NAME_BYTES))
    if message.auth is not None:
        auth = message.auth
        if len(auth.mac) != AUTH_BODY_LEN - 10:
            raise EncodeError("AUTH MAC must be 32 bytes")
        parts.append(
            _tlv(TLV_AUTH, _AUTH.pack(auth.key_id, auth.timestamp_ms) + auth.mac)
        )
    data = b"".join(parts)
    if len(data) > MAX_DATAGRAM:
        raise EncodeError(f"{len(data)} bytes > {MAX_DATAGRAM}")
    return data


def validate_name_for_encode(name: str) -> None:
    """Raise :class:`EncodeError` unless ``name`` is a valid name."""
    try:
        validate_name(name)
    except ValueError as err:
        raise EncodeError(str(err)) from None
