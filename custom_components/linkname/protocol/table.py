"""The neighbour table: a pure state machine (docs/PROTOCOL.md, section 6).

Inputs are datagrams with their receive metadata and the current time; the
outputs are events.  Nothing here sleeps, reads a clock or touches a socket:
the caller passes ``now`` (monotonic seconds) and ``wall_ms`` (Unix time in
milliseconds, used only for the authentication timestamp window), and asks
:meth:`NeighbourTable.next_deadline` when to call :meth:`expire` next.
"""

from __future__ import annotations

import heapq
import math
import socket
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from .auth import Key, ReplayGuard, check_mac, pseudo_header, seq_newer
from .codec import (
    DecodeError,
    Message,
    Reason,
    decode,
    name_key,
    text_problem,
    validate_name,
)
from .const import GOODBYE, HOP_LIMIT, MAX_ADDRESSES, MAX_ATTRIBUTE_BYTES, QUERY

DEFAULT_CAPACITY = 1024
DEFAULT_NEW_PER_SOURCE_PER_MINUTE = 10
SOURCE_LIMITER_CAPACITY = 4096
SOURCE_CACHE_LIMIT = 4096  # link-local source addresses remembered, packed
MAX_PATHS = 8  # source addresses (interfaces) one host is heard from, at most
# A new path of a known host may carry a sequence number up to this much
# older than the newest one accepted: the host sends on its interfaces one
# after the other, and the copies may arrive in any order.
PATH_REORDER = 64


class LeftReason(StrEnum):
    """Why a neighbour left the table (the values are the old plain strings)."""

    GOODBYE = "goodbye"
    EXPIRED = "expired"
    REMOVED = "removed"


class Change(StrEnum):
    """What an :class:`Updated` event reports as changed."""

    MODEL = "model"
    OS = "os"
    SOFTWARE = "software"
    MANUFACTURER = "manufacturer"
    TTL = "ttl"


@dataclass(frozen=True, slots=True)
class RxMeta:
    """How a datagram arrived (filled in by the endpoint from ``recvmsg``)."""

    source: str
    source_port: int
    destination: str
    destination_port: int
    ifindex: int
    hop_limit: int


@dataclass(slots=True)
class Neighbour:
    """What the table knows about one host, keyed by its host ID."""

    host_id: bytes
    name: str
    addresses: tuple[str, ...]
    model: str | None
    os: str | None
    software: str | None
    boot_id: int
    seq: int
    ttl: int
    first_seen: float
    last_seen: float
    expires: float
    signed: bool = False
    manufacturer: str | None = None  # revision 2 (last: positional callers)

    @property
    def link_local(self) -> str:
        """The neighbour's IPv6 link-local address (always the first one)."""
        return self.addresses[0]


@dataclass(frozen=True, slots=True)
class Joined:
    """A host not in the table announced itself."""

    neighbour: Neighbour


@dataclass(frozen=True, slots=True)
class Updated:
    """A known host announced different attributes (model, OS, ..., TTL)."""

    neighbour: Neighbour
    changed: frozenset[Change]  # members equal their strings: "model", ...


@dataclass(frozen=True, slots=True)
class Renamed:
    """A known host (same host ID) announced a new name."""

    neighbour: Neighbour
    old_name: str


@dataclass(frozen=True, slots=True)
class AddressChanged:
    """A known host announced a different set of addresses."""

    neighbour: Neighbour
    old_addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refreshed:
    """A known host re-announced with nothing changed (deadline moved)."""

    neighbour: Neighbour


@dataclass(frozen=True, slots=True)
class Left:
    """A host left the table: ``goodbye``, ``expired`` or ``removed``."""

    neighbour: Neighbour
    reason: LeftReason


@dataclass(frozen=True, slots=True)
class Conflict:
    """More than one host ID announces a name (compared by :func:`name_key`).

    Conflicts are kept per name, not per pair of hosts.  One is reported
    when a name becomes contested (a second host ID announces it), again
    and again when the holder of a contested name changes (the holder left,
    or a host heard at the same time with a lower host ID).

    ``holder`` is the host ID of the established holder: of the hosts that
    announce the name, the one that has announced it longest (earliest time
    the table heard it with this name; ties: lower host ID).  ``host_ids``
    are the two host IDs whose change caused the report, lower first: the
    holder and the newcomer, or the new and the departed holder.  ``name``
    is the name as the newcomer (or the new holder) spells it.
    """

    name: str
    host_ids: tuple[bytes, bytes]
    holder: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """A datagram was dropped; it is also counted in ``rejected``."""

    reason: Reason
    source: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Queried:
    """A valid QUERY arrived; the announcer decides whether to answer."""

    message: Message
    meta: RxMeta


