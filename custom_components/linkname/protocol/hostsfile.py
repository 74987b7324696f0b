"""The table file read by the NSS module (docs/PROTOCOL.md, section 9.8).

Two halves:

* sans-I/O: :func:`format_table` turns :class:`HostRecord` items into the
  bytes of the file, :func:`parse_table` reads them back (the reference
  parser; the C module in ``nss/`` implements the same rules);
* I/O: :func:`write_atomic` (temporary file in the same directory, then
  ``rename``) and :class:`HostsFileWriter`, which follows one or more
  endpoints and rewrites the file when the table changes, rate-limited, and
  removes it on :meth:`HostsFileWriter.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .names import name_key  # the key the file stores (section 4.6)
from .table import (
    AddressChanged,
    Event,
    Joined,
    Left,
    Neighbour,
    Refreshed,
    Renamed,
)

_LOGGER = logging.getLogger(__name__)

HEADER = b"linkname-hosts 1\n"
FILE_NAME = "hosts"
DEFAULT_RUNTIME_DIR = "/run/linkname"
RUNTIME_DIR_ENV = "LINKNAME_RUNTIME_DIR"
MAX_FILE_BYTES = 1 << 20  # readers refuse larger files
MAX_KEY_BYTES = 255
MAX_NAME_BYTES = 63
MAX_ADDRESSES = 16
MAX_EXPIRY = 2**63 - 1
MIN_WRITE_INTERVAL = 0.5  # seconds between two rewrites (changes coalesce)
REFRESH_INTERVAL = 60.0  # rewrite at least this often (wall-clock drift)
# A rewrite is due this long before the earliest expiry written in the file,
# so a record whose neighbour the table still holds never expires there.
EXPIRY_MARGIN = 5.0

_INET6 = socket.AF_INET6
_INET = socket.AF_INET


class HostsFileError(ValueError):
    """The bytes are not a valid table file (``parse_table``)."""


@dataclass(frozen=True, slots=True)
class HostRecord:
    """One host in the file: its name, addresses and absolute expiry.

    ``expires`` is Unix time in whole seconds (CLOCK_REALTIME): the record is
    valid while ``time() < expires``. ``ifindex`` is the scope of the
    record's link-local addresses (the interface it was heard on).
    """

    name: str
    addresses: tuple[str, ...]
    expires: int
    ifindex: int


_DOT_OR_ASCII_CAPITAL = re.compile("[.A-Z]")


def by_precedence(table: Iterable[Neighbour]) -> list[Neighbour]:
    """The neighbours in the order the file lists them: the first of a name
    answers (section 6.3: a lookup prefers the holder, the entry that has
    announced the name longest).

    Holders first when the table knows them (``table.holder(name)``), then
    by first sighting and host ID; never by host ID alone, which would let
    host ID 00..00 take any name.
    """
    holder = getattr(table, "holder", None)
    neighbours = list(table)

    def rank(n: Neighbour) -> tuple[int, float, bytes]:
        is_holder = callable(holder) and holder(n.name) is n
        return (0 if is_holder else 1, n.first_seen, n.host_id)

    return sorted(neighbours, key=rank)


def _is_link_local(packed: bytes) -> bool:
    return packed[0] == 0xFE and packed[1] & 0xC0 == 0x80


def _address_field(address: str, ifindex: int) -> str | None:
    """``address`` in the file's form (link-local with ``%IFINDEX``), or None."""
    text = address.split("%", 1)[0]
    try:
        packed = socket.inet_pton(_INET6, text)
    except OSError:
        try:
            return socket.inet_ntop(_INET, socket.inet_pton(_INET, text))
        except OSError:
            return None
    canonical = socket.inet_ntop(_INET6, packed)
    if _is_link_local(packed):
        if not 0 < ifindex <= 0xFFFFFFFF:
            return None  # a link-local address is useless without its scope
        return f"{canonical}%{ifindex}"
    return canonical


def _text_ok(text: str, limit: int) -> bool:
    data = text.encode("utf-8")
    return 0 < len(data) <= limit and all(b >= 0x20 and b != 0x7F for b in data)


