"""The announcer: when to send what (docs/PROTOCOL.md, section 5).

A pure state machine like the table: the caller passes ``now`` (monotonic
seconds), asks :meth:`Announcer.next_deadline`, and sends what
:meth:`Announcer.poll` returns.  Randomness comes from an injectable
``random.Random`` so schedules are reproducible in tests.

One host has one identity on all its interfaces (section 4.7): the
announcers of its interfaces share the host ID, the boot ID and one
:class:`SequenceSpace`, and one :class:`NameClaim` decides the name they
announce (section 6.3).  :class:`linkname.host.Host` wires them together.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .codec import Message, name_key, text_problem, validate_name
from .const import (
    ANNOUNCE,
    DEFAULT_INTERVAL,
    FLAG_RESPONSE,
    GOODBYE,
    MAX_ATTRIBUTE_BYTES,
    MAX_INTERVAL,
    MAX_NAME_BYTES,
    MIN_INTERVAL,
    QUERY,
    TTL_FACTOR,
)
from .table import RxMeta

BURST = (0.0, 1.0, 2.0)  # a change burst: seconds after the change, each + jitter
START_JITTER = 0.25
# Start (section 5.1): the start QUERY doubles as the probe for the host's
# name; the first ANNOUNCE waits PROBE_WAIT for the answers (sent 20 to 120 ms
# after the QUERY) plus FIRST_JITTER, so it leaves within 180 ms of the start
# (a command then announces within 300 ms of being started: issue 10).
PROBE_WAIT = 0.15
FIRST_JITTER = 0.03
START_ANNOUNCEMENTS = (PROBE_WAIT, 1.0, 2.0)  # seconds after start, each + jitter
# Two hosts that claim one name within this long of each other started
# together: the greater host ID yields (section 6.3).
TIE_WINDOW = PROBE_WAIT
INTERVAL_JITTER = 0.1  # steady state: interval * uniform(0.9, 1.1)
ANSWER_DELAY = (0.02, 0.12)  # answers to a QUERY wait uniform(20, 120) ms
ANSWER_HOLDOFF = 1.0  # at most one answer per querier (address, port) per second
MAX_PENDING_ANSWERS = 32
MANUAL_HOLDOFF = 1.0  # "announce now" at most once per second
GOODBYE_SPACING = 0.1  # the sender spaces the two GOODBYEs by this much
MAX_SUFFIX = 999  # NAME-2 .. NAME-999, then a name made of the host ID


def same_name(a: str, b: str) -> bool:
    """Whether two names are equal under the comparison of section 4.6."""
    return name_key(a) == name_key(b)


def validate_attribute(what: str, text: str) -> str:
    """``text`` if it is a valid MODEL, OS or SOFTWARE value, else ValueError.

    The rules of section 4.6 (what a receiver accepts): 1 to 64 bytes of
    UTF-8, NFC, printable, no leading or trailing space.
    """
    problem = text_problem(text) if text else "empty"
    size = len(text.encode("utf-8", "surrogatepass"))
    if problem is None and size > MAX_ATTRIBUTE_BYTES:
        problem = f"{size} bytes, at most {MAX_ATTRIBUTE_BYTES} allowed"
    if problem:
        raise ValueError(f"invalid {what} {text!r}: {problem}")
    return text


def validate_attributes(**texts: str | None) -> None:
    """:func:`validate_attribute` for each keyword whose value is not None."""
    for what, text in texts.items():
        if text is not None:
            validate_attribute(what, text)


def suffixed_name(base: str, n: int) -> str:
    """``base-n``, ``base`` shortened at a character boundary to fit 63 bytes."""
    suffix = f"-{n}"
    while len((base + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        base = base[:-1]
    return (base.rstrip() or "host") + suffix


def new_boot_id() -> int:
    """A random 32-bit boot ID (what ``secrets.randbits(32)`` gives, without
    importing secrets: it loads OpenSSL via hmac, see auth._LAZY)."""
    return random.SystemRandom().getrandbits(32)


class SequenceSpace:
    """One host's sequence numbers, shared by all its interfaces (4.7).

    Every message the host sends, on any interface, takes the next number,
    so receivers that hear the host on two interfaces see one increasing
    sequence within one boot ID.
    """

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value & 0xFFFFFFFF

    def next(self) -> int:
        """The number of the next message (the first is ``value + 1``)."""
        self.value = (self.value + 1) & 0xFFFFFFFF
        return self.value


class NameClaim:
    """Which name a host announces: probe, defend, yield, return (6.3).

    A pure state machine shared by the announcers of all of a host's
    interfaces.  ``holders(name)`` gives the host IDs other than ours that
    announce ``name`` (the neighbour tables); ``now`` is monotonic seconds.

    * Before its first announcement the host is *probing*; :meth:`settle`
      (called when the probe ends) picks the configured name if nobody holds
      it, else the first free ``NAME-N``, and the host is *established*.
    * An established host keeps its name when a newcomer announces it
      (:meth:`contested` returns None): only a host whose claim came within
      :data:`TIE_WINDOW` of ours (a simultaneous start) and whose host ID is
      smaller makes it yield.
    * A host that had to take ``NAME-N`` returns to its configured name as
      soon as nobody else holds it (:meth:`released`).

    ``rename`` False never changes the name (spec 6.3: an implementation MAY
    keep its name and report the conflict, as Home Assistant does).
    """

    def __init__(
        self,
        host_id: bytes,
        name: str,
        holders: Callable[[str], Iterable[bytes]] = lambda name: (),
        *,
        rename: bool = True,
    ) -> None:
        self.host_id = host_id
        self.configured = validate_name(name)
        self.name = self.configured
        self.holders = holders
        self.rename = rename
        self.claimed_at: float | None = None  # None: still probing

    @property
    def established(self) -> bool:
        """True once the host has announced its name (the probe is over)."""
        return self.claimed_at is not None

    def _held(self, name: str) -> bool:
        return any(h != self.host_id for h in self.holders(name))

    def free_name(self) -> str:
        """The configured name if free, else the first free ``NAME-N``."""
        if not self.rename or not self._held(self.configured):
            return self.configured
        for n in range(2, MAX_SUFFIX + 1):
            candidate = suffixed_name(self.configured, n)
            if not self._held(candidate):
                return candidate
        return f"linkname-{self.host_id.hex()[:12]}"

    def settle(self, now: float) -> str:
        """The probe is over: the name to announce (fixed once established)."""
        if self.claimed_at is None:
            self.name = self.free_name()
            self.claimed_at = now
        return self.name

    def contested(self, other: bytes, now: float) -> str | None:
        """Host ``other`` began announcing our name; a new name if we yield.

        Called when a host joins with our name or renames to it.  While
        probing nothing happens (:meth:`settle` will see it in the table).
        """
        if self.claimed_at is None or other == self.host_id or not self.rename:
            return None
        if now - self.claimed_at <= TIE_WINDOW and other < self.host_id:
            self.name = self.free_name()
            self.claimed_at = now
            return self.name
        return None

    def released(self, now: float) -> str | None:
        """A holder may have left: the configured name again, if free now."""
        if self.claimed_at is None or self.name == self.configured:
            return None
        if self._held(self.configured):
            return None
        self.name = self.configured
        self.claimed_at = now
        return self.name

    def reconfigure(self, name: str, now: float) -> str:
        """The user chose another name: take it, or ``NAME-N`` if it is held."""
        self.configured = validate_name(name)
        if self.claimed_at is not None:
            self.name = self.free_name()
            self.claimed_at = now
        else:
            self.name = self.configured
        return self.name


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
        sequence: SequenceSpace | None = None,
        decide_name: Callable[[Announcer, float], str] | None = None,
        manufacturer: str | None = None,
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
        validate_attributes(
            model=model, os=os, software=software, manufacturer=manufacturer
        )
        self.model = model
        self.os = os
        self.software = software
        self.manufacturer = manufacturer
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.boot_id = new_boot_id() if boot_id is None else boot_id
        self.sequence = SequenceSpace() if sequence is None else sequence
        # Called with (self, now) when a start's probe ends, just before the
        # first ANNOUNCE: returns the name to announce (a host's NameClaim).
        self.decide_name = decide_name
        self.started = False
        self._announce_at: list[float] = []  # sorted multicast ANNOUNCE times
        self._probe_until: float | None = None  # the probe of a (re)start
        self._query_at: float | None = None
        self._answers: dict[tuple[str, int], float] = {}  # destination -> due
        self._answered: dict[tuple[str, int], float] = {}  # querier -> last answer
        self._last_manual = float("-inf")

    @property
    def seq(self) -> int:
        """The sequence number of the last message sent (shared space)."""
        return self.sequence.value

    @property
    def probing(self) -> bool:
        """True from a (re)start until its probe ends (first ANNOUNCE)."""
        return self._probe_until is not None

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
        """A change burst (5.3); it replaces the pending periodic ANNOUNCE."""
        self._announce_at = [
            now + offset + self.rng.uniform(0, START_JITTER) for offset in BURST
        ]

    def start(self, now: float) -> None:
        """Begin: one QUERY for everyone now (also the probe for our name),
        the first ANNOUNCE when the probe ends, then two more (5.1)."""
        self.started = True
        self._query_at = now
        first, *rest = START_ANNOUNCEMENTS
        self._probe_until = now + first
        self._announce_at = [
            now + first + self.rng.uniform(0, FIRST_JITTER),
            *(now + offset + self.rng.uniform(0, START_JITTER) for offset in rest),
        ]

    def restart(self, now: float) -> None:
        """The link came back (or its address changed): start over."""
        self._answers.clear()
        self.start(now)

    def set_name(self, name: str, now: float) -> None:
        """Change the announced name; announced at once (burst)."""
        validate_name(name)
        if name != self.name:
            self.name = name
            if self.started and self._probe_until is None:
                self._burst(now)  # while probing, the start burst carries it

    def set_addresses(self, addresses: tuple[str, ...], now: float) -> None:
        """Change the announced addresses (link-local first); burst if changed."""
        if addresses != self.addresses:
            self.addresses = addresses
            if self.started and self._probe_until is None:
                self._burst(now)

    def announce_now(self, now: float) -> bool:
        """Schedule an announcement now; False when rate-limited (1/s)."""
        if self.probing or not self.started:
            return False
        if now - self._last_manual < MANUAL_HOLDOFF:
            return False
        self._last_manual = now
        self._announce_at = sorted([now, *self._announce_at])
        return True

    def query_received(self, message: Message, meta: RxMeta, now: float) -> None:
        """Schedule a unicast answer if the QUERY is for us or for everyone.

        At most one answer per querier (address and port: two programs on
        one host are two queriers) per second.  A QUERY for another name is
        ignored and does not count towards that limit (5.4).  Nothing is
        answered while probing: the name is not decided yet.
        """
        if not self.started or message.type != QUERY or self.probing:
            return
        wanted = message.query_name
        if wanted is not None and not same_name(wanted, self.name):
            return
        destination = (meta.source, meta.source_port)
        last = self._answered.get(destination)
        if last is not None and now - last < ANSWER_HOLDOFF:
            return
        if destination in self._answers or len(self._answers) >= MAX_PENDING_ANSWERS:
            return
        self._answered[destination] = now
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
        return self.sequence.next()

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
            manufacturer=self.manufacturer,
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
            if self._probe_until is not None:
                self._probe_until = None
                if self.decide_name is not None:
                    self.name = validate_name(self.decide_name(self, now))
            self._announce_at = [t for t in self._announce_at if t > now]
            out.append(Transmit(self._announcement()))
            if not self._announce_at:
                # The first periodic ANNOUNCE is one jittered interval after
                # the last one of a burst (5.2).
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
        self._probe_until = None
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
