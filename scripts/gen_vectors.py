#!/usr/bin/env python3
"""Generate the test vectors of docs/PROTOCOL.md (appendix A) from the real codec.

    .venv/bin/python scripts/gen_vectors.py           print the generated section
    .venv/bin/python scripts/gen_vectors.py --check   exit 1 if the spec differs
    .venv/bin/python scripts/gen_vectors.py --write   rewrite it in docs/PROTOCOL.md

Valid vectors are built with ``linkname.codec.encode`` and ``linkname.auth.sign``;
malformed ones are assembled byte by byte here (the encoder refuses to build
them).  The section sits between the two ``GENERATED VECTORS`` marker comments
of the spec.  tests/protocol/test_codec.py parses the blocks back out of the
spec and checks every one against the codec, and checks that this script's
output is what the spec holds, so spec, generator and code cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

from linkname.auth import Key, pseudo_header, sign
from linkname.codec import Message, MessageType, Reason, decode, encode
from linkname.const import (
    ANNOUNCE,
    FLAG_RESPONSE,
    GOODBYE,
    GROUP,
    PORT,
    QUERY,
    TLV_ADDRESSES,
    TLV_AUTH,
    TLV_MODEL,
    TLV_NAME,
)

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "PROTOCOL.md"
BEGIN = "<!-- BEGIN GENERATED VECTORS: scripts/gen_vectors.py --write -->"
END = "<!-- END GENERATED VECTORS -->"
LABEL = "linkname/1 vector "

# The hosts and values of the examples.
HOST_A = bytes(range(16))  # 00 01 .. 0f, "kitchen-pi"
HOST_B = bytes(range(16, 32))  # 10 11 .. 1f, the querier
BOOT_A = 0x01020304
BOOT_B = 0xA1B2C3D4
ADDRESSES = ("fe80::1", "fd00::1", "192.0.2.7")
MODEL = "Raspberry Pi 4 Model B"
OS = "Debian GNU/Linux 13"
SOFTWARE = "linkname 0.1.0"
MANUFACTURER = "Raspberry Pi Ltd"
KEY_TEXT = "linkname-test-key-0123456789"
TIMESTAMP_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SOURCE_PORT = 40000  # the sender's ephemeral transmit port


@dataclass(frozen=True, slots=True)
class Vector:
    """One test vector: an id, prose, the ``key = value`` lines and the bytes."""

    ident: str
    title: str
    prose: str
    fields: tuple[tuple[str, str], ...]
    data: bytes
    revision: int = 1  # the spec revision that added it (its own subsection)


# -- formatting --------------------------------------------------------------


def hexdump(data: bytes) -> list[str]:
    """``hexdump -C`` style: offset, 16 bytes, ASCII; ``*`` for repeated lines.

    The last line is the total length, so a reader knows where the data ends.
    """
    lines: list[str] = []
    previous: bytes | None = None
    starred = False
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        if chunk == previous and len(chunk) == 16:
            if not starred:
                lines.append("*")
                starred = True
            continue
        previous, starred = chunk, False
        left = " ".join(f"{b:02x}" for b in chunk[:8])
        right = " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:04x}  {left:<23}  {right:<23}  |{text}|")
    lines.append(f"{len(data):04x}")
    return lines


def text_value(text: str) -> str:
    """A JSON string (ASCII only, so invisible characters show as escapes)."""
    return json.dumps(text, ensure_ascii=True)


def message_fields(message: Message) -> list[tuple[str, str]]:
    """The ``key = value`` lines that describe a decoded message."""
    out = [
        ("type", MessageType(message.type).name),
        ("flags", f"0x{message.flags:02x}"),
        ("ttl", str(message.ttl)),
        ("host_id", message.host_id.hex()),
        ("boot_id", f"0x{message.boot_id:08x}"),
        ("seq", str(message.seq)),
    ]
    keys = ("name", "query_name", "addresses", "model", "os", "software")
    for key in (*keys, "manufacturer"):
        value = getattr(message, key)
        if key == "addresses":
            if value:
                out.append((key, " ".join(value)))
        elif value is not None:
            out.append((key, text_value(value)))
    if message.auth is not None:
        out.append(("auth.key_id", f"0x{message.auth.key_id:04x}"))
        out.append(("auth.timestamp_ms", str(message.auth.timestamp_ms)))
        out.append(("auth.mac", message.auth.mac.hex()))
    return out


# -- raw building (for malformed datagrams) ----------------------------------


def header(
    mtype: int,
    *,
    ttl: int = 0,
    flags: int = 0,
    host_id: bytes = HOST_A,
    boot_id: int = BOOT_A,
    seq: int = 1,
    magic: bytes = b"LN",
    version: int = 1,
) -> bytes:
    """A 32-byte header with any values, valid or not."""
    return struct.pack(
        "!2sBBBBH16sII", magic, version, mtype, flags, 0, ttl, host_id, boot_id, seq
    )


def tlv(tlv_type: int, value: bytes, length: int | None = None) -> bytes:
    """A TLV; ``length`` overrides the length field (to make it lie)."""
    size = len(value) if length is None else length
    return struct.pack("!BH", tlv_type, size) + value


def v6(address: str) -> bytes:
    """An ADDRESSES entry for an IPv6 address."""
    return bytes((6,)) + socket.inet_pton(socket.AF_INET6, address)


def name_tlv(name: str) -> bytes:
    return tlv(TLV_NAME, name.encode("utf-8"))


def link_local_tlv() -> bytes:
    return tlv(TLV_ADDRESSES, v6("fe80::1"))


# -- the vectors -------------------------------------------------------------


def announce_message(seq: int = 7, flags: int = 0) -> Message:
    return Message(
        ANNOUNCE,
        HOST_A,
        BOOT_A,
        seq,
        ttl=180,
        flags=flags,
        name="kitchen-pi",
        addresses=ADDRESSES,
        model=MODEL,
        os=OS,
        software=SOFTWARE,
    )


def valid(ident: str, title: str, prose: str, message: Message) -> Vector:
    data = encode(message)
    fields = (*message_fields(message), ("length", str(len(data))))
    return Vector(ident, title, prose, fields, data)


def signed_vector() -> Vector:
    key = Key.from_text(KEY_TEXT)
    pseudo = pseudo_header("fe80::1", SOURCE_PORT, GROUP, PORT)
    unsigned = announce_message(seq=10)
    data = sign(encode(unsigned), key, pseudo, TIMESTAMP_MS)
    message = decode(data)
    fields = (
        *message_fields(message),
        ("key", text_value(KEY_TEXT)),
        ("key_id", f"0x{key.key_id:04x}"),
        ("source", "fe80::1"),
        ("source_port", str(SOURCE_PORT)),
        ("destination", GROUP),
        ("destination_port", str(PORT)),
        ("pseudo_header", pseudo.hex()),
        ("length", str(len(data))),
    )
    prose = (
        "The ANNOUNCE of A.1 with sequence number 10, signed (section 7) with the "
        f"key whose text is {text_value(KEY_TEXT)}, as sent from fe80::1 port "
        f"{SOURCE_PORT} to [{GROUP}]:{PORT} at {TIMESTAMP_MS} ms "
        "(2026-01-01T00:00:00Z). The MAC is HMAC-SHA256(key, pseudo_header || "
        f"datagram[0:{len(data) - 32}]); the MAC input is "
        f"{36 + len(data) - 32} bytes long."
    )
    return Vector("announce-signed", "Signed ANNOUNCE", prose, fields, data)


def unknown_tlv_vector() -> Vector:
    body = name_tlv("Büro") + link_local_tlv() + tlv(0x7E, b"\x01\x02\x03")
    data = header(ANNOUNCE, ttl=180, seq=3) + body
    message = Message(
        ANNOUNCE, HOST_A, BOOT_A, 3, ttl=180, name="Büro", addresses=("fe80::1",)
    )
    fields = (
        *message_fields(message),
        ("length", str(len(data))),
        ("roundtrip", "no"),
    )
    prose = (
        'An ANNOUNCE whose name is not ASCII ("Büro", NFC, UTF-8 `42 c3 bc 72 '
        "6f`) followed by an unknown non-critical TLV (type 0x7e): a receiver "
        "skips the unknown TLV and accepts the message. Re-encoding the decoded "
        "message does not reproduce the unknown TLV (`roundtrip = no`)."
    )
    return Vector(
        "announce-unknown-tlv", "Unknown non-critical TLV", prose, fields, data
    )


def manufacturer_vector() -> Vector:
    message = Message(
        ANNOUNCE,
        HOST_A,
        BOOT_A,
        11,
        ttl=180,
        name="kitchen-pi",
        addresses=("fe80::1",),
        model=MODEL,
        manufacturer=MANUFACTURER,
    )
    prose = (
        "Revision 2: host A announces the optional MANUFACTURER TLV (type 0x13, "
        "section 4.4.4) after MODEL. The type is not critical, so a revision 1 "
        "receiver skips it and accepts the rest of the message."
    )
    title = "ANNOUNCE with MANUFACTURER"
    return replace(valid("announce-manufacturer", title, prose, message), revision=2)


def malformed(
    ident: str, title: str, prose: str, data: bytes, reason: Reason
) -> Vector:
    fields = (("reason", reason.value), ("length", str(len(data))))
    return Vector(ident, title, prose, fields, data)


def malformed_vectors() -> list[Vector]:
    announce = encode(announce_message())
    query_all = header(QUERY, host_id=HOST_B, boot_id=BOOT_B, seq=2)
    signed = signed_vector().data
    oversize = 1233 - len(announce) - 3
    cases: list[tuple[str, str, str, bytes, Reason]] = [
        (
            "truncated-header",
            "Truncated header",
            "The first 31 bytes of A.5.",
            query_all[:31],
            Reason.TRUNCATED,
        ),
        (
            "bad-magic",
            "Bad magic",
            'A.5 with the magic "LM" instead of "LN".',
            b"LM" + query_all[2:],
            Reason.BAD_MAGIC,
        ),
        (
            "version-2",
            "Version 2",
            "A.5 with version 2.",
            query_all[:2] + b"\x02" + query_all[3:],
            Reason.UNSUPPORTED_VERSION,
        ),
        (
            "unknown-type",
            "Unknown message type",
            "A.5 with message type 4.",
            query_all[:3] + b"\x04" + query_all[4:],
            Reason.UNKNOWN_TYPE,
        ),
        (
            "announce-ttl-0",
            "ANNOUNCE with TTL 0",
            "A.1 with TTL 0.",
            announce[:6] + b"\x00\x00" + announce[8:],
            Reason.BAD_TTL,
        ),
        (
            "goodbye-ttl-60",
            "GOODBYE with TTL 60",
            "A GOODBYE (no TLVs) whose TTL is 60 instead of 0.",
            header(GOODBYE, ttl=60, seq=9),
            Reason.BAD_TTL,
        ),
        (
            "query-ttl-60",
            "QUERY with TTL 60",
            "A.5 with TTL 60 instead of 0.",
            header(QUERY, ttl=60, host_id=HOST_B, boot_id=BOOT_B, seq=2),
            Reason.BAD_TTL,
        ),
        (
            "truncated-tlv",
            "Truncated TLV",
            "A.4 without its last byte: the QUERY_NAME TLV says 10 bytes, 9 follow.",
            encode(query_name_message())[:-1],
            Reason.BAD_TLV_LENGTH,
        ),
        (
            "truncated-tlv-header",
            "Truncated TLV header",
            "A.5 followed by two bytes, less than a TLV header.",
            query_all + b"\x03\x00",
            Reason.BAD_TLV_LENGTH,
        ),
        (
            "unknown-critical-tlv",
            "Unknown critical TLV",
            "A.5 followed by an empty TLV of the unknown critical type 0x85.",
            query_all + tlv(0x85, b""),
            Reason.UNKNOWN_CRITICAL_TLV,
        ),
        (
            "unexpected-tlv",
            "NAME in a QUERY",
            "A.5 followed by a NAME TLV, which a QUERY must not carry.",
            query_all + name_tlv("kitchen-pi"),
            Reason.UNEXPECTED_TLV,
        ),
        (
            "duplicate-name",
            "Duplicate NAME",
            "An ANNOUNCE with two NAME TLVs.",
            header(ANNOUNCE, ttl=180)
            + name_tlv("kitchen-pi")
            + name_tlv("kitchen-pi")
            + link_local_tlv(),
            Reason.DUPLICATE_TLV,
        ),
        (
            "name-bidi",
            "Name with U+202E",
            "An ANNOUNCE whose name contains U+202E RIGHT-TO-LEFT OVERRIDE "
            "(category Cf, UTF-8 `e2 80 ae`).",
            header(ANNOUNCE, ttl=180) + name_tlv("kitchen\u202e-pi") + link_local_tlv(),
            Reason.BAD_NAME,
        ),
        (
            "name-not-nfc",
            "Name not in NFC",
            'An ANNOUNCE whose name is "Bu\\u0308ro" (u + COMBINING DIAERESIS, '
            'the NFD form of "Büro").',
            header(ANNOUNCE, ttl=180) + name_tlv("Bu\u0308ro") + link_local_tlv(),
            Reason.BAD_NAME,
        ),
        (
            "name-dot",
            "Name with a dot",
            'An ANNOUNCE named "kitchen.pi": a name is one label.',
            header(ANNOUNCE, ttl=180) + name_tlv("kitchen.pi") + link_local_tlv(),
            Reason.BAD_NAME,
        ),
        (
            "name-64-bytes",
            "Name of 64 bytes",
            'An ANNOUNCE whose name is 64 "a" (the limit is 63 bytes).',
            header(ANNOUNCE, ttl=180) + name_tlv("a" * 64) + link_local_tlv(),
            Reason.BAD_NAME,
        ),
        (
            "name-not-utf8",
            "Name not UTF-8",
            "An ANNOUNCE whose NAME value is the single byte 0xff.",
            header(ANNOUNCE, ttl=180) + tlv(TLV_NAME, b"\xff") + link_local_tlv(),
            Reason.BAD_NAME,
        ),
        (
            "model-control",
            "Attribute with a control character",
            'An ANNOUNCE whose MODEL is "Pi\\u0007" (BEL, category Cc).',
            header(ANNOUNCE, ttl=180)
            + name_tlv("kitchen-pi")
            + link_local_tlv()
            + tlv(TLV_MODEL, b"Pi\x07"),
            Reason.BAD_ATTRIBUTE,
        ),
        (
            "first-address-not-link-local",
            "First address not link-local",
            "An ANNOUNCE whose ADDRESSES list fd00::1 before fe80::1.",
            header(ANNOUNCE, ttl=180)
            + name_tlv("kitchen-pi")
            + tlv(TLV_ADDRESSES, v6("fd00::1") + v6("fe80::1")),
            Reason.BAD_ADDRESS,
        ),
        (
            "address-family-5",
            "Unknown address family",
            "An ANNOUNCE whose second address entry has family 5.",
            header(ANNOUNCE, ttl=180)
            + name_tlv("kitchen-pi")
            + tlv(TLV_ADDRESSES, v6("fe80::1") + b"\x05\xc0\x00\x02\x07"),
            Reason.BAD_ADDRESS,
        ),
        (
            "missing-name",
            "ANNOUNCE without NAME",
            "An ANNOUNCE with ADDRESSES but no NAME.",
            header(ANNOUNCE, ttl=180) + link_local_tlv(),
            Reason.MISSING_NAME,
        ),
        (
            "missing-addresses",
            "ANNOUNCE without ADDRESSES",
            "An ANNOUNCE with a NAME but no ADDRESSES.",
            header(ANNOUNCE, ttl=180) + name_tlv("kitchen-pi"),
            Reason.MISSING_ADDRESSES,
        ),
        (
            "auth-not-last",
            "AUTH not last",
            "A.6 followed by an empty unknown non-critical TLV (type 0x7e).",
            signed + tlv(0x7E, b""),
            Reason.BAD_AUTH,
        ),
        (
            "auth-short",
            "AUTH of 41 bytes",
            "A.5 followed by an AUTH TLV of 41 bytes instead of 42.",
            query_all + tlv(TLV_AUTH, bytes(41)),
            Reason.BAD_AUTH,
        ),
        (
            "oversized",
            "Datagram of 1233 bytes",
            f"A.1 followed by an unknown non-critical TLV (type 0x7e) of {oversize} "
            "zero bytes: 1233 bytes in all, one more than allowed. The size limit "
            "is checked right after the minimum length, before the magic.",
            announce + tlv(0x7E, bytes(oversize)),
            Reason.TOO_LARGE,
        ),
    ]
    return [malformed(*case) for case in cases]


def query_name_message() -> Message:
    return Message(QUERY, HOST_B, BOOT_B, 1, query_name="kitchen-pi")


def vectors() -> list[Vector]:
    """Every vector of appendix A, in order."""
    out = [
        valid(
            "announce",
            "ANNOUNCE",
            "Host A (host ID 00 01 .. 0f, boot ID 0x01020304) announces itself "
            'as "kitchen-pi" with its link-local address first, a ULA and an '
            "IPv4 address, and all three attributes.",
            announce_message(),
        ),
        valid(
            "announce-response",
            "ANNOUNCE RESPONSE",
            "Host A answers a QUERY (A.4) by unicast: the same ANNOUNCE with the "
            "RESPONSE flag (0x80) and the next sequence number.",
            announce_message(seq=8, flags=FLAG_RESPONSE),
        ),
        valid(
            "goodbye",
            "GOODBYE",
            "Host A leaves; the optional NAME is included.",
            Message(GOODBYE, HOST_A, BOOT_A, 9, name="kitchen-pi"),
        ),
        valid(
            "query-name",
            "QUERY for a name",
            "Host B (host ID 10 11 .. 1f, boot ID 0xa1b2c3d4) asks who is "
            '"kitchen-pi".',
            query_name_message(),
        ),
        valid(
            "query-everyone",
            "QUERY for everyone",
            "Host B asks every host on the link to answer: a QUERY without "
            "QUERY_NAME is the header alone.",
            Message(QUERY, HOST_B, BOOT_B, 2),
        ),
        signed_vector(),
        unknown_tlv_vector(),
    ]
    return out + malformed_vectors() + revision_2_vectors()


def revision_2_vectors() -> list[Vector]:
    """Vectors added by revision 2: numbered after those of revision 1."""
    bad_names = [
        (
            "name-hangul-filler",
            "Name with U+3164",
            'An ANNOUNCE whose name is "kitchen" followed by U+3164 HANGUL '
            "FILLER (category Lo, invisible, default-ignorable; UTF-8 `e3 85 "
            "a4`). Revision 1 accepted it; the repertoire of section 4.6 "
            "leaves it out.",
            "kitchen\u3164",
        ),
        (
            "name-variation-selector",
            "Name with U+FE0F",
            "An ANNOUNCE whose name ends in U+FE0F VARIATION SELECTOR-16 "
            "(category Mn, default-ignorable; UTF-8 `ef b8 8f`).",
            "pi\ufe0f",
        ),
        (
            "name-braille-blank",
            "Name with U+2800",
            "An ANNOUNCE whose name is U+2800 BRAILLE PATTERN BLANK alone "
            "(category So, renders as blank space; UTF-8 `e2 a0 80`).",
            "\u2800",
        ),
        (
            "name-unicode-15",
            "Name with a character of Unicode 15.0",
            "An ANNOUNCE whose name contains U+1FAE8 SHAKING FACE, assigned in "
            "Unicode 15.0: outside the repertoire, which is frozen at Unicode "
            "14.0.0, so that every receiver refuses it, whatever its Unicode "
            "version (UTF-8 `f0 9f ab a8`).",
            "pi\U0001fae8",
        ),
        (
            "name-fullwidth-full-stop",
            "Name with U+FF0E",
            'An ANNOUNCE whose name is "kitchen\uff0epi" with U+FF0E '
            'FULLWIDTH FULL STOP, which NFKC maps to "." (UTF-8 `ef bc '
            "8e`): a name is one label.",
            "kitchen\uff0epi",
        ),
    ]
    out = [manufacturer_vector()]
    out += [
        replace(
            malformed(
                ident,
                title,
                prose,
                header(ANNOUNCE, ttl=180) + name_tlv(name) + link_local_tlv(),
                Reason.BAD_NAME,
            ),
            revision=2,
        )
        for ident, title, prose, name in bad_names
    ]
    out.append(reserved_type_0_vector())
    out.append(
        replace(
            malformed(
                "tlv-type-0x80",
                "TLV type 0x80",
                "An ANNOUNCE with a TLV of the reserved type 0x80 (critical bit "
                "set, length 0): a receiver drops the message, as for any unknown "
                "critical type.",
                header(ANNOUNCE, ttl=180)
                + name_tlv("kitchen-pi")
                + link_local_tlv()
                + tlv(0x80, b""),
                Reason.UNKNOWN_CRITICAL_TLV,
            ),
            revision=2,
        )
    )
    return out


def reserved_type_0_vector() -> Vector:
    body = name_tlv("kitchen-pi") + tlv(0x00, b"\x00\x00") + link_local_tlv()
    data = header(ANNOUNCE, ttl=180, seq=12) + body
    message = Message(
        ANNOUNCE, HOST_A, BOOT_A, 12, ttl=180, name="kitchen-pi", addresses=("fe80::1",)
    )
    fields = (
        *message_fields(message),
        ("length", str(len(data))),
        ("roundtrip", "no"),
    )
    prose = (
        "An ANNOUNCE with a TLV of the reserved type 0x00 (two zero bytes of "
        "value) between NAME and ADDRESSES: a receiver skips it, as any unknown "
        "non-critical TLV, and accepts the message. Type 0x00 is not padding: "
        "it has a length like every TLV."
    )
    return Vector("tlv-type-0", "TLV type 0x00", prose, fields, data, revision=2)


# -- output ------------------------------------------------------------------


def render(vector_list: list[Vector]) -> str:
    """The generated part of appendix A (between the markers, exclusive)."""
    parts: list[str] = ["### Valid messages\n"]
    valid_done = False
    revision = 1
    for number, vector in enumerate(vector_list, start=1):
        is_malformed = vector.fields[0][0] == "reason"
        if vector.revision != revision:
            revision = vector.revision
            parts.append(
                f"### Added in revision {revision}\n\n"
                f"Vectors for what revision {revision} added, numbered after the\n"
                "others so that those keep their numbers. A block with a `reason`\n"
                "line is a malformed datagram that MUST be dropped.\n"
            )
        elif is_malformed and not valid_done:
            valid_done = True
            parts.append(
                "### Malformed datagrams\n\n"
                "Each of these MUST be dropped. The `reason` line is the reason\n"
                "code (section 6.7) that a receiver following the decoding order\n"
                "of section 4.8 reports.\n"
            )
        width = max(len(key) for key, _ in vector.fields)
        body = [f"{LABEL}{vector.ident}"]
        body += [f"{key:<{width}} = {value}" for key, value in vector.fields]
        body.append("")
        body += hexdump(vector.data)
        prose = textwrap.fill(
            vector.prose, width=78, break_long_words=False, break_on_hyphens=False
        )
        parts.append(
            f"#### A.{number}. {vector.title}\n\n{prose}\n\n"
            "```text\n" + "\n".join(body) + "\n```\n"
        )
    return "\n".join(parts)


def replace_section(spec: str, section: str) -> str:
    """``spec`` with the text between the markers replaced by ``section``."""
    start = spec.index(BEGIN) + len(BEGIN)
    end = spec.index(END, start)
    return spec[:start] + "\n\n" + section + "\n" + spec[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="compare with the spec")
    group.add_argument("--write", action="store_true", help="update the spec")
    args = parser.parse_args(argv)
    section = render(vectors())
    if not (args.check or args.write):
        sys.stdout.write(section)
        return 0
    spec = SPEC.read_text(encoding="utf-8")
    updated = replace_section(spec, section)
    if args.write:
        if updated != spec:
            SPEC.write_text(updated, encoding="utf-8")
            print(f"updated {SPEC.relative_to(ROOT)}")
        return 0
    if updated != spec:
        print(f"{SPEC.relative_to(ROOT)} is out of date: run {__file__} --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