# A plain alias (not a `type` statement): the core runs on Python >= 3.11.
Event: TypeAlias = (
    Joined
    | Updated
    | Renamed
    | AddressChanged
    | Refreshed
    | Left
    | Conflict
    | Rejected
    | Queried
)


@dataclass(slots=True)
class _Group:
    """The hosts announcing one contested name (one :func:`name_key`).

    ``members`` maps host ID -> since (when the table heard it take the
    name).  ``heap`` holds (since, host ID) items; items of members that
    left are skipped lazily, and the heap is rebuilt when they outnumber the
    members, so each event costs O(log n) at worst and memory stays linear
    in the members.  A name with one host is a plain (since, host ID) tuple
    in the table's index instead: most names are not contested.
    """

    members: dict[bytes, float]
    heap: list[tuple[float, bytes]]
    reported: bool  # its Conflict was reported


_Single: TypeAlias = tuple[float, bytes]  # (since, host ID): an uncontested name


@dataclass(slots=True)
class _Path:
    """One way a multi-interface host is heard: one source address.

    A host on several interfaces of one link (Ethernet and Wi-Fi) announces
    one host ID, boot ID and sequence space from each (section 6.8); each
    source address is a path with its own addresses and lifetime.
    """

    addresses: tuple[str, ...]
    seq: int
    last_seen: float
    expires: float


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


@dataclass(slots=True)
class _SourceLimiter:
    """Token bucket of new entries per source address, itself bounded."""

    per_minute: int
    capacity: int = SOURCE_LIMITER_CAPACITY
    buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def allow(self, source: str, now: float) -> bool:
        bucket = self.buckets.get(source)
        if bucket is None:
            bucket = _Bucket(float(self.per_minute), now)
            self.buckets[source] = bucket
            if len(self.buckets) > self.capacity:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(source)
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(
                float(self.per_minute), bucket.tokens + elapsed * self.per_minute / 60
            )
            bucket.stamp = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


def _packed_link_local(address: str) -> bytes | None:
    """The packed form of an IPv6 link-local (fe80::/10) address, else None."""
    try:
        packed = socket.inet_pton(socket.AF_INET6, address.split("%", 1)[0])
    except OSError:
        return None
    return packed if packed[0] == 0xFE and packed[1] & 0xC0 == 0x80 else None


