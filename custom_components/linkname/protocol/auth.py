"""Optional shared-key authentication (docs/PROTOCOL.md, section 7).

HMAC-SHA256 over a pseudo-header (source and destination address and port)
followed by the message up to, and including, the AUTH TLV's key ID and
timestamp.  The AUTH TLV is always the message's last TLV, so the MAC is the
datagram's last 32 bytes.
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .codec import Message, Reason
from .const import AUTH_BODY_LEN, AUTH_MAC_LEN, TLV_AUTH
from .state import os_error_text, read_small_file

# _LAZY: hashlib, hmac and secrets are imported where a key is used, not
# here.  They load OpenSSL's libcrypto (about 2 MiB of resident memory, issue
# 10 section 7), which a daemon without a key never needs;
# tests/protocol/test_footprint.py keeps it that way.

MIN_KEY_CHARS = 16
MAX_KEY_CHARS = 256
MAX_KEY_FILE_BYTES = 64 * 1024
DEFAULT_WINDOW_MS = 60_000
# Section 7.6: signed messages stamped earlier than the receiver's start
# minus this are dropped, so a restarted receiver accepts no replay of what
# it may have heard (and forgotten) before.
START_SKEW_MS = 2_000
_KEY_ID_LABEL = b"linkname/1 key id\x00"
_AUTH_HEAD = struct.Struct("!BHHQ")
_PORTS = struct.Struct("!HH")


class BadKeyError(ValueError):
    """A shared key is malformed (too short, too long, not text)."""


@dataclass(frozen=True, slots=True)
class Key:
    """A shared key.  Its 16-bit key ID is derived from the secret."""

    secret: bytes
    key_id: int

    @classmethod
    def from_text(cls, text: str) -> Key:
        """Build a key from its text form (what users paste and key files hold)."""
        text = text.strip()
        if not MIN_KEY_CHARS <= len(text) <= MAX_KEY_CHARS:
            raise BadKeyError(
                f"a key is {MIN_KEY_CHARS} to {MAX_KEY_CHARS} characters, "
                f"got {len(text)}"
            )
        if not text.isprintable() or any(ch.isspace() for ch in text):
            raise BadKeyError("a key is printable characters without spaces")
        import hashlib  # noqa: PLC0415 - lazy, see _LAZY

        secret = text.encode("utf-8")
        digest = hashlib.sha256(_KEY_ID_LABEL + secret).digest()
        return cls(secret, int.from_bytes(digest[:2], "big"))

    @classmethod
    def from_file(cls, path: str | Path) -> Key:
        """Read a key file (section 7.1).

        The key is on the first line that is neither empty (white space
        only counts as empty) nor a comment (``#`` after leading white
        space).  One leading backslash is removed, so ``\\#secret...``
        holds the key ``#secret...``.  The file is read with a size limit
        and only if it is a regular file.
        """
        return cls.from_file_with_mode(path)[0]

    @classmethod
    def from_file_with_mode(cls, path: str | Path) -> tuple[Key, int]:
        """:meth:`from_file`, and the file's ``st_mode`` (for a warning)."""
        try:
            raw, mode = read_small_file(path, MAX_KEY_FILE_BYTES)
            content = raw.decode("utf-8-sig")
        except OSError as err:
            raise BadKeyError(
                f"cannot read key file {path}: {os_error_text(err)}"
            ) from None
        except (ValueError, UnicodeDecodeError) as err:
            raise BadKeyError(f"cannot read key file {path}: {err}") from None
        for line in content.splitlines():
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith("\\"):
                text = text[1:]
            return cls.from_text(text), mode
        raise BadKeyError(f"key file {path} holds no key")

    def __repr__(self) -> str:  # never show the secret
        return f"Key(key_id=0x{self.key_id:04x})"


def key_ring(keys: Iterable[Key]) -> dict[int, Key]:
    """The configured keys by key ID; :class:`BadKeyError` on a collision.

    Key IDs are 16 bits and not unique (section 7.1): two different keys
    with one key ID cannot both be configured, since a receiver looks a key
    up by its ID.  The same key given twice counts once.
    """
    ring: dict[int, Key] = {}
    for key in keys:
        known = ring.get(key.key_id)
        if known is None:
            ring[key.key_id] = key
        elif not _same_secret(known.secret, key.secret):
            raise BadKeyError(
                f"two different keys have the same key ID 0x{key.key_id:04x}; "
                "replace one of them (generate a new key)"
            )
    return ring


