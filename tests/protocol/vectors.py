"""The test vectors of docs/PROTOCOL.md (appendix A), parsed from the spec.

The tests read the vectors from the spec itself, not from a copy, so a change
of the wire format that is not reflected in the spec (or the other way round)
fails the tests.  Block format (see the spec, appendix A)::

    ```text
    linkname/1 vector <id>
    key = value
    ...

    0000  4c 4e 01 01 ...  |LN..|
    *
    04d0  00               |.|
    04d1
    ```
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from custom_components.linkname.protocol.codec import Auth, Message, MessageType

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "PROTOCOL.md"
GENERATOR = ROOT / "scripts" / "gen_vectors.py"
LABEL = "linkname/1 vector "

_FIELD = re.compile(r"([a-z_.]+) +=(?: (.*))?")
_OFFSET = re.compile(r"[0-9a-f]{4}")

MESSAGE_KEYS = frozenset(
    {
        "type",
        "flags",
        "ttl",
        "host_id",
        "boot_id",
        "seq",
        "name",
        "query_name",
        "addresses",
        "model",
        "os",
        "software",
        "manufacturer",
        "auth.key_id",
        "auth.timestamp_ms",
        "auth.mac",
    }
)
SIGNING_KEYS = frozenset(
    {
        "key",
        "key_id",
        "source",
        "source_port",
        "destination",
        "destination_port",
        "pseudo_header",
    }
)


@dataclass(frozen=True, slots=True)
class Vector:
    """One vector: its id, its ``key = value`` lines and its bytes."""

    ident: str
    fields: dict[str, str]
    data: bytes

    @property
    def malformed(self) -> bool:
        return "reason" in self.fields

    def text(self, key: str) -> str | None:
        """A JSON string field, decoded (None when absent)."""
        raw = self.fields.get(key)
        if raw is None:
            return None
        value = json.loads(raw)
        if not isinstance(value, str):
            raise ValueError(f"{self.ident}: {key} is not a JSON string")
        return value

    def integer(self, key: str) -> int:
        """An integer field, decimal or 0x-prefixed hexadecimal."""
        return int(self.fields[key], 0)

    def message(self) -> Message:
        """The decoded message the vector states (valid vectors only)."""
        fields = self.fields
        auth = None
        if "auth.mac" in fields:
            auth = Auth(
                self.integer("auth.key_id"),
                self.integer("auth.timestamp_ms"),
                bytes.fromhex(fields["auth.mac"]),
            )
        return Message(
            type=MessageType[fields["type"]],
            host_id=bytes.fromhex(fields["host_id"]),
            boot_id=self.integer("boot_id"),
            seq=self.integer("seq"),
            ttl=self.integer("ttl"),
            flags=self.integer("flags"),
            name=self.text("name"),
            addresses=tuple(fields.get("addresses", "").split()),
            model=self.text("model"),
            os=self.text("os"),
            software=self.text("software"),
            query_name=self.text("query_name"),
            auth=auth,
            manufacturer=self.text("manufacturer"),
        )


def parse_hexdump(lines: list[str]) -> bytes:
    """Bytes of a ``hexdump -C`` style dump (``*`` repeats, last line = length)."""
    out = bytearray()
    previous = b""
    starred = False
    for number, line in enumerate(lines):
        if line == "*":
            if starred or not previous:
                raise ValueError("misplaced '*'")
            starred = True
            continue
        offset_text, rest = line[:4], line[4:]
        if not _OFFSET.fullmatch(offset_text):
            raise ValueError(f"bad dump line {line!r}")
        offset = int(offset_text, 16)
        if starred:
            while len(out) < offset:
                out += previous
            starred = False
        if len(out) != offset:
            raise ValueError(f"offset {offset:#x} but {len(out):#x} bytes so far")
        if not rest:  # the total length: must be the last line
            if number != len(lines) - 1:
                raise ValueError("length line is not the last line")
            return bytes(out)
        if not rest.startswith("  ") or "  |" not in rest:
            raise ValueError(f"bad dump line {line!r}")
        hex_part, ascii_part = rest[2:50], rest[50:]
        chunk = bytes.fromhex(hex_part)
        if not 0 < len(chunk) <= 16:
            raise ValueError(f"bad dump line {line!r}")
        shown = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        if ascii_part != f"  |{shown}|":
            raise ValueError(f"ASCII column does not match the bytes: {line!r}")
        out += chunk
        previous = chunk
    raise ValueError("dump without a final length line")


def parse_block(lines: list[str]) -> Vector:
    """One vector from the lines of its fenced block (label line first)."""
    ident = lines[0].removeprefix(LABEL)
    fields: dict[str, str] = {}
    index = 1
    while lines[index]:
        match = _FIELD.fullmatch(lines[index])
        if match is None:
            raise ValueError(f"{ident}: bad field line {lines[index]!r}")
        key, value = match[1], match[2] or ""
        if key in fields:
            raise ValueError(f"{ident}: {key} twice")
        fields[key] = value
        index += 1
    data = parse_hexdump(lines[index + 1 :])
    if int(fields["length"]) != len(data):
        raise ValueError(f"{ident}: length {fields['length']} but {len(data)} bytes")
    return Vector(ident, fields, data)


def parse_spec(text: str) -> list[Vector]:
    """Every vector block of the spec's text, in order."""
    out: list[Vector] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index] == "```text" and lines[index + 1].startswith(LABEL):
            end = lines.index("```", index + 1)
            out.append(parse_block(lines[index + 1 : end]))
            index = end
        index += 1
    idents = [v.ident for v in out]
    if len(set(idents)) != len(idents):
        raise ValueError("duplicate vector ids")
    return out


@functools.cache
def spec_text() -> str:
    return SPEC.read_text(encoding="utf-8")


@functools.cache
def all_vectors() -> tuple[Vector, ...]:
    return tuple(parse_spec(spec_text()))


def valid_vectors() -> list[Vector]:
    return [v for v in all_vectors() if not v.malformed]


def malformed_vectors() -> list[Vector]:
    return [v for v in all_vectors() if v.malformed]


def vector(ident: str) -> Vector:
    """The vector with id ``ident``."""
    for candidate in all_vectors():
        if candidate.ident == ident:
            return candidate
    raise KeyError(ident)


@functools.cache
def load_generator() -> ModuleType:
    """scripts/gen_vectors.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gen_vectors", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def packed6(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, address)