class NeighbourTable:
    """The neighbour table of one interface.

    ``away_after`` (seconds, None or 0: off) replaces the announced TTL as
    the lifetime of an entry: when set, an entry expires ``away_after``
    seconds after it was last heard.  It can be changed at any time (the
    attribute is a property); the change applies at once to every entry.
    """

    def __init__(
        self,
        *,
        own_host_id: bytes | None = None,
        ifindex: int | None = None,
        keys: Iterable[Key] = (),
        capacity: int = DEFAULT_CAPACITY,
        new_per_source_per_minute: int = DEFAULT_NEW_PER_SOURCE_PER_MINUTE,
        away_after: float | None = None,
    ) -> None:
        self.own_host_id = own_host_id
        self.ifindex = ifindex
        self.keys = {key.key_id: key for key in keys}
        self.capacity = capacity
        self.rejected: Counter[Reason] = Counter()
        self.accepted = 0
        self.looped = 0
        self._entries: dict[bytes, Neighbour] = {}
        # Expiry: one heap item per entry, (_scheduled[host_id], host_id), at
        # or before the entry's expiry time.  A re-announcement only moves
        # ``expires``; when the item comes due it is re-pushed at the current
        # expiry (lazily), so the heap does not grow with the message rate.
        # Items of forgotten or rescheduled entries are stale: skipped when
        # they reach the top, or dropped when the heap is compacted.
        self._heap: list[tuple[float, bytes]] = []
        self._scheduled: dict[bytes, float] = {}
        # Names: name_key -> the host announcing it (_Single) or the group
        # of hosts announcing it (_Group).
        self._groups: dict[str, _Group | _Single] = {}
        self._contested: set[str] = set()  # keys of groups with 2+ members
        self._sources: dict[str, bytes] = {}  # link-local source text -> packed
        self._limiter = _SourceLimiter(new_per_source_per_minute)
        self._replay = ReplayGuard(capacity=max(4 * capacity, 1024))
        self._away_after: float | None = _check_away_after(away_after)
        # Hosts heard from more than one source address: host ID -> packed
        # source -> _Path (insertion order: the first path is the primary).
        self._paths: dict[bytes, dict[bytes, _Path]] = {}
        self._own_sources: frozenset[bytes] = frozenset()

    # -- settings ----------------------------------------------------------

    @property
    def away_after(self) -> float | None:
        """Entry lifetime after the last announcement (None: the TTL)."""
        return self._away_after

    @away_after.setter
    def away_after(self, value: float | None) -> None:
        self.set_away_after(value)

    def set_away_after(self, value: float | None) -> None:
        """Change ``away_after`` (None or 0: use the TTL) for every entry.

        Each entry's expiry becomes ``last_seen`` + the new lifetime; the
        expiry heap is rebuilt once, O(n) for the change, nothing per event.
        Entries that are now overdue leave at the next :meth:`expire`.
        """
        self._away_after = _check_away_after(value)
        away = self._away_after
        for entry in self._entries.values():
            entry.expires = entry.last_seen + (away or entry.ttl)
        for host_id, paths in self._paths.items():
            entry = self._entries[host_id]
            for path in paths.values():
                path.expires = path.last_seen + (away or entry.ttl)
            entry.expires = max(p.expires for p in paths.values())
        self._scheduled = {h: self._check_time(e) for h, e in self._entries.items()}
        self._heap = [(t, h) for h, t in self._scheduled.items()]
        heapq.heapify(self._heap)

    @property
    def own_addresses(self) -> frozenset[str]:
        """This host's link-local addresses on the table's interface.

        A datagram with the table's ``own_host_id`` from one of them is the
        host's own, looped back: ignored and counted as ``looped``.  From any
        other address it is the host's own message heard on another of its
        interfaces (or an impostor): dropped as ``own_host_id``.  While this
        is empty every own-host-ID datagram counts as looped.
        """
        return frozenset(
            socket.inet_ntop(socket.AF_INET6, a) for a in self._own_sources
        )

    @own_addresses.setter
    def own_addresses(self, addresses: Iterable[str]) -> None:
        packed = set()
        for address in addresses:
            value = _packed_link_local(address)
            if value is None:
                raise ValueError(f"not an IPv6 link-local address: {address!r}")
            packed.add(value)
        self._own_sources = frozenset(packed)

    # -- queries -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Neighbour]:
        return iter(list(self._entries.values()))

    def get(self, host_id: bytes) -> Neighbour | None:
        """The neighbour with ``host_id``, if known."""
        return self._entries.get(host_id)

    def find(self, name: str) -> list[Neighbour]:
        """Neighbours announcing ``name`` (:func:`name_key`), holder first.

        The others follow in the order the table learnt they use the name.
        Costs O(k) for k hosts using the name, independent of the table.
        """
        group = self._groups.get(name_key(name))
        if group is None:
            return []
        entries = self._entries
        if isinstance(group, tuple):
            return [entries[group[1]]]
        holder = self._holder(group)
        return [entries[holder]] + [entries[h] for h in group.members if h != holder]

    def paths(self, host_id: bytes) -> list[tuple[str, ...]]:
        """The addresses of each path of a neighbour, primary first.

        One item for a host heard from one source address; several for a
        host on several interfaces of the link (section 6.8).
        """
        entry = self._entries.get(host_id)
        if entry is None:
            return []
        paths = self._paths.get(host_id)
        if paths is None:
            return [entry.addresses]
        return [path.addresses for path in paths.values()]

    def holder(self, name: str) -> Neighbour | None:
        """The established holder of ``name`` (see :class:`Conflict`), if any.

        O(1) amortised: a dictionary look-up and the top of the group's heap.
        """
        group = self._groups.get(name_key(name))
        if group is None:
            return None
        if isinstance(group, tuple):
            return self._entries[group[1]]
        return self._entries[self._holder(group)]

    def conflicts(self) -> list[Conflict]:
        """One :class:`Conflict` for every name announced by 2+ host IDs now.

        For instance after :meth:`restore`, which reports nothing itself.
        """
        out = []
        entries = self._entries
        for key in self._contested:
            group = self._groups[key]
            assert isinstance(group, _Group)
            holder = self._holder(group)
            other = next(h for h in group.members if h != holder)
            out.append(Conflict(entries[holder].name, _pair(holder, other), holder))
        return out

    @property
    def signed_mode(self) -> bool:
        """True when keys are configured: only signed messages are accepted."""
        return bool(self.keys)

    # -- input -------------------------------------------------------------

    def _reject(self, reason: Reason, meta: RxMeta, detail: str = "") -> list[Event]:
        self.rejected[reason] += 1
        return [Rejected(reason, meta.source, detail)]

    def _link_local_source(self, text: str) -> bytes | None:
        source = _packed_link_local(text)
        if source is not None:
            if len(self._sources) >= SOURCE_CACHE_LIMIT:
                self._sources.clear()
            self._sources[text] = source
        return source

    def datagram_received(
        self, data: bytes, meta: RxMeta, now: float, wall_ms: int
    ) -> list[Event]:
        """Process one datagram; return what happened."""
        if meta.hop_limit != HOP_LIMIT:
            return self._reject(Reason.HOP_LIMIT, meta, f"hop limit {meta.hop_limit}")
        source = self._sources.get(meta.source) or self._link_local_source(meta.source)
        if source is None:
            return self._reject(Reason.NOT_LINK_LOCAL, meta)
        if self.ifindex is not None and meta.ifindex != self.ifindex:
            return self._reject(Reason.WRONG_INTERFACE, meta, f"ifindex {meta.ifindex}")
        try:
            message = decode(data)
        except DecodeError as err:
            return self._reject(err.reason, meta, err.detail)
        if message.host_id == self.own_host_id:
            if self._own_sources and source not in self._own_sources:
                return self._reject(Reason.OWN_HOST_ID, meta, "from another address")
            self.looped += 1
            return []
        if self.keys:
            pseudo = pseudo_header(
                meta.source, meta.source_port, meta.destination, meta.destination_port
            )
            problem = check_mac(data, message, self.keys, pseudo) or self._replay.check(
                message, wall_ms
            )
            if problem is not None:
                return self._reject(problem, meta)
        if message.type == QUERY:
            self.accepted += 1
            return [Queried(message, meta)]
        if message.type == GOODBYE:
            return self._goodbye(message, meta, source, now)
        return self._announce(message, meta, source, now)

    def _stale(self, entry: Neighbour, message: Message) -> bool:
        return entry.boot_id == message.boot_id and not seq_newer(
            message.seq, entry.seq
        )

    def _goodbye(
        self, message: Message, meta: RxMeta, source: bytes, now: float
    ) -> list[Event]:
        host_id = message.host_id
        entry = self._entries.get(host_id)
        if entry is None:
            self.accepted += 1  # e.g. the second of the two GOODBYEs
            return []
        paths = self._paths.get(host_id)
        path = None if paths is None else paths.get(source)
        if path is None or entry.boot_id != message.boot_id:
            # One path, or not from one of its paths: the host leaves.
            if self._stale(entry, message):
                return self._reject(Reason.STALE_SEQUENCE, meta)
            self.accepted += 1
            return [Left(entry, LeftReason.GOODBYE), *self._forget(host_id)]
        assert paths is not None
        if not seq_newer(message.seq, path.seq):
            return self._reject(Reason.STALE_SEQUENCE, meta)
        # A host on several interfaces leaves one of them: that path goes,
        # the neighbour stays with the others.
        self.accepted += 1
        if seq_newer(message.seq, entry.seq):
            entry.seq = message.seq
        del paths[source]
        return self._paths_changed(entry, paths)

    def _announce(
        self, message: Message, meta: RxMeta, source: bytes, now: float
    ) -> list[Event]:
        link_local = message.addresses[0]
        # Equal text is an equal address; other spellings are compared packed.
        if (
            link_local != meta.source
            and socket.inet_pton(socket.AF_INET6, link_local) != source
        ):
            return self._reject(Reason.SOURCE_MISMATCH, meta, f"announced {link_local}")
        host_id = message.host_id
        entry = self._entries.get(host_id)
        expires = now + (self._away_after or message.ttl)
        name = message.name or ""
        if entry is None:
            if len(self._entries) >= self.capacity:
                return self._reject(Reason.TABLE_FULL, meta)
            if not self._limiter.allow(meta.source, now):
                return self._reject(Reason.RATE_LIMITED, meta)
            entry = Neighbour(
                host_id,
                name,
                message.addresses,
                message.model,
                message.os,
                message.software,
                message.boot_id,
                message.seq,
                message.ttl,
                now,
                now,
                expires,
                message.auth is not None and bool(self.keys),
                message.manufacturer,
            )
            self._entries[host_id] = entry
            self.accepted += 1
            self._schedule(host_id, expires)
            return [Joined(entry), *self._name_added(entry, now)]
        paths = self._paths.get(host_id)
        if entry.boot_id != message.boot_id:
            # The host restarted: whatever paths it had start over with this.
            if paths is not None:
                del self._paths[host_id]
                paths = None
        elif paths is not None or link_local != entry.addresses[0]:
            # Heard from another source address, or a host with several.
            addresses = self._announce_path(entry, paths, message, source, now)
            if addresses is None:
                return self._reject(Reason.STALE_SEQUENCE, meta)
            return self._announced(entry, message, addresses, name, now)
        # Stale: same boot and the sequence number is not newer (seq_newer).
        elif not 0 < (message.seq - entry.seq) & 0xFFFFFFFF < 0x80000000:
            return self._reject(Reason.STALE_SEQUENCE, meta)
        self.accepted += 1
        entry.boot_id = message.boot_id
        entry.seq = message.seq
        entry.last_seen = now
        if expires < self._scheduled[host_id]:
            self._schedule(host_id, expires)  # earlier than planned (lower TTL)
        entry.expires = expires
        return self._announced(entry, message, message.addresses, name, now)

    def _announce_path(
        self,
        entry: Neighbour,
        paths: dict[bytes, _Path] | None,
        message: Message,
        source: bytes,
        now: float,
    ) -> tuple[str, ...] | None:
        """Accept an ANNOUNCE of a known host on one of several paths.

        Returns the neighbour's addresses (every path's, primary first), or
        None for a stale message.  The sequence check is per path, so copies
        sent on the host's interfaces one after the other may arrive in any
        order; a new path is accepted with a sequence number at most
        PATH_REORDER older than the newest accepted.
        """
        host_id = entry.host_id
        if paths is None:
            primary = _packed_link_local(entry.addresses[0]) or b""
            paths = {
                primary: _Path(
                    entry.addresses, entry.seq, entry.last_seen, entry.expires
                )
            }
        path = paths.get(source)
        seq = message.seq
        if path is not None:
            if not seq_newer(seq, path.seq):
                return None
        elif (
            seq == entry.seq
            or not seq_newer(seq, (entry.seq - PATH_REORDER) & 0xFFFFFFFF)
            or len(paths) >= MAX_PATHS
        ):
            return None
        self.accepted += 1
        lifetime = self._away_after or message.ttl
        paths[source] = _Path(message.addresses, seq, now, now + lifetime)
        if len(paths) > 1:
            self._paths[host_id] = paths
        else:
            # One path after all (a restored entry's address spelt another
            # way): the plain case.
            self._paths.pop(host_id, None)
        if seq_newer(seq, entry.seq):
            entry.seq = seq
        entry.last_seen = now
        entry.expires = max(p.expires for p in paths.values())
        check = min(p.expires for p in paths.values())
        if check < self._scheduled[host_id]:
            self._schedule(host_id, check)
        return _merged(paths)

    def _paths_changed(
        self, entry: Neighbour, paths: dict[bytes, _Path]
    ) -> list[Event]:
        """After paths were dropped: the neighbour's addresses and expiry."""
        host_id = entry.host_id
        if not paths:
            return [Left(entry, LeftReason.EXPIRED), *self._forget(host_id)]
        if len(paths) == 1:
            del self._paths[host_id]  # one path again: the plain case
            [path] = paths.values()
            entry.last_seen = path.last_seen
        entry.expires = max(p.expires for p in paths.values())
        addresses = _merged(paths)
        if addresses == entry.addresses:
            return []
        old, entry.addresses = entry.addresses, addresses
        return [AddressChanged(entry, old)]

    def _announced(
        self,
        entry: Neighbour,
        message: Message,
        addresses: tuple[str, ...],
        name: str,
        now: float,
    ) -> list[Event]:
        """The events of an accepted ANNOUNCE of a known host."""
        # Nothing changed (the common case): the deadline moved, that's all.
        if (
            entry.name == name
            and entry.addresses == addresses
            and entry.model == message.model
            and entry.os == message.os
            and entry.software == message.software
            and entry.manufacturer == message.manufacturer
            and entry.ttl == message.ttl
        ):
            return [Refreshed(entry)]
        events: list[Event] = []
        if entry.name != name:
            old_name = entry.name
            if name_key(old_name) == name_key(name):
                entry.name = name  # same name, other spelling: same group
                events.append(Renamed(entry, old_name))
            else:
                removed = self._name_removed(entry)
                entry.name = name
                events.append(Renamed(entry, old_name))
                events.extend(removed)
                events.extend(self._name_added(entry, now))
        if entry.addresses != addresses:
            old_addresses, entry.addresses = entry.addresses, addresses
            events.append(AddressChanged(entry, old_addresses))
        changed = set()
        if entry.model != message.model:
            entry.model = message.model
            changed.add(Change.MODEL)
        if entry.os != message.os:
            entry.os = message.os
            changed.add(Change.OS)
        if entry.software != message.software:
            entry.software = message.software
            changed.add(Change.SOFTWARE)
        if entry.manufacturer != message.manufacturer:
            entry.manufacturer = message.manufacturer
            changed.add(Change.MANUFACTURER)
        if entry.ttl != message.ttl:
            entry.ttl = message.ttl
            changed.add(Change.TTL)
        if changed:
            events.append(Updated(entry, frozenset(changed)))
        return events or [Refreshed(entry)]

    # -- bookkeeping: expiry heap, name groups -------------------------------

    def _schedule(self, host_id: bytes, when: float) -> None:
        """Plan the expiry check of ``host_id`` at ``when`` (its one item)."""
        self._scheduled[host_id] = when
        heap = self._heap
        heapq.heappush(heap, (when, host_id))
        if len(heap) > 2 * len(self._scheduled) + 64:
            # Mostly stale items (forgotten, or rescheduled earlier): rebuild.
            self._heap = [(t, h) for h, t in self._scheduled.items()]
            heapq.heapify(self._heap)

    def _due(self, when: float, host_id: bytes) -> Neighbour | None:
        """The entry whose heap item (when, host_id) just came up, if valid.

        Stale items give None.  An entry that was re-announced since gets
        its item re-pushed at its current expiry, and None.
        """
        if self._scheduled.get(host_id) != when:
            return None
        entry = self._entries[host_id]
        check = self._check_time(entry)
        if check == when:
            return entry
        self._schedule(host_id, check)
        return None

    def _check_time(self, entry: Neighbour) -> float:
        """When the entry needs a look: its expiry, or its first path's."""
        paths = self._paths.get(entry.host_id)
        if paths is None:
            return entry.expires
        return min(p.expires for p in paths.values())

    @staticmethod
    def _holder(group: _Group) -> bytes:
        """The host ID holding the group's name (lazily cleans the heap)."""
        heap = group.heap
        members = group.members
        while True:
            since, host_id = heap[0]
            if members.get(host_id) == since:
                return host_id
            heapq.heappop(heap)  # a member that left (or re-took the name)

    def _name_added(self, entry: Neighbour, since: float) -> list[Event]:
        """Add ``entry`` to its name's group; a Conflict if that is news."""
        key = name_key(entry.name)
        host_id = entry.host_id
        groups = self._groups
        group = groups.get(key)
        if group is None:
            groups[key] = (since, host_id)
            return []
        if isinstance(group, tuple):
            # Contested from now on.
            old_since, old_holder = group
            group = _Group(
                {old_holder: old_since}, [(old_since, old_holder)], reported=False
            )
            groups[key] = group
            self._contested.add(key)
        else:
            old_holder = self._holder(group)
        members = group.members
        members[host_id] = since
        heap = group.heap
        heapq.heappush(heap, (since, host_id))
        if len(heap) > 2 * len(members) + 8:
            group.heap = heap = [(s, h) for h, s in members.items()]
            heapq.heapify(heap)
        holder = self._holder(group)
        if group.reported and holder == old_holder:
            return []  # already reported, and still the same holder
        group.reported = True
        other = old_holder if holder != old_holder else host_id
        return [Conflict(entry.name, _pair(holder, other), holder)]

    def _name_removed(self, entry: Neighbour) -> list[Event]:
        """Take ``entry`` out of its name's group; a Conflict if the holder
        of a still contested, reported name changes."""
        key = name_key(entry.name)
        host_id = entry.host_id
        group = self._groups[key]
        if isinstance(group, tuple):
            del self._groups[key]
            return []
        was_holder = self._holder(group) == host_id
        members = group.members
        del members[host_id]
        holder = self._holder(group)
        if len(members) == 1:
            # Uncontested again (a fresh conflict is reported anew later).
            self._groups[key] = (members[holder], holder)
            self._contested.discard(key)
            return []
        if not was_holder or not group.reported:
            return []
        name = self._entries[holder].name
        return [Conflict(name, _pair(holder, host_id), holder)]

    def _forget(self, host_id: bytes) -> list[Event]:
        """Remove an entry; the Conflict events of its name's group."""
        entry = self._entries[host_id]
        events = self._name_removed(entry)
        del self._entries[host_id]
        del self._scheduled[host_id]
        self._paths.pop(host_id, None)
        return events

    def name_conflicts(self, name: str, host_id: bytes) -> list[Neighbour]:
        """Neighbours other than ``host_id`` that announce ``name``.

        Used by a host to check its own name (section 6.3); the first one is
        the holder unless ``host_id`` holds it.
        """
        return [n for n in self.find(name) if n.host_id != host_id]

    # -- time --------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`expire` has something to do next (None: nothing)."""
        heap = self._heap
        scheduled = self._scheduled
        while heap:
            when, host_id = heap[0]
            if scheduled.get(host_id) != when:
                heapq.heappop(heap)  # stale (forgotten or rescheduled earlier)
                continue
            expires = self._check_time(self._entries[host_id])
            if expires == when:
                return when
            # Re-announced since: move its one item to the current expiry.
            scheduled[host_id] = expires
            heapq.heapreplace(heap, (expires, host_id))
        return None

    def expire(self, now: float, limit: int | None = None) -> list[Event]:
        """Remove every entry whose lifetime has run out by ``now``.

        With ``limit``, at most that many entries leave in this call (the
        others stay due: :meth:`next_deadline` is then <= ``now``), so a
        caller on an event loop can spread a mass expiry over several
        callbacks.  Each entry costs O(log n).
        """
        events: list[Event] = []
        left = -1 if limit is None else limit
        while left and self._heap and self._heap[0][0] <= now:
            expires, host_id = heapq.heappop(self._heap)
            entry = self._due(expires, host_id)
            if entry is None:
                continue
            paths = self._paths.get(host_id)
            if paths is None:
                events.append(Left(entry, LeftReason.EXPIRED))
                events.extend(self._forget(host_id))
            else:
                # A path not heard for its lifetime goes; the neighbour stays
                # while it has another.
                for source in [s for s, p in paths.items() if p.expires <= now]:
                    del paths[source]
                events.extend(self._paths_changed(entry, paths))
                if host_id in self._entries:
                    self._schedule(host_id, self._check_time(entry))
            left -= 1
        return events

    # -- management --------------------------------------------------------

    def remove(self, host_id: bytes) -> list[Event]:
        """Forget a neighbour (user action); it rejoins when it announces."""
        entry = self._entries.get(host_id)
        if entry is None:
            return []
        return [Left(entry, LeftReason.REMOVED), *self._forget(host_id)]

    def restore(self, neighbour: Neighbour) -> bool:
        """Put back a neighbour from persistent storage (False when full).

        For a restart (Home Assistant's, for one): the times of
        ``neighbour`` (``first_seen``, ``last_seen``, ``expires``) are in
        this table's clock, the caller maps them.  The entry expires at
        ``expires`` (or, after a change of ``away_after``, at ``last_seen``
        + the lifetime) unless it is heard before.  It rejoins its name's
        group as of ``first_seen``; nothing is reported (no events), ask
        :meth:`conflicts` afterwards.  A neighbour with the same host ID is
        replaced.  Raises ValueError for a neighbour no valid announcement
        could have produced: a bad host ID, name, address or text, a time
        that is not a finite number >= 0 (inf, NaN), a TTL, boot ID or
        sequence number out of range.  The table is unchanged then.
        """
        problem = _restore_problem(neighbour)
        if problem:
            raise ValueError(f"cannot restore neighbour: {problem}")
        host_id = neighbour.host_id
        old = self._entries.get(host_id)
        if old is None and len(self._entries) >= self.capacity:
            return False
        if old is not None:
            self._name_removed(old)
            self._paths.pop(host_id, None)
        self._entries[host_id] = neighbour
        self._name_added(neighbour, neighbour.first_seen)
        if neighbour.expires < self._scheduled.get(host_id, math.inf):
            self._schedule(host_id, neighbour.expires)
        return True