def _same_secret(a: bytes, b: bytes) -> bool:
    import hmac  # noqa: PLC0415 - lazy, see _LAZY

    return hmac.compare_digest(a, b)


def generate_key_text() -> str:
    """A fresh random key in text form (32 URL-safe characters, 192 bits)."""
    import secrets  # noqa: PLC0415 - lazy, see _LAZY

    return secrets.token_urlsafe(24)


def pseudo_header(
    source: str, source_port: int, destination: str, destination_port: int
) -> bytes:
    """The 36-byte pseudo-header: src addr, dst addr (16 each), src, dst port."""
    return (
        socket.inet_pton(socket.AF_INET6, source.split("%", 1)[0])
        + socket.inet_pton(socket.AF_INET6, destination.split("%", 1)[0])
        + _PORTS.pack(source_port, destination_port)
    )


def sign(data: bytes, key: Key, pseudo: bytes, timestamp_ms: int) -> bytes:
    """Append an AUTH TLV to the encoded, unsigned message ``data``."""
    signed = data + _AUTH_HEAD.pack(TLV_AUTH, AUTH_BODY_LEN, key.key_id, timestamp_ms)
    import hmac  # noqa: PLC0415 - lazy, see _LAZY

    return signed + hmac.digest(key.secret, pseudo + signed, "sha256")


def check_mac(
    data: bytes, message: Message, keys: dict[int, Key], pseudo: bytes
) -> Reason | None:
    """Verify a decoded message's MAC.  None when it is good."""
    auth = message.auth
    if auth is None:
        return Reason.UNSIGNED
    key = keys.get(auth.key_id)
    if key is None:
        return Reason.UNKNOWN_KEY
    import hmac  # noqa: PLC0415 - lazy, see _LAZY

    expected = hmac.digest(key.secret, pseudo + data[:-AUTH_MAC_LEN], "sha256")
    if not hmac.compare_digest(expected, auth.mac):
        return Reason.BAD_SIGNATURE
    return None


def seq_newer(seq: int, than: int) -> bool:
    """RFC 1982 serial-number comparison on 32 bits: is ``seq`` after ``than``?"""
    diff = (seq - than) & 0xFFFFFFFF
    return 0 < diff < 0x80000000


class ReplayGuard:
    """Per host ID replay protection for signed messages.

    Accepts a message only when its timestamp is within ``window_ms`` of now
    and not earlier than ``started_ms - START_SKEW_MS`` (the receiver's start:
    what was sent before it may have been heard and forgotten, section 7.6),
    and, for a host already heard from, its sequence number is newer within
    the same boot ID, or (new boot ID) its timestamp is newer than the last
    accepted one.  ``started_ms`` None takes the wall clock (``now_ms``) of
    the first check, which is no earlier than the start.  Remembers at most
    ``capacity`` hosts (least recently heard forgotten first), so a flood
    cannot grow it without bound.
    """

    def __init__(
        self,
        window_ms: int = DEFAULT_WINDOW_MS,
        capacity: int = 4096,
        started_ms: int | None = None,
    ) -> None:
        self.window_ms = window_ms
        self.capacity = capacity
        self.started_ms = started_ms
        self._last: OrderedDict[bytes, tuple[int, int, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def check(self, message: Message, now_ms: int) -> Reason | None:
        """Decide on a verified message; None means accept (and remember it)."""
        auth = message.auth
        if auth is None:
            return Reason.UNSIGNED
        if abs(auth.timestamp_ms - now_ms) > self.window_ms:
            return Reason.STALE_TIMESTAMP
        if self.started_ms is None:
            self.started_ms = now_ms
        if auth.timestamp_ms < self.started_ms - START_SKEW_MS:
            return Reason.STALE_TIMESTAMP  # sent before we (re)started
        last = self._last.get(message.host_id)
        if last is not None:
            boot_id, seq, timestamp_ms = last
            if message.boot_id == boot_id:
                if not seq_newer(message.seq, seq):
                    return Reason.REPLAY
            elif auth.timestamp_ms <= timestamp_ms:
                return Reason.REPLAY
            self._last.move_to_end(message.host_id)
        self._last[message.host_id] = (message.boot_id, message.seq, auth.timestamp_ms)
        if len(self._last) > self.capacity:
            self._last.popitem(last=False)
        return None
