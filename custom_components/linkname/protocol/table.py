"""The neighbour table: a pure state machine (docs/PROTOCOL.md, section 6).

Inputs are datagrams with their receive metadata and the current time; the
outputs are events.  Nothing here sleeps, reads a clock or touches a socket:
the caller passes ``now`` (monotonic seconds) and ``wall_ms`` (Unix time in
milliseconds, used only for the authentication timestamp window), and asks
:meth:`NeighbourTable.next_deadline` when to call :meth:`expire` next.
"""

from __future__ import annotations

import heapq
import socket
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

from .auth import Key, ReplayGuard, check_mac, pseudo_header, seq_newer
from .codec import DecodeError, Message, Reason, decode
from .const import GOODBYE, HOP_LIMIT, QUERY

DEFAULT_CAPACITY = 1024
DEFAULT_NEW_PER_SOURCE_PER_MINUTE = 10
SOURCE_LIMITER_CAPACITY = 4096
SOURCE_CACHE_LIMIT = 4096  # link-local source addresses remembered, packed


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
    """A known host announced different attributes (model, OS, software, TTL)."""

    neighbour: Neighbour
    changed: frozenset[str]


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
    reason: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two host IDs announce the same name (compared by casefold)."""

    name: str
    host_ids: tuple[bytes, bytes]


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
    """The neighbour table of one interface."""

    def __init__(
        self,
        *,
        own_host_id: bytes | None = None,
        ifindex: int | None = None,
        keys: Iterable[Key] = (),
        capacity: int = DEFAULT_CAPACITY,
        new_per_source_per_minute: int = DEFAULT_NEW_PER_SOURCE_PER_MINUTE,
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
        self._names: dict[str, int] = {}  # casefolded name -> entries using it
        self._sources: dict[str, bytes] = {}  # link-local source text -> packed
        self._limiter = _SourceLimiter(new_per_source_per_minute)
        self._replay = ReplayGuard(capacity=max(4 * capacity, 1024))
        self._conflicts: set[frozenset[bytes]] = set()

    # -- queries -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Neighbour]:
        return iter(list(self._entries.values()))

    def get(self, host_id: bytes) -> Neighbour | None:
        """The neighbour with ``host_id``, if known."""
        return self._entries.get(host_id)

    def find(self, name: str) -> list[Neighbour]:
        """Neighbours announcing ``name`` (casefold), lowest host ID first."""
        folded = name.casefold()
        return sorted(
            (n for n in self._entries.values() if n.name.casefold() == folded),
            key=lambda n: n.host_id,
        )

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
            return self._goodbye(message, meta)
        return self._announce(message, meta, source, now)

    def _stale(self, entry: Neighbour, message: Message) -> bool:
        return entry.boot_id == message.boot_id and not seq_newer(
            message.seq, entry.seq
        )

    def _goodbye(self, message: Message, meta: RxMeta) -> list[Event]:
        entry = self._entries.get(message.host_id)
        if entry is None:
            self.accepted += 1  # e.g. the second of the two GOODBYEs
            return []
        if self._stale(entry, message):
            return self._reject(Reason.STALE_SEQUENCE, meta)
        self.accepted += 1
        self._forget(message.host_id)
        return [Left(entry, "goodbye")]

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
        expires = now + message.ttl
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
            )
            self._entries[host_id] = entry
            self.accepted += 1
            self._schedule(host_id, expires)
            self._name_added(name)
            return [Joined(entry), *self._check_conflict(entry)]
        # Stale: same boot and the sequence number is not newer (seq_newer).
        if (
            entry.boot_id == message.boot_id
            and not 0 < (message.seq - entry.seq) & 0xFFFFFFFF < 0x80000000
        ):
            return self._reject(Reason.STALE_SEQUENCE, meta)
        self.accepted += 1
        entry.boot_id = message.boot_id
        entry.seq = message.seq
        entry.last_seen = now
        if expires < self._scheduled[host_id]:
            self._schedule(host_id, expires)  # earlier than planned (lower TTL)
        entry.expires = expires
        # Nothing changed (the common case): the deadline moved, that's all.
        if (
            entry.name == name
            and entry.addresses == message.addresses
            and entry.model == message.model
            and entry.os == message.os
            and entry.software == message.software
            and entry.ttl == message.ttl
        ):
            return [Refreshed(entry)]
        events: list[Event] = []
        if entry.name != name:
            old_name, entry.name = entry.name, name
            self._name_removed(old_name)
            self._name_added(name)
            events.append(Renamed(entry, old_name))
            events.extend(self._check_conflict(entry))
        if entry.addresses != message.addresses:
            old_addresses, entry.addresses = entry.addresses, message.addresses
            events.append(AddressChanged(entry, old_addresses))
        changed = set()
        if entry.model != message.model:
            entry.model = message.model
            changed.add("model")
        if entry.os != message.os:
            entry.os = message.os
            changed.add("os")
        if entry.software != message.software:
            entry.software = message.software
            changed.add("software")
        if entry.ttl != message.ttl:
            entry.ttl = message.ttl
            changed.add("ttl")
        if changed:
            events.append(Updated(entry, frozenset(changed)))
        return events or [Refreshed(entry)]

    # -- bookkeeping: expiry heap, name index --------------------------------

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
        if entry.expires == when:
            return entry
        self._schedule(host_id, entry.expires)
        return None

    def _name_added(self, name: str) -> None:
        folded = name.casefold()
        self._names[folded] = self._names.get(folded, 0) + 1

    def _name_removed(self, name: str) -> None:
        folded = name.casefold()
        left = self._names[folded] - 1
        if left:
            self._names[folded] = left
        else:
            del self._names[folded]

    def _check_conflict(self, entry: Neighbour) -> list[Event]:
        folded = entry.name.casefold()
        if self._names.get(folded, 0) < 2:
            return []  # nobody else uses the name: no need to look
        events: list[Event] = []
        for other in self._entries.values():
            if other.host_id != entry.host_id and other.name.casefold() == folded:
                pair = frozenset((entry.host_id, other.host_id))
                if pair not in self._conflicts:
                    self._conflicts.add(pair)
                    low, high = sorted((entry.host_id, other.host_id))
                    events.append(Conflict(entry.name, (low, high)))
        return events

    def _forget(self, host_id: bytes) -> None:
        entry = self._entries.pop(host_id)
        del self._scheduled[host_id]
        self._name_removed(entry.name)
        if self._conflicts:
            self._conflicts = {p for p in self._conflicts if host_id not in p}

    def name_conflicts(self, name: str, host_id: bytes) -> list[Neighbour]:
        """Neighbours other than ``host_id`` that announce ``name``.

        Used by a host to check its own name: if any of them has a lower host
        ID, the spec says this host SHOULD rename (section 6.3).
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
            expires = self._entries[host_id].expires
            if expires == when:
                return when
            # Re-announced since: move its one item to the current expiry.
            scheduled[host_id] = expires
            heapq.heapreplace(heap, (expires, host_id))
        return None

    def expire(self, now: float) -> list[Event]:
        """Remove every entry whose TTL has run out by ``now``."""
        events: list[Event] = []
        while self._heap and self._heap[0][0] <= now:
            expires, host_id = heapq.heappop(self._heap)
            entry = self._due(expires, host_id)
            if entry is not None:
                self._forget(host_id)
                events.append(Left(entry, "expired"))
        return events

    # -- management --------------------------------------------------------

    def remove(self, host_id: bytes) -> list[Event]:
        """Forget a neighbour (user action); it rejoins when it announces."""
        entry = self._entries.get(host_id)
        if entry is None:
            return []
        self._forget(host_id)
        return [Left(entry, "removed")]

    def restore(self, neighbour: Neighbour) -> bool:
        """Put back a neighbour from persistent storage (False when full)."""
        host_id = neighbour.host_id
        old = self._entries.get(host_id)
        if old is None and len(self._entries) >= self.capacity:
            return False
        if old is not None:
            self._name_removed(old.name)
        self._entries[host_id] = neighbour
        self._name_added(neighbour.name)
        if neighbour.expires < self._scheduled.get(host_id, float("inf")):
            self._schedule(host_id, neighbour.expires)
        return True

    def clear_conflicts(self) -> None:
        """Forget reported conflicts so that they are reported again."""
        self._conflicts.clear()