def _merged(paths: dict[bytes, _Path]) -> tuple[str, ...]:
    """Every path's addresses, primary path first, without repeats."""
    return tuple(dict.fromkeys(a for path in paths.values() for a in path.addresses))


def _pair(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    return (a, b) if a <= b else (b, a)


def _check_away_after(value: float | None) -> float | None:
    """``away_after`` as stored: None for off (None or 0); ValueError if bad."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"away_after must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"away_after must be finite and >= 0, not {value!r}")
    return float(value)


def _uint(value: object, bits: int) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value < 1 << bits
    )


def _time(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _restore_problem(n: object) -> str | None:
    """Why ``n`` cannot be restored, or None (see NeighbourTable.restore).

    Fields are read as plain objects: restored data comes from storage,
    whatever the type annotations say.
    """
    if not isinstance(n, Neighbour):
        return f"not a Neighbour: {type(n).__name__}"
    host_id: object = n.host_id
    if not isinstance(host_id, bytes) or len(host_id) != 16:
        return "host_id must be 16 bytes"
    name: object = n.name
    if not isinstance(name, str):
        return "name must be a string"
    try:
        validate_name(name)
    except ValueError as err:
        return str(err)
    addresses: object = n.addresses
    if not isinstance(addresses, tuple) or not 0 < len(addresses) <= MAX_ADDRESSES:
        return f"addresses must be a tuple of 1 to {MAX_ADDRESSES} addresses"
    for address in addresses:
        if not isinstance(address, str):
            return f"address {address!r} is not a string"
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            socket.inet_pton(family, address)
        except OSError:
            return f"address {address!r} is not an IP address"
    if _packed_link_local(addresses[0]) is None or "%" in addresses[0]:
        return f"first address {addresses[0]!r} is not IPv6 link-local"
    for label in ("model", "os", "software", "manufacturer"):
        text: object = getattr(n, label)
        if text is None:
            continue
        if not isinstance(text, str) or not text:
            return f"{label} must be None or a non-empty string"
        problem = text_problem(text)
        if problem is None and len(text.encode("utf-8")) > MAX_ATTRIBUTE_BYTES:
            problem = f"more than {MAX_ATTRIBUTE_BYTES} bytes"
        if problem:
            return f"{label} {text!r}: {problem}"
    if not _uint(n.boot_id, 32) or not _uint(n.seq, 32):
        return "boot_id and seq must be integers in 0..2**32-1"
    if not _uint(n.ttl, 16) or n.ttl == 0:
        return "ttl must be an integer in 1..65535"
    for label in ("first_seen", "last_seen", "expires"):
        value: object = getattr(n, label)
        if not _time(value):
            return f"{label} must be a finite number >= 0, not {value!r}"
    signed: object = n.signed
    if not isinstance(signed, bool):
        return "signed must be a bool"
    return None