def format_record(record: HostRecord) -> bytes | None:
    """One record line, or None when the record cannot be represented.

    Not representable: a key with ``.`` (the module answers single labels
    only), a key or name out of limits, no usable address, an expiry out of
    range.
    """
    key = name_key(record.name)
    if "." in key or not _text_ok(key, MAX_KEY_BYTES):
        return None
    if not _text_ok(record.name, MAX_NAME_BYTES):
        return None
    if not 0 < record.expires <= MAX_EXPIRY:
        return None
    fields: list[str] = []
    for address in record.addresses:
        text = _address_field(address, record.ifindex)
        if text is not None and text not in fields:
            fields.append(text)
    if not fields:
        return None
    del fields[MAX_ADDRESSES:]
    return f"{key}\t{record.expires}\t{record.name}\t{' '.join(fields)}\n".encode()


def format_table(records: Iterable[HostRecord]) -> bytes:
    """The whole file: header, one line per distinct key, trailer.

    The first record of a key wins (callers list the holder of a contested
    name first, see :func:`by_precedence`); records that do not fit in
    :data:`MAX_FILE_BYTES` are left out.
    """
    lines: list[bytes] = []
    seen: set[bytes] = set()
    size = len(HEADER) + len(b"end 4294967295\n")
    for record in records:
        line = format_record(record)
        if line is None:
            continue
        key = line.split(b"\t", 1)[0]
        if key in seen:
            continue
        if size + len(line) > MAX_FILE_BYTES:
            _LOGGER.warning("table file full: %r and later hosts left out", key)
            break
        seen.add(key)
        size += len(line)
        lines.append(line)
    return HEADER + b"".join(lines) + f"end {len(lines)}\n".encode()


def _parse_address(text: str) -> str:
    address, sep, zone = text.partition("%")
    try:
        packed = socket.inet_pton(_INET6, address)
    except OSError:
        packed = b""
    if packed:
        if socket.inet_ntop(_INET6, packed) != address:
            raise HostsFileError(f"address not in canonical form: {text!r}")
        if _is_link_local(packed) != bool(sep):
            raise HostsFileError(f"scope wrong for {text!r}")
        if sep and not _decimal_ok(zone, 0xFFFFFFFF, allow_zero=False):
            raise HostsFileError(f"bad scope in {text!r}")
        return text
    try:
        ok = not sep and socket.inet_ntop(_INET, socket.inet_pton(_INET, text)) == text
    except OSError:
        ok = False
    if not ok:
        raise HostsFileError(f"bad address {text!r}")
    return text


def _decimal_ok(text: str, limit: int, *, allow_zero: bool) -> bool:
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return False
    if text[0] == "0" and text != "0":
        return False
    value = int(text)
    return (value > 0 or allow_zero) and value <= limit


def parse_table(data: bytes, now: float) -> list[HostRecord]:
    """The unexpired records of a table file; raises :class:`HostsFileError`.

    The whole file is checked, as the module checks it: size, header,
    trailer and count, then every line. Records whose expiry is at or
    before ``now`` are valid but left out.
    """
    if len(data) > MAX_FILE_BYTES:
        raise HostsFileError("file too large")
    if b"\0" in data:
        raise HostsFileError("NUL byte")
    if not data.startswith(HEADER):
        raise HostsFileError("bad header")
    if not data.endswith(b"\n"):
        raise HostsFileError("no final newline")
    lines = data[len(HEADER) : -1].split(b"\n")
    trailer = lines.pop()
    if not trailer.startswith(b"end "):
        raise HostsFileError("no trailer")
    count = trailer[4:].decode("ascii", "replace")
    if not _decimal_ok(count, 0xFFFFFFFF, allow_zero=True) or int(count) != len(lines):
        raise HostsFileError("record count does not match")
    out = []
    for raw in lines:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HostsFileError("record not UTF-8") from None
        fields = line.split("\t")
        if len(fields) != 4:
            raise HostsFileError(f"record has {len(fields)} fields: {line!r}")
        key, expiry, name, addresses = fields
        # As the module: no dot and no ASCII capital (a key is folded, but
        # Unicode folding leaves some letters in upper case: Cherokee folds
        # to its capitals, so a general "is lower case" test is wrong).
        if not _text_ok(key, MAX_KEY_BYTES) or _DOT_OR_ASCII_CAPITAL.search(key):
            raise HostsFileError(f"bad key {key!r}")
        if not _decimal_ok(expiry, MAX_EXPIRY, allow_zero=False):
            raise HostsFileError(f"bad expiry {expiry!r}")
        if not _text_ok(name, MAX_NAME_BYTES):
            raise HostsFileError(f"bad name {name!r}")
        items = addresses.split(" ")
        if not 1 <= len(items) <= MAX_ADDRESSES:
            raise HostsFileError("1 to 16 addresses per record")
        parsed = tuple(_parse_address(item) for item in items)
        scopes = {int(a.split("%", 1)[1]) for a in parsed if "%" in a}
        if int(expiry) > now:
            record = HostRecord(
                name=name,
                addresses=tuple(a.split("%", 1)[0] for a in parsed),
                expires=int(expiry),
                ifindex=min(scopes) if scopes else 0,
            )
            out.append(record)
    return out


