"""One host's linkname identity, on as many interfaces as it has.

A :class:`Host` owns what is the same on every interface (docs/PROTOCOL.md,
section 4.7): the host ID, one boot ID and one sequence space, the keys,
the table capacity, the name and the attributes.  It builds one
:class:`~linkname.endpoint.Endpoint` per interface, each with its own
neighbour table and announcer, all sharing that identity, and it decides
the host's name for all of them (:class:`~linkname.announcer.NameClaim`,
section 6.3): probe before the first announcement, keep the name against
newcomers, return to the configured name when its other holder has left.

Typical use (a daemon may add and remove interfaces at any time)::

    host = Host(host_id=load_or_create_host_id(), name="kitchen-pi",
                keys=[key], on_event=print)
    endpoint = host.add_interface("eth0")
    await endpoint.start()          # raises EndpointError
    ...
    await host.remove_interface("eth0")   # GOODBYE on eth0 only
    await host.close()                    # GOODBYE everywhere

Everything runs in the event loop of the endpoints; callbacks must not
block, and exceptions in them are logged by the endpoints, never raised.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from os import urandom
from types import MappingProxyType

from .announcer import (
    Announcer,
    NameClaim,
    SequenceSpace,
    new_boot_id,
    same_name,
    validate_attributes,
)
from .auth import Key, key_ring
from .const import DEFAULT_INTERVAL, GROUP, MAX_INTERVAL, MIN_INTERVAL, PORT
from .endpoint import CHECK_INTERVAL, Endpoint
from .state import HOST_ID_LEN
from .table import (
    DEFAULT_CAPACITY,
    Event,
    Joined,
    Left,
    Neighbour,
    NeighbourTable,
    Renamed,
)

_LOGGER = logging.getLogger(__name__)

# on_event(interface, event), on_state(interface, state),
# on_name(old_name, new_name, holder host ID or None)
EventCallback = Callable[[str, Event], None]
StateCallback = Callable[[str, str], None]
NameCallback = Callable[[str, str, bytes | None], None]


class Host:
    """A host's identity and its endpoints, one per interface.

    ``name`` None makes a listen-only host (``watch``, ``resolve``): it
    announces nothing and its QUERYs carry its host ID (random unless
    given).  ``rename`` False keeps the configured name in every conflict
    (it is still defended and conflicts are still logged; Home Assistant's
    choice, spec 6.3).  ``keys`` are all accepted; the first one signs.
    Two different keys with one key ID raise
    :class:`~linkname.auth.BadKeyError`.  ``clock`` is the monotonic clock
    of the event loop (``time.monotonic``, what asyncio uses).
    """

    def __init__(
        self,
        *,
        host_id: bytes | None = None,
        name: str | None = None,
        keys: Iterable[Key] = (),
        interval: float = DEFAULT_INTERVAL,
        model: str | None = None,
        os: str | None = None,
        software: str | None = None,
        manufacturer: str | None = None,
        capacity: int = DEFAULT_CAPACITY,
        boot_id: int | None = None,
        rng: random.Random | None = None,
        on_event: EventCallback | None = None,
        on_state: StateCallback | None = None,
        on_name: NameCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        rename: bool = True,
    ) -> None:
        host_id = urandom(HOST_ID_LEN) if host_id is None else host_id
        if len(host_id) != HOST_ID_LEN:
            raise ValueError(f"host_id must be {HOST_ID_LEN} bytes")
        key_list = list(keys)
        self.keys = key_ring(key_list)
        self.signing_key: Key | None = key_list[0] if key_list else None
        self.host_id = host_id
        self.boot_id = new_boot_id() if boot_id is None else boot_id
        self.sequence = SequenceSpace()
        self.capacity = capacity
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.on_event = on_event
        self.on_state = on_state
        self.on_name = on_name
        self.clock = clock
        self._endpoints: dict[str, Endpoint] = {}
        self._warned: set[bytes] = set()
        # A template announcer validates the interval, the name and the
        # attributes once (ValueError), and is the QUERY identity of
        # listen-only endpoints.
        self._template = Announcer(
            host_id=host_id,
            name=name or "linkname-query",
            interval=interval,
            model=model,
            os=os,
            software=software,
            manufacturer=manufacturer,
            boot_id=self.boot_id,
            sequence=self.sequence,
        )
        self.claim = (
            None
            if name is None
            else NameClaim(host_id, name, self.holders, rename=rename)
        )

    # -- identity ----------------------------------------------------------

    @property
    def name(self) -> str | None:
        """The name announced now (None for a listen-only host)."""
        return None if self.claim is None else self.claim.name

    @property
    def configured_name(self) -> str | None:
        """The name the host was given (``name`` may be ``NAME-N`` for now)."""
        return None if self.claim is None else self.claim.configured

    @property
    def interval(self) -> float:
        """Seconds between periodic announcements."""
        return self._template.interval

    def set_interval(self, interval: float) -> None:
        """Seconds between periodic announcements, on every interface.

        ValueError outside the allowed range (then nothing changes).  Each
        interface's next periodic ANNOUNCE already carries the new TTL (three
        intervals) and comes at the new interval after that.
        """
        if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
            raise ValueError(
                f"interval must be {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds"
            )
        for announcer in (self._template, *self._announcers()):
            announcer.interval = interval

    def set_name(self, name: str) -> str:
        """Configure another name; returns the name announced (maybe NAME-N)."""
        if self.claim is None:
            raise RuntimeError("a listen-only host has no name")
        old = self.claim.name
        new = self.claim.reconfigure(name, self.clock())
        self._apply(old, new, None)
        return new

    def set_attributes(
        self,
        *,
        model: str | None,
        os: str | None,
        software: str | None,
        manufacturer: str | None = None,
    ) -> None:
        """Change MODEL, OS, SOFTWARE, MANUFACTURER (None: not sent).

        ValueError if one is invalid (then nothing changes); the new values
        go out with the next ANNOUNCE of each interface.
        """
        validate_attributes(
            model=model, os=os, software=software, manufacturer=manufacturer
        )
        for announcer in (self._template, *self._announcers()):
            announcer.model, announcer.os = model, os
            announcer.software, announcer.manufacturer = software, manufacturer

    # -- interfaces --------------------------------------------------------

    @property
    def endpoints(self) -> MappingProxyType[str, Endpoint]:
        """The endpoints by interface name (read-only view)."""
        return MappingProxyType(self._endpoints)

    def add_interface(
        self,
        interface: str,
        *,
        query_on_up: bool = True,
        announce_other_addresses: bool = True,
        port: int = PORT,
        group: str = GROUP,
        check_interval: float = CHECK_INTERVAL,
        table: NeighbourTable | None = None,
    ) -> Endpoint:
        """Build the endpoint of ``interface`` (not started: ``await
        endpoint.start()``, which raises ``EndpointError``).

        Its announcer is new; host ID, boot ID, sequence numbers, keys and
        name are the host's.  Its table is new too, unless ``table`` is
        given: a table to keep across a restart of the interface (Home
        Assistant keeps its neighbours when the key changes).  That table
        takes the host's ID and keys; its capacity and away time stay as the
        caller set them.  ValueError if the interface is already added.
        """
        if interface in self._endpoints:
            raise ValueError(f"interface {interface!r} is already added")
        template = self._template
        announcer = None
        if self.claim is not None:
            announcer = Announcer(
                host_id=self.host_id,
                name=self.claim.name,
                interval=template.interval,
                model=template.model,
                os=template.os,
                software=template.software,
                manufacturer=template.manufacturer,
                rng=self.rng,
                boot_id=self.boot_id,
                sequence=self.sequence,
                decide_name=self._decide_name,
            )
        if table is None:
            table = NeighbourTable(
                own_host_id=self.host_id,
                keys=list(self.keys.values()),
                capacity=self.capacity,
            )
        else:
            table.own_host_id = self.host_id
            table.keys = dict(self.keys)

        def on_event(event: Event) -> None:
            self._on_event(interface, event)

        def on_state(state: str) -> None:
            if self.on_state is not None:
                self.on_state(interface, state)

        endpoint = Endpoint(
            interface,
            announcer=announcer,
            table=table,
            key=self.signing_key,
            on_event=on_event,
            on_state=on_state,
            query_on_up=query_on_up,
            announce_other_addresses=announce_other_addresses,
            port=port,
            group=group,
            check_interval=check_interval,
            querier=template,
        )
        self._endpoints[interface] = endpoint
        return endpoint

    async def remove_interface(self, interface: str) -> None:
        """Say GOODBYE on ``interface``, close and forget its endpoint.

        KeyError if it was not added.  The other interfaces carry on with
        the same identity (their sequence numbers continue) and announce at
        once, so that a receiver on a link shared with the removed interface
        takes the GOODBYE as a path lost, not the host gone, for long
        (section 4.7).
        """
        endpoint = self._endpoints.pop(interface)
        await endpoint.close()
        for other in self._endpoints.values():
            other.announce_now()

    async def close(self) -> None:
        """Remove every interface (GOODBYE on each)."""
        for interface in list(self._endpoints):
            await self.remove_interface(interface)

    # -- neighbours --------------------------------------------------------

    def _tables(self) -> Iterator[NeighbourTable]:
        return (endpoint.table for endpoint in self._endpoints.values())

    def _announcers(self) -> Iterator[Announcer]:
        for endpoint in self._endpoints.values():
            if endpoint.announcer is not None:
                yield endpoint.announcer

    def holders(self, name: str) -> list[bytes]:
        """Host IDs other than ours that announce ``name`` on any interface."""
        found: dict[bytes, None] = {}
        for table in self._tables():
            for neighbour in table.find(name):
                if neighbour.host_id != self.host_id:
                    found[neighbour.host_id] = None
        return list(found)

    def find(self, name: str) -> list[tuple[str, Neighbour]]:
        """(interface, neighbour) for every neighbour announcing ``name``.

        Interface by interface (in the order they were added), each table's
        holder of the name first (section 6.3: lookups prefer the holder).
        """
        return [
            (interface, neighbour)
            for interface, endpoint in self._endpoints.items()
            for neighbour in endpoint.table.find(name)
        ]

    # -- the name ----------------------------------------------------------

    def _decide_name(self, announcer: Announcer, now: float) -> str:
        """An interface's probe ended: the host-wide name (NameClaim.settle)."""
        assert self.claim is not None
        old = self.claim.name
        new = self.claim.settle(now)
        if new != old:
            holders = self.holders(old)
            self._apply(old, new, holders[0] if holders else None, skip=announcer)
        return new

    def _apply(
        self,
        old: str,
        new: str,
        holder: bytes | None,
        skip: Announcer | None = None,
    ) -> None:
        """Announce ``new`` on every interface (a burst where running)."""
        if new == old:
            return
        if holder is not None:
            _LOGGER.warning(
                "name %r is held by host %s: announcing %r", old, holder.hex(), new
            )
        else:
            _LOGGER.info("announcing %r (was %r)", new, old)
        now = self.clock()
        for endpoint in self._endpoints.values():
            announcer = endpoint.announcer
            if announcer is not None and announcer is not skip:
                endpoint.set_name(new, now)
        if self.on_name is not None:
            try:
                self.on_name(old, new, holder)
            except Exception:
                _LOGGER.exception("on_name callback failed")

    def _on_event(self, interface: str, event: Event) -> None:
        claim = self.claim
        if claim is not None:
            if isinstance(event, Joined | Renamed):
                neighbour = event.neighbour
                if same_name(neighbour.name, claim.name):
                    self._contested(interface, neighbour)
            if isinstance(event, Left | Renamed) and claim.name != claim.configured:
                gone = event.old_name if isinstance(event, Renamed) else None
                if same_name(gone or event.neighbour.name, claim.configured):
                    old = claim.name
                    new = claim.released(self.clock())
                    if new is not None:
                        self._apply(old, new, None)
        if self.on_event is not None:
            self.on_event(interface, event)

    def _contested(self, interface: str, other: Neighbour) -> None:
        """``other`` began announcing our name: yield (a tie) or defend."""
        assert self.claim is not None
        old = self.claim.name
        new = self.claim.contested(other.host_id, self.clock())
        if new is not None:
            self._apply(old, new, other.host_id)
            return
        if not self.claim.established:
            return  # still probing: the probe's end decides
        if other.host_id not in self._warned:
            if len(self._warned) > 1024:
                self._warned.clear()
            self._warned.add(other.host_id)
            _LOGGER.warning(
                "host %s on %s announces our name %r: keeping it",
                other.host_id.hex(),
                interface,
                old,
            )
        # Defend: re-announce at once (at most once per second), so that
        # listeners hear the holder next to the newcomer.
        self._endpoints[interface].announce_now()
