"""The announcer: when to send what (docs/PROTOCOL.md, section 5).

A pure state machine like the table: the caller passes ``now`` (monotonic
seconds), asks :meth:`Announcer.next_deadline`, and sends what
:meth:`Announcer.poll` returns.  Randomness comes from an injectable
``random.Random`` so schedules are reproducible in tests.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from .codec import Message, validate_name
from .const import (
    ANNOUNCE,
    DEFAULT_INTERVAL,
    FLAG_RESPONSE,
    GOODBYE,
    MAX_INTERVAL,
    MIN_INTERVAL,
    QUERY,
    TTL_FACTOR,
)
from .table import RxMeta

START_ANNOUNCEMENTS = (0.0, 1.0, 2.0)  # seconds after start, each + jitter
START_JITTER = 0.25
INTERVAL_JITTER = 0.1  # steady state: interval * uniform(0.9, 1.1)
ANSWER_DELAY = (0.02, 0.12)  # answers to a QUERY wait uniform(20, 120) ms
ANSWER_HOLDOFF = 1.0  # at most one answer per querier address per second
MAX_PENDING_ANSWERS = 32
MANUAL_HOLDOFF = 1.0  # "announce now" at most once per second
GOODBYE_SPACING = 0.1  # the sender spaces the two GOODBYEs by this much


@dataclass(frozen=True, slots=True)
class Transmit:
    """A message to send: to the group (``destination`` None) or by unicast."""

    message: Message
    destination: tuple[str, int] | None = None


class Announcer:
    """Schedules one host's announcements, answers and goodbye."""

    def __init__(
        self,
        *,
        host_id: bytes,
        name: str,
        addresses: tuple[str, ...] = (),
        interval: float = DEFAULT_INTERVAL,
        model: str | None = None,
        os: str | None = None,
        software: str | None = None,
        rng: random.Random | None = None,
        boot_id: int | None = None,
    ) -> None:
        if len(host_id) != 16:
            raise ValueError("host_id must be 16 bytes")
        if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
            raise ValueError(
                f"interval must be {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds"
            )
        self.host_id = host_id
        self.name = validate_name(name)
        self.addresses = addresses
        self.interval = interval
        self.model = model
        self.os = os
        self.software = software
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.boot_id = secrets.randbits(32) if boot_id is None else boot_id
        self.seq = 0
        self.started = False
        self.sent_announcements = 0
        self._announce_at: list[float] = []  # sorted multicast ANNOUNCE times
        self._query_at: float | None = None
        self._answers: dict[tuple[str, int], float] = {}  # destination -> due
        self._answered: dict[str, float] = {}  # querier address -> last answer
        self._last_manual = float("-inf")

    @property
    def ttl(self) -> int:
        """The TTL announced: three intervals (section 5.2)."""
        return min(0xFFFF, round(TTL_FACTOR * self.interval))

    # -- scheduling --------------------------------------------------------

    def _jittered_interval(self) -> float:
        return self.interval * self.rng.uniform(
            1 - INTERVAL_JITTER, 1 + INTERVAL_JITTER
        )

    def _burst(self, now: float) -> None:
        self._announce_at = [
            now + offset + self.rng.uniform(0, START_JITTER)
            for offset in START_ANNOUNCEMENTS
        ]

    def start(self, now: float) -> None:
        """Begin: one QUERY for everyone now, then the start announcements."""
        self.started = True
        self._query_at = now
        self._burst(now)

    def restart(self, now: float) -> None:
        """The link came back (or its address changed): start over."""
        self._answers.clear()
        self.start(now)

    def set_name(self, name: str, now: float) -> None:
        """Change the announced name; announced at once (burst)."""
        validate_name(name)
        if name != self.name:
            self.name = name
            if self.started:
                self._burst(now)

    def set_addresses(self, addresses: tuple[str, ...], now: float) -> None:
        """Change the announced addresses (link-local first); burst if changed."""
        if addresses != self.addresses:
            self.addresses = addresses
            if self.started:
                self._burst(now)

    def announce_now(self, now: float) -> bool:
        """Schedule an announcement now; False when rate-limited (1/s)."""
        if not self.started or now - self._last_manual < MANUAL_HOLDOFF:
            return False
        self._last_manual = now
        self._announce_at = sorted([now, *self._announce_at])
        return True

    def query_received(self, message: Message, meta: RxMeta, now: float) -> None:
        """Schedule a unicast answer if the QUERY is for us or for everyone."""
        if not self.started or message.type != QUERY:
            return
        wanted = message.query_name
        if wanted is not None and wanted.casefold() != self.name.casefold():
            return
        last = self._answered.get(meta.source)
        if last is not None and now - last < ANSWER_HOLDOFF:
            return
        destination = (meta.source, meta.source_port)
        if destination in self._answers or len(self._answers) >= MAX_PENDING_ANSWERS:
            return
        self._answered[meta.source] = now
        if len(self._answered) > 4 * MAX_PENDING_ANSWERS:
            cutoff = now - ANSWER_HOLDOFF
            self._answered = {a: t for a, t in self._answered.items() if t >= cutoff}
        self._answers[destination] = now + self.rng.uniform(*ANSWER_DELAY)

    def next_deadline(self) -> float | None:
        """When :meth:`poll` has something to send next (None: nothing).

        None while stopped or without an address, so that a caller never
        spins on a deadline that :meth:`poll` cannot serve.
        """
        if not self.started or not self.addresses:
            return None
        times = [*self._announce_at[:1], *self._answers.values()]
        if self._query_at is not None:
            times.append(self._query_at)
        return min(times) if times else None

    # -- output ------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return self.seq

    def _announcement(self, flags: int = 0) -> Message:
        return Message(
            ANNOUNCE,
            self.host_id,
            self.boot_id,
            self._next_seq(),
            self.ttl,
            flags,
            self.name,
            self.addresses,
            self.model,
            self.os,
            self.software,
        )

    def make_query(self, name: str | None = None) -> Message:
        """A QUERY for ``name`` (None: everyone)."""
        if name is not None:
            validate_name(name)
        return Message(
            QUERY, self.host_id, self.boot_id, self._next_seq(), query_name=name
        )

    def poll(self, now: float) -> list[Transmit]:
        """Everything due at or before ``now``.

        Without an address (the interface has no usable link-local address
        yet) nothing is sent and the schedule waits: announcements due then
        go out as soon as an address is set and ``poll`` is called again.
        """
        if not self.started or not self.addresses:
            return []
        out: list[Transmit] = []
        if self._query_at is not None and self._query_at <= now:
            self._query_at = None
            out.append(Transmit(self.make_query()))
        due = [t for t in self._announce_at if t <= now]
        if due:
            self._announce_at = [t for t in self._announce_at if t > now]
            out.append(Transmit(self._announcement()))
            self.sent_announcements += 1
            if not self._announce_at:
                self._announce_at = [now + self._jittered_interval()]
        for destination, when in list(self._answers.items()):
            if when <= now:
                del self._answers[destination]
                out.append(Transmit(self._announcement(FLAG_RESPONSE), destination))
        return out

    def stop(self) -> list[Transmit]:
        """Stop: two GOODBYEs to send (spaced by ``GOODBYE_SPACING``)."""
        was_started = self.started and bool(self.addresses)
        self.started = False
        self._announce_at = []
        self._answers.clear()
        self._query_at = None
        if not was_started:
            return []
        return [
            Transmit(
                Message(
                    GOODBYE,
                    self.host_id,
                    self.boot_id,
                    self._next_seq(),
                    name=self.name,
                )
            )
            for _ in range(2)
        ]