# -- from the neighbour table ------------------------------------------------


def wall_expiry(expires: float, now: float, wall: float) -> int:
    """A monotonic deadline ``expires`` (clock reading ``now``) as Unix seconds."""
    return max(1, math.ceil(wall + (expires - now)))


def neighbour_record(
    neighbour: Neighbour, ifindex: int, now: float, wall: float
) -> HostRecord:
    """The record of a neighbour heard on ``ifindex``."""
    return HostRecord(
        name=neighbour.name,
        addresses=neighbour.addresses,
        expires=wall_expiry(neighbour.expires, now, wall),
        ifindex=ifindex,
    )


# -- I/O -----------------------------------------------------------------------


def runtime_dir(option: str | None) -> Path:
    """The runtime directory: ``--runtime-dir``, else $LINKNAME_RUNTIME_DIR, else
    /run/linkname."""
    return Path(option or os.environ.get(RUNTIME_DIR_ENV) or DEFAULT_RUNTIME_DIR)


def write_atomic(path: Path, data: bytes) -> os.stat_result:
    """Replace ``path`` by a file holding ``data``: readers see old or new.

    Writes a temporary file in the same directory, then renames it over
    ``path``. No fsync: the file lives on a tmpfs (/run) and is rebuilt at
    start, and rename alone is atomic for concurrent readers. Returns the
    new file's stat (to recognise it later).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
        os.fchmod(fd, 0o644)  # whatever the umask: every process reads it
        stat = os.fstat(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return stat


class _Source(Protocol):
    """What the writer reads of an endpoint (protocol.endpoint.Endpoint)."""

    @property
    def table(self) -> Iterable[Neighbour]: ...  # pragma: no cover

    @property
    def ifindex(self) -> int | None: ...  # pragma: no cover

    @property
    def addresses(self) -> tuple[str, ...]: ...  # pragma: no cover

    @property
    def state(self) -> str: ...  # pragma: no cover


class HostsFileWriter:
    """Keeps the table file of one or more endpoints up to date.

    Feed it the table events (:meth:`on_event`, usable as the endpoint's
    ``on_event`` or chained with :func:`chain`). It rewrites the file at
    most every ``min_interval`` seconds when hosts join, leave, rename or
    change addresses, ``EXPIRY_MARGIN`` seconds before the earliest expiry
    written in the file (then with the table's later expiries: a record the
    table still holds never expires in the file, and re-announcements alone
    cause no write), and at least every ``refresh`` seconds (clock drift).
    """

    def __init__(
        self,
        path: Path,
        *,
        own: Callable[[], Sequence[HostRecord]] | None = None,
        min_interval: float = MIN_WRITE_INTERVAL,
        refresh: float = REFRESH_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.own = own
        self.min_interval = min_interval
        self.refresh = refresh
        self.clock = clock
        self.sources: list[_Source] = []
        self.writes = 0
        self.errors = 0
        self._written: dict[bytes, int] = {}  # host ID -> expiry in the file
        self._stat: os.stat_result | None = None
        self._last_write = -math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = math.inf
        self._closed = False
        self._warned = False

    def attach(self, source: _Source) -> None:
        """Follow the table of ``source`` (an endpoint)."""
        self.sources.append(source)

    def start(self) -> None:
        """Write the file now (creating its directory if needed)."""
        self._loop = asyncio.get_running_loop()
        self._write()

    def on_event(self, event: Event) -> None:
        """A table event: schedule a rewrite if the file must change."""
        if self._closed:
            return
        if isinstance(event, Joined | Left | Renamed | AddressChanged):
            self.request()
        elif (
            isinstance(event, Refreshed)
            and event.neighbour.host_id not in self._written
        ):
            # A refresh of a host in the file waits for the rewrite due before
            # the earliest written expiry (see _write); only a host not in
            # the file yet makes one now.
            self.request()

    def request(self, delay: float = 0.0) -> None:
        """Rewrite soon: after ``delay``, and not before ``min_interval``."""
        loop = self._loop
        if loop is None or self._closed:
            return
        when = max(loop.time() + delay, self._last_write + self.min_interval)
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        self._timer_when = when
        self._timer = loop.call_at(when, self._write)

    def records(self) -> list[HostRecord]:
        """What the file holds now: own records, then neighbours (holders of
        their names first, see :func:`by_precedence`)."""
        loop = self._loop
        now = loop.time() if loop is not None else time.monotonic()
        wall = self.clock()
        out = list(self.own()) if self.own is not None else []
        for source in self.sources:
            ifindex = source.ifindex or 0
            neighbours = by_precedence(source.table)
            out += [
                neighbour_record(n, ifindex, now, wall)
                for n in neighbours
                if n.expires > now
            ]
        return out

    def _write(self) -> None:
        self._timer = None
        self._timer_when = math.inf
        if self._closed or self._loop is None:
            return
        self._last_write = self._loop.time()
        written: dict[bytes, int] = {}
        records = self.records()
        data = format_table(records)
        try:
            try:
                self._stat = write_atomic(self.path, data)
            except FileNotFoundError:  # no directory (yet, or any more)
                self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                self._stat = write_atomic(self.path, data)
        except OSError as err:
            self.errors += 1
            self._warn(err)
        else:
            self.writes += 1
            loop = self._loop
            now, wall = loop.time(), self.clock()
            for source in self.sources:
                for n in source.table:
                    written[n.host_id] = wall_expiry(n.expires, now, wall)
            self._written = written
            earliest = min((r.expires for r in records), default=math.inf)
            due = earliest - wall - EXPIRY_MARGIN
            self.request(max(0.0, min(self.refresh, due)))
            return
        self.request(self.refresh)

    def _warn(self, err: OSError) -> None:
        if not self._warned:
            self._warned = True
            _LOGGER.warning("cannot write the table file %s: %s", self.path, err)

    def close(self) -> None:
        """Stop and remove the file (only if it is still the one written last)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        stat = self._stat
        if stat is None:
            return
        with contextlib.suppress(OSError):
            current = os.stat(self.path, follow_symlinks=False)
            if (current.st_dev, current.st_ino) == (stat.st_dev, stat.st_ino):
                self.path.unlink()


