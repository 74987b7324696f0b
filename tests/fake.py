"""A fake endpoint: the test seam of the Home Assistant integration.

It replaces the socket half of ``Endpoint`` only.  Datagrams are built with
the real codec (and signed with the real ``sign`` when a key is given) and
go through the real ``NeighbourTable.datagram_received``; time moves by
:meth:`FakeEndpoint.advance`, which runs the table's real ``expire`` and the
real announcer (what it would send is kept in ``sent``).  The core's real
``Host`` builds it and gets its events, so Home Assistant's name is probed
and defended as on a link; the events reach the coordinator's real
handler, so what the tests see is what the integration does with real table
events, without root, sockets or network namespaces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any, ClassVar

from custom_components.linkname.protocol.announcer import Announcer
from custom_components.linkname.protocol.auth import Key, pseudo_header, sign
from custom_components.linkname.protocol.codec import Message, encode
from custom_components.linkname.protocol.const import ANNOUNCE, GOODBYE, GROUP, PORT
from custom_components.linkname.protocol.endpoint import Counters, EndpointError
from custom_components.linkname.protocol.table import (
    Event,
    Neighbour,
    NeighbourTable,
    RxMeta,
)

OWN_ADDRESS = "fe80::ee:1"
IFINDEX = 2


@dataclass
class FakePeer:
    """A neighbour that speaks through a fake endpoint."""

    endpoint: FakeEndpoint
    host_id: bytes
    name: str
    address: str
    key: Key | None = None
    boot_id: int = 1
    seq: int = 0
    ttl: int = 180
    extra: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)

    def message(self, mtype: int = ANNOUNCE, **fields: Any) -> Message:
        """The next message of this peer (next sequence number)."""
        self.seq += 1
        base: dict[str, Any] = {
            "type": mtype,
            "host_id": self.host_id,
            "boot_id": self.boot_id,
            "seq": self.seq,
        }
        if mtype == ANNOUNCE:
            base |= {
                "ttl": self.ttl,
                "name": self.name,
                "addresses": (self.address, *self.extra),
                **self.attributes,
            }
        return Message(**(base | fields))

    def announce(self, **fields: Any) -> list[Event]:
        """Announce (fields override the peer's own) and return the events."""
        return self.endpoint.receive(self.message(**fields), self.address, self.key)

    def goodbye(self) -> list[Event]:
        """Say goodbye."""
        return self.endpoint.receive(self.message(GOODBYE), self.address, self.key)


class FakeEndpoint:
    """Same interface as ``Endpoint`` as the coordinator uses it, no sockets.

    Class attributes configure the next instances: ``start_error`` makes
    ``start`` raise it, ``start_state`` is the state after starting.
    """

    instances: ClassVar[list[FakeEndpoint]] = []
    start_error: ClassVar[EndpointError | None] = None
    start_state: ClassVar[str] = "up"

    def __init__(
        self,
        interface: str,
        *,
        announcer: Announcer | None = None,
        table: NeighbourTable | None = None,
        key: Key | None = None,
        on_event: Callable[[Event], None] | None = None,
        on_state: Callable[[str], None] | None = None,
        **_: Any,
    ) -> None:
        self.interface = interface
        self.announcer = announcer
        self.table = table if table is not None else NeighbourTable()
        self.key = key
        self.on_event = on_event
        self.on_state = on_state
        self.counters = Counters()
        self.ifindex: int | None = None
        self.source: str | None = None
        self.addresses: tuple[str, ...] = ()
        self.running = False
        self.closed = 0
        self.announced = 0  # announce_now calls that were accepted
        self.names: list[str] = []  # set_name calls
        self.forgotten: list[bytes] = []
        self.sent: list[Message] = []  # what the announcer sent, in order
        self._state = "down"
        self._offset = 0.0  # advance() moves this endpoint's clock
        self._last_manual = float("-inf")
        FakeEndpoint.instances.append(self)

    # -- the interface of Endpoint -----------------------------------------

    @property
    def state(self) -> str:
        """ "up" or "down"."""
        return self._state

    def now(self) -> float:
        """This endpoint's monotonic clock: the loop's, moved by advance()."""
        import asyncio

        return asyncio.get_running_loop().time() + self._offset

    async def start(self) -> None:
        """Raise the configured error, or come up (or stay down)."""
        if FakeEndpoint.start_error is not None:
            raise FakeEndpoint.start_error
        self.running = True
        self.ifindex = IFINDEX
        if self.table.own_host_id is None and self.announcer is not None:
            self.table.own_host_id = self.announcer.host_id
        self.set_state(FakeEndpoint.start_state)
        if self.announcer is not None and self._state == "up":
            self.announcer.set_addresses((OWN_ADDRESS,), self.now())
            self.announcer.start(self.now())
            self._poll()

    async def close(self) -> None:
        """Stop (the real one says goodbye first)."""
        if self.announcer is not None:
            self.sent.extend(t.message for t in self.announcer.stop())
        self.running = False
        self.closed += 1
        self._state = "down"

    def announce_now(self) -> bool:
        """Accepted at most once per second while up and publishing."""
        if self.announcer is None or self._state != "up":
            return False
        now = time.monotonic()
        if now - self._last_manual < 1.0:
            return False
        self._last_manual = now
        self.announced += 1
        return True

    def set_name(self, name: str, now: float | None = None) -> None:
        """Announce under a new name."""
        if self.announcer is None:
            raise RuntimeError("no announcer")
        self.announcer.set_name(name, self.now() if now is None else now)
        self.names.append(name)

    def forget(self, host_id: bytes) -> None:
        """Remove a neighbour from the real table."""
        self.forgotten.append(host_id)
        self._dispatch(self.table.remove(host_id))

    async def resolve(self, name: str, wait: float = 1.0) -> list[Neighbour]:
        """The neighbours of the table that have ``name``."""
        return self.table.find(name)

    # -- what a test does --------------------------------------------------

    def peer(self, n: int, name: str, **kw: Any) -> FakePeer:
        """A peer with host ID ``n`` (16 bytes, big-endian), address fe80::n.

        ``n`` is the interface identifier too: an EUI-64 one gives a MAC.
        """
        address = str(IPv6Address((0xFE80 << 112) | n))
        return FakePeer(self, n.to_bytes(16, "big"), name, address, **kw)

    def receive(
        self, message: Message, source: str, key: Key | None = None
    ) -> list[Event]:
        """One datagram from ``source`` through the real table."""
        meta = RxMeta(source, PORT, GROUP, PORT, IFINDEX, 255)
        data = encode(message)
        wall_ms = time.time_ns() // 1_000_000
        if key is not None:
            data = sign(data, key, pseudo_header(source, PORT, GROUP, PORT), wall_ms)
        self.counters.received += 1
        events = self.table.datagram_received(data, meta, self.now(), wall_ms)
        self._dispatch(events)
        return events

    def advance(self, seconds: float) -> list[Event]:
        """Move this endpoint's clock and run the table's expiry."""
        self._offset += seconds
        events = self.table.expire(self.now())
        self._dispatch(events)
        self._poll()
        return events

    def _poll(self) -> None:
        """Run the announcer up to now, as the endpoint's timer would."""
        announcer, now = self.announcer, self.now()
        while announcer is not None and (due := announcer.next_deadline()) is not None:
            if due > now:
                break
            self.sent.extend(t.message for t in announcer.poll(due))

    def set_state(self, state: str) -> None:
        """The interface went up or down."""
        if state == self._state:
            return
        self._state = state
        self.source = OWN_ADDRESS if state == "up" else None
        self.addresses = (OWN_ADDRESS,) if state == "up" else ()
        if self.on_state is not None:
            self.on_state(state)

    def _dispatch(self, events: list[Event]) -> None:
        if self.on_event is not None:
            for event in events:
                self.on_event(event)

    @classmethod
    def reset(cls) -> Iterator[None]:
        """Forget the instances and configuration (fixture helper)."""
        cls.instances = []
        cls.start_error = None
        cls.start_state = "up"
        yield
        cls.instances = []
        cls.start_error = None
        cls.start_state = "up"