def own_records(
    endpoint: Any, clock: Callable[[], float] = time.time
) -> list[HostRecord]:
    """The record of an endpoint's own announced name (while it is up)."""
    announcer = endpoint.announcer
    if announcer is None or endpoint.state != "up" or not endpoint.addresses:
        return []
    return [
        HostRecord(
            name=announcer.name,
            addresses=tuple(endpoint.addresses),
            expires=math.ceil(clock()) + int(announcer.ttl),
            ifindex=endpoint.ifindex or 0,
        )
    ]


def chain(*callbacks: Callable[[Event], None] | None) -> Callable[[Event], None]:
    """One ``on_event`` callback calling each of ``callbacks`` in turn."""
    present = [c for c in callbacks if c is not None]

    def call(event: Event) -> None:
        for callback in present:
            callback(event)

    return call


def add_argument(parser: Any) -> None:
    """The ``--runtime-dir`` option of the commands that keep a table."""
    parser.add_argument(
        "--runtime-dir",
        metavar="DIR",
        help=f"directory of the table file for the NSS module (default "
        f"${RUNTIME_DIR_ENV}, else {DEFAULT_RUNTIME_DIR})",
    )


def follow(
    endpoint: Any, option: str | None, *, by_default: bool = True
) -> HostsFileWriter | None:
    """A writer following ``endpoint`` (events, state), own name included.

    Without ``--runtime-dir`` or $LINKNAME_RUNTIME_DIR, only when
    ``by_default`` (``announce``; ``watch`` writes only when asked, so that it
    never replaces the daemon's file). Call ``start()`` once the endpoint has
    started and ``close()`` before closing it.
    """
    if not (by_default or option or os.environ.get(RUNTIME_DIR_ENV)):
        return None
    writer = HostsFileWriter(runtime_dir(option) / FILE_NAME)
    writer.own = lambda: own_records(endpoint, writer.clock)
    writer.attach(endpoint)
    endpoint.on_event = chain(endpoint.on_event, writer.on_event)
    on_state = endpoint.on_state

    def state_changed(state: str) -> None:
        if on_state is not None:
            on_state(state)
        writer.request()

    endpoint.on_state = state_changed
    return writer
