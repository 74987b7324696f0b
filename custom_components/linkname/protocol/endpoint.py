"""The asyncio I/O layer: one :class:`Endpoint` per interface (Linux-first).

It owns two UDP sockets (docs/PROTOCOL.md, section 3):

* rx: bound to ``[ff02::1:1%IF]:1903`` (SO_REUSEADDR + SO_REUSEPORT, so
  several programs on one host can listen), member of the group on the
  interface only (``IPV6_MULTICAST_ALL`` off);
* tx: bound to ``[::]:0``; sends to the group (or unicast answers) with hop
  limit 255 and ``IPV6_PKTINFO`` carrying the interface's link-local address,
  and receives the unicast answers to our QUERYs.

Both are read with ``recvmsg`` from ``loop.add_reader`` callbacks (asyncio
has no recvmsg transport), drained in bounded batches.  Datagrams go to the
:class:`~linkname.table.NeighbourTable`, QUERYs on to the
:class:`~linkname.announcer.Announcer`; one ``loop.call_at`` timer serves
both state machines' deadlines.  A check once per second follows the
interface (down/up, deleted and re-created, address changes, duplicate
address detection) and re-opens the sockets and re-announces when it is
usable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from . import netif
from .announcer import GOODBYE_SPACING, Announcer, Transmit
from .auth import Key, pseudo_header, sign
from .codec import EncodeError, Reason, encode, validate_name
from .const import GROUP, MAX_DATAGRAM, PORT
from .names import name_key
from .state import os_error_text
from .table import (
    AddressChanged,
    Event,
    Joined,
    Neighbour,
    NeighbourTable,
    Queried,
    Refreshed,
    Rejected,
    Renamed,
    RxMeta,
    Updated,
)

_LOGGER = logging.getLogger(__name__)

IPV6_MULTICAST_ALL: Final = getattr(socket, "IPV6_MULTICAST_ALL", 29)
BATCH: Final = 256  # datagrams read per wakeup and socket, at most
# ... and for at most this long (seconds): what the table's events start in
# the application (Home Assistant writes states, adds entities) runs inside
# the reader callback, so a burst must not hold the event loop for long.
BATCH_TIME: Final = 0.004
RECV_BUFFER: Final = 2048  # > MAX_DATAGRAM, so oversized datagrams are seen
# Receive buffer asked for on the group socket: a burst of ~1,000 answers to
# a QUERY (sent within 120 ms) fits while the application is busy.  The
# kernel caps it at net.core.rmem_max unless the process may force it.
RX_SOCKET_BUFFER: Final = 1 << 20
CHECK_INTERVAL: Final = 1.0
RESOLVE_RETRY: Final = 1.0  # re-send an unanswered QUERY after this long
RESOLVE_GRACE: Final = 0.15  # after the first answer, wait for more (dupes)
_PKTINFO = struct.Struct("@16sI")
_INT = struct.Struct("@i")
_ANC_BUFFER: Final = socket.CMSG_SPACE(_PKTINFO.size) + socket.CMSG_SPACE(_INT.size)
# sendmsg errors meaning the interface or its address changed: check at once.
_INTERFACE_ERRNOS: Final = frozenset(
    {
        errno.EADDRNOTAVAIL,
        errno.ENODEV,
        errno.ENXIO,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EINVAL,
    }
)

NO_INTERFACE: Final = "no_interface"
NO_LINK_LOCAL: Final = "no_link_local"
PORT_IN_USE: Final = "port_in_use"
PERMISSION_DENIED: Final = "permission_denied"

UP: Final = "up"
DOWN: Final = "down"

# Events after which a neighbour's current name is worth checking (resolve).
_NAMED_EVENTS: Final = (Joined, Updated, Renamed, AddressChanged, Refreshed)


class EndpointError(Exception):
    """The endpoint cannot start; ``code`` says why (for translations).

    Codes: ``no_interface``, ``no_link_local``, ``port_in_use``,
    ``permission_denied``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Counters:
    """What the endpoint did (the table counts accepted/rejected itself)."""

    received: int = 0  # datagrams read from either socket
    sent: int = 0  # datagrams handed to the kernel
    os_errors: int = 0  # failed recvmsg/sendmsg/socket setup
    internal_errors: int = 0  # exceptions caught in callbacks (bugs)


def parse_ancillary(
    ancdata: list[tuple[int, int, bytes]],
) -> tuple[str, int, int]:
    """Destination address, arrival ifindex and hop limit from ``recvmsg``.

    Missing items come back as ``("::", 0, -1)`` parts (see
    :func:`missing_control`): such a datagram cannot be checked and is
    dropped as ``missing_control`` (section 9.2).
    """
    destination, ifindex, hop_limit = "::", 0, -1
    for level, kind, data in ancdata:
        if level != socket.IPPROTO_IPV6:
            continue
        if kind == socket.IPV6_PKTINFO and len(data) >= _PKTINFO.size:
            packed, ifindex = _PKTINFO.unpack_from(data)
            destination = socket.inet_ntop(socket.AF_INET6, packed)
        elif kind == socket.IPV6_HOPLIMIT and len(data) >= _INT.size:
            hop_limit = _INT.unpack_from(data)[0]
    return destination, ifindex, hop_limit


def missing_control(ifindex: int, hop_limit: int) -> str | None:
    """What :func:`parse_ancillary` did not find, or None when complete."""
    missing = []
    if ifindex == 0:
        missing.append("IPV6_PKTINFO")
    if hop_limit < 0:
        missing.append("IPV6_HOPLIMIT")
    return " and ".join(missing) or None


def _bind_error(err: OSError, interface: str, what: str) -> EndpointError:
    """A socket error as a one-line :class:`EndpointError` naming the interface
    (its words, never a bare "[Errno 19]")."""
    text = os_error_text(err)
    if err.errno == errno.EADDRINUSE:
        return EndpointError(
            PORT_IN_USE,
            f"UDP port {PORT} is in use by a program that does not share it "
            f"(SO_REUSEADDR) ({what} on {interface})",
        )
    if err.errno in (errno.EACCES, errno.EPERM):
        return EndpointError(
            PERMISSION_DENIED, f"permission denied ({what} on {interface}): {text}"
        )
    if err.errno in (errno.ENODEV, errno.ENXIO):
        return EndpointError(
            NO_INTERFACE, f"no such interface: {interface} (vanished: {what})"
        )
    if err.errno == errno.EAFNOSUPPORT:
        return EndpointError(
            NO_LINK_LOCAL, f"IPv6 is not available ({what} on {interface}): {text}"
        )
    return EndpointError(
        PERMISSION_DENIED, f"cannot open UDP socket ({what} on {interface}): {text}"
    )


def open_rx_socket(ifindex: int, group: str = GROUP, port: int = PORT) -> socket.socket:
    """The group socket of one interface (raises OSError)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((group, port, 0, ifindex))
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        with contextlib.suppress(OSError):  # Linux only; elsewhere the default
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        _enlarge_receive_buffer(sock, RX_SOCKET_BUFFER)
    except BaseException:
        sock.close()
        raise
    return sock


def _enlarge_receive_buffer(sock: socket.socket, size: int) -> None:
    """Ask for a receive buffer of ``size`` bytes; never fails.

    SO_RCVBUFFORCE (root / CAP_NET_ADMIN) may exceed net.core.rmem_max;
    otherwise SO_RCVBUF, which the kernel caps there.  A smaller buffer only
    means more drops in bursts, so errors are ignored.
    """
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= size:
        return
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, force, size)
            return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def open_tx_socket(ifindex: int, hop_limit: int = 255) -> socket.socket:
    """The sending socket of one interface (raises OSError)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::", 0))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hop_limit)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hop_limit)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class Endpoint:
    """linkname on one interface: sockets, timers, table and announcer.

    ``announcer`` is optional: without one the endpoint only listens (and
    sends QUERYs, see :meth:`resolve`, from ``querier``: a never-started
    announcer holding the host's identity, by default a throw-away one).
    :class:`linkname.host.Host` builds endpoints that share one identity;
    this constructor stays for callers that wire one interface by hand.
    ``table`` defaults to a new :class:`NeighbourTable` that verifies with
    ``key``; a table passed in is used as is (its ``ifindex`` is kept up to
    date by the endpoint, its ``own_host_id`` filled in when unset).
    ``key`` signs everything sent.  Callbacks run in the event loop and
    must not block; exceptions in them are logged, never propagated.
    """

    def __init__(
        self,
        interface: str,
        *,
        announcer: Announcer | None = None,
        table: NeighbourTable | None = None,
        key: Key | None = None,
        on_event: Callable[[Event], None] | None = None,
        on_state: Callable[[str], None] | None = None,
        query_on_up: bool = True,
        announce_other_addresses: bool = True,
        port: int = PORT,
        group: str = GROUP,
        check_interval: float = CHECK_INTERVAL,
        querier: Announcer | None = None,
    ) -> None:
        self.interface = interface
        self.announcer = announcer
        # Without an announcer, QUERYs come from a passive identity that is
        # never started (it answers nothing): the table's own host ID if it
        # has one (so our QUERYs loop back as "looped"), else a random one.
        own = None if table is None else table.own_host_id
        self._querier = (
            announcer
            or querier
            or Announcer(host_id=own or os.urandom(16), name="linkname-query")
        )
        if table is None:
            table = NeighbourTable(keys=() if key is None else (key,))
        if table.own_host_id is None:
            table.own_host_id = self._querier.host_id
        self.table = table
        self.key = key
        self.on_event = on_event
        self.on_state = on_state
        self.query_on_up = query_on_up
        self.announce_other_addresses = announce_other_addresses
        self.port = port
        self.group = group
        self.check_interval = check_interval
        self.counters = Counters()
        self.ifindex: int | None = None
        self.source: str | None = None  # our link-local address while up
        self.addresses: tuple[str, ...] = ()
        self._state = DOWN
        self._was_up = False
        self._down_reason = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rx: socket.socket | None = None
        self._tx: socket.socket | None = None
        self._tx_port = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when: float | None = None
        self._checker: asyncio.Handle | None = None
        self._check_soon = False
        self._running = False
        self._closing = False
        self._up_event = asyncio.Event()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._logged_internal_error = False

    # -- public ------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "up" (usable link-local address, sockets open) or "down"."""
        return self._state

    @property
    def down_reason(self) -> str:
        """Why the endpoint is down (empty while up), for diagnostics."""
        return "" if self._state == UP else self._down_reason or "not started"

    @property
    def running(self) -> bool:
        """Started and not closed."""
        return self._running

    async def start(self) -> None:
        """Open the sockets and begin; raises :class:`EndpointError`.

        A link-local address that is still tentative (duplicate address
        detection) is fine: the endpoint comes up when it is usable.
        """
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        try:
            ifindex = netif.interface_index(self.interface)
        except netif.InterfaceError as err:
            text = os_error_text(err)
            if not text.startswith("invalid"):
                text = f"no such interface: {self.interface}"
            raise EndpointError(NO_INTERFACE, text) from None
        entries = [
            e
            for e in netif.link_local_addresses(netif.read_addresses(), self.interface)
            if not e.dadfailed
        ]
        if not entries:
            raise EndpointError(
                NO_LINK_LOCAL,
                f"interface {self.interface!r} has no IPv6 link-local address "
                "(IPv6 disabled, or the interface is down)",
            )
        self._open(ifindex)
        self._running = True
        self._check()

    async def close(self) -> None:
        """Say GOODBYE (twice, ~100 ms apart) and release everything."""
        if not self._running or self._closing:
            return
        self._closing = True
        self._cancel_timers()
        goodbyes = self.announcer.stop() if self.announcer is not None else []
        if goodbyes and self._state == UP:
            self._send(goodbyes[0])
            for transmit in goodbyes[1:]:
                await asyncio.sleep(GOODBYE_SPACING)
                self._send(transmit)
        self._cancel_timers()
        self._close_sockets()
        self._running = False
        self._state = DOWN
        self._up_event.clear()
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.cancel()
        self._waiters.clear()
        self._closing = False  # may be started again

    def announce_now(self) -> bool:
        """Announce at once (at most once per second); False if not possible."""
        if self.announcer is None or self._loop is None or self._state != UP:
            return False
        ok = self.announcer.announce_now(self._loop.time())
        self._reschedule()
        return ok

    def forget(self, host_id: bytes) -> None:
        """Remove a neighbour from the table (user action); it rejoins if heard.

        Its ``Left("removed")`` goes to ``on_event`` like every table event.
        """
        events = self.table.remove(host_id)
        if events:
            self._dispatch(events, self._loop.time() if self._loop else 0.0)
        self._reschedule()

    def set_name(self, name: str, now: float | None = None) -> None:
        """Announce under a new name (re-announced at once if running).

        ``now`` is the event loop's time (its default), or the same
        monotonic clock read by the caller.
        """
        if self.announcer is None:
            raise RuntimeError("no announcer")
        if now is None:
            now = 0.0 if self._loop is None else self._loop.time()
        self.announcer.set_name(name, now)
        self._reschedule()

    def query(self, name: str | None = None) -> bool:
        """Send one QUERY (None: everyone); False when it could not be sent."""
        if self._state != UP:
            return False
        return self._send(Transmit(self._querier.make_query(name)))

    async def resolve(
        self,
        name: str,
        timeout: float = 3.0,  # noqa: ASYNC109 - bounds the retries, not a cancel
    ) -> list[Neighbour]:
        """Neighbours announcing ``name``: from the table, else by QUERY.

        Waits (up to ``timeout`` seconds) for the interface to be usable,
        sends a QUERY for the name (again every second while unanswered) and
        returns every answer that arrives shortly after the first; an empty
        list when nobody answered.
        """
        validate_name(name)
        if not self._running or self._loop is None:
            raise RuntimeError("endpoint not started")
        hits = self.table.find(name)
        if hits:
            return hits
        loop = self._loop
        deadline = loop.time() + timeout
        folded = name_key(name)
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(folded, []).append(waiter)
        try:
            while (remaining := deadline - loop.time()) > 0:
                if self._state != UP:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(remaining):
                            await self._up_event.wait()
                    continue
                self.query(name)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(RESOLVE_RETRY, remaining)):
                        await asyncio.shield(waiter)
                if waiter.done():
                    grace = min(RESOLVE_GRACE, max(0.0, deadline - loop.time()))
                    await asyncio.sleep(grace)
                    break
        finally:
            waiters = self._waiters.get(folded, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(folded, None)
            if not waiter.done():
                waiter.cancel()
        return self.table.find(name)

    # -- sockets -----------------------------------------------------------

    def _open(self, ifindex: int) -> None:
        """Open both sockets on ``ifindex``; raises :class:`EndpointError`."""
        assert self._loop is not None
        try:
            rx = open_rx_socket(ifindex, self.group, self.port)
        except OSError as err:
            raise _bind_error(err, self.interface, "group socket") from None
        try:
            tx = open_tx_socket(ifindex)
        except OSError as err:
            rx.close()
            raise _bind_error(err, self.interface, "sending socket") from None
        self._rx, self._tx = rx, tx
        self._tx_port = tx.getsockname()[1]
        self.ifindex = ifindex
        self.table.ifindex = ifindex
        self._loop.add_reader(rx.fileno(), self._on_readable, rx, self.port)
        self._loop.add_reader(tx.fileno(), self._on_readable, tx, self._tx_port)

    def _close_sockets(self) -> None:
        for sock in (self._rx, self._tx):
            if sock is None:
                continue
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
        self._rx = self._tx = None

    def _on_readable(self, sock: socket.socket, local_port: int) -> None:
        """Reader callback: drain up to BATCH datagrams (BATCH_TIME); never raises."""
        try:
            self._drain(sock, local_port)
            self._reschedule()
        except Exception:
            self._internal_error("reading")

    def _drain(self, sock: socket.socket, local_port: int) -> None:
        assert self._loop is not None
        now = self._loop.time()
        wall_ms = time.time_ns() // 1_000_000
        clock = time.perf_counter
        stop = clock() + BATCH_TIME
        table = self.table
        counters = self.counters
        for _ in range(BATCH):
            try:
                data, ancdata, _flags, address = sock.recvmsg(RECV_BUFFER, _ANC_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                counters.os_errors += 1
                return
            counters.received += 1
            destination, ifindex, hop_limit = parse_ancillary(ancdata)
            missing = missing_control(ifindex, hop_limit)
            if missing is not None:
                # Not checkable (interface, hop limit, pseudo-header): drop.
                table.rejected[Reason.MISSING_CONTROL] += 1
                reject = Rejected(Reason.MISSING_CONTROL, address[0], missing)
                self._dispatch([reject], now)
                continue
            meta = RxMeta(
                address[0].split("%", 1)[0],
                address[1],
                destination,
                local_port,
                ifindex,
                hop_limit,
            )
            events = table.datagram_received(
                data[: MAX_DATAGRAM + 1], meta, now, wall_ms
            )
            if events:
                self._dispatch(events, now)
            if clock() > stop:
                return  # the rest on the next wake-up: the socket stays readable

    # -- events and timers -------------------------------------------------

    def _dispatch(self, events: list[Event], now: float) -> None:
        for event in events:
            if isinstance(event, Queried):
                if self.announcer is not None and self._state == UP:
                    self.announcer.query_received(event.message, event.meta, now)
            elif self._waiters and isinstance(event, _NAMED_EVENTS):
                for waiter in self._waiters.get(name_key(event.neighbour.name), ()):
                    if not waiter.done():
                        waiter.set_result(None)
            if self.on_event is not None:
                try:
                    self.on_event(event)
                except Exception:
                    self._internal_error("on_event callback")

    def _internal_error(self, where: str) -> None:
        self.counters.internal_errors += 1
        if not self._logged_internal_error:
            self._logged_internal_error = True
            _LOGGER.exception("%s: unexpected error in %s", self.interface, where)
        else:
            _LOGGER.debug("%s: unexpected error in %s", self.interface, where)

    def _cancel_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_when = None
        if self._checker is not None:
            self._checker.cancel()
        self._checker = None

    def _reschedule(self, floor: float | None = None) -> None:
        """(Re)arm the one timer at the earliest deadline of table/announcer."""
        if self._loop is None or self._closing or not self._running:
            return
        when = self.table.next_deadline()
        if self.announcer is not None and self._state == UP:
            due = self.announcer.next_deadline()
            if due is not None and (when is None or due < when):
                when = due
        if when is not None and floor is not None and when <= floor:
            when = floor + 0.01  # never spin on a deadline already served
        if when == self._timer_when and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = when
        self._timer = None if when is None else self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._timer = None
        self._timer_when = None
        now = self._loop.time()
        try:
            events = self.table.expire(now)
            if events:
                self._dispatch(events, now)
            if self.announcer is not None and self._state == UP:
                for transmit in self.announcer.poll(now):
                    self._send(transmit)
        except Exception:
            self._internal_error("timer")
        self._reschedule(floor=now)

    # -- sending -----------------------------------------------------------

    def _send(self, transmit: Transmit) -> bool:
        tx, source, ifindex = self._tx, self.source, self.ifindex
        if tx is None or source is None or ifindex is None:
            return False
        destination = transmit.destination or (self.group, self.port)
        try:
            data = encode(transmit.message)
            if self.key is not None:
                pseudo = pseudo_header(
                    source, self._tx_port, destination[0], destination[1]
                )
                data = sign(data, self.key, pseudo, time.time_ns() // 1_000_000)
        except (EncodeError, ValueError, OSError):
            self._internal_error("encoding")
            return False
        pktinfo = _PKTINFO.pack(socket.inet_pton(socket.AF_INET6, source), ifindex)
        try:
            tx.sendmsg(
                [data],
                [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)],
                0,
                (destination[0].split("%", 1)[0], destination[1], 0, ifindex),
            )
        except OSError as err:
            self.counters.os_errors += 1
            _LOGGER.debug("%s: send failed: %s", self.interface, err)
            if err.errno in _INTERFACE_ERRNOS:
                self._request_check()
            return False
        self.counters.sent += 1
        return True

    # -- following the interface -------------------------------------------

    def check_now(self) -> None:
        """Follow the interface at once: the caller saw a link or address
        change (rtnetlink), so a long ``check_interval`` is enough."""
        self._request_check()

    def _request_check(self) -> None:
        """Check the interface soon (a send said something changed)."""
        if self._loop is None or self._check_soon or self._closing:
            return
        self._check_soon = True
        if self._checker is not None:
            self._checker.cancel()
        self._checker = self._loop.call_soon(self._check)

    def _check(self) -> None:
        """Follow the interface; runs every ``check_interval`` seconds."""
        if self._loop is None or self._closing or not self._running:
            return
        self._check_soon = False
        try:
            self._follow()
        except Exception:
            self._internal_error("interface check")
        if not self._closing and self._running:
            self._checker = self._loop.call_later(self.check_interval, self._check)

    def _follow(self) -> None:
        assert self._loop is not None
        name = self.interface
        try:
            ifindex: int | None = netif.interface_index(name)
        except netif.InterfaceError:
            ifindex = None
        if ifindex is None:
            self._go_down("interface is gone", close=True)
            return
        if ifindex != self.ifindex:
            # Deleted and re-created: a new index, sockets must be re-made.
            self._go_down(f"interface re-created (index {ifindex})", close=True)
        if not netif.interface_is_up(name):
            self._go_down("interface is down (or has no carrier)", close=True)
            return
        entries = [e for e in netif.read_addresses() if e.ifindex == ifindex]
        source = netif.choose_link_local(entries, name, self.source)
        if source is None:
            dad = any(e.tentative for e in netif.link_local_addresses(entries, name))
            self._go_down(
                "link-local address is tentative (duplicate address detection)"
                if dad
                else "no usable IPv6 link-local address",
                close=False,
            )
            return
        addresses = [source]
        if self.announce_other_addresses:
            addresses += netif.other_addresses(entries, name)
            ipv4 = netif.ipv4_address(name)
            if ipv4 is not None:
                addresses.append(ipv4)
        self._go_up(ifindex, source, tuple(addresses[:16]))

    def _set_state(self, state: str) -> None:
        if state == self._state:
            return
        self._state = state
        if state == UP:
            self._up_event.set()
        else:
            self._up_event.clear()
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                self._internal_error("on_state callback")

    def _go_down(self, reason: str, *, close: bool) -> None:
        if close and (self._rx is not None or self._tx is not None):
            self._close_sockets()
        if self._state == UP:
            _LOGGER.warning("%s: down: %s; waiting for it", self.interface, reason)
        elif reason != self._down_reason:
            _LOGGER.debug("%s: still down: %s", self.interface, reason)
        self._down_reason = reason
        self.source = None
        self._set_state(DOWN)
        self._reschedule()

    def _go_up(self, ifindex: int, source: str, addresses: tuple[str, ...]) -> None:
        assert self._loop is not None
        if self._rx is None or ifindex != self.ifindex:
            self._close_sockets()
            try:
                self._open(ifindex)
            except EndpointError as err:
                self.counters.os_errors += 1
                if err.message != self._down_reason:
                    _LOGGER.debug("%s: cannot re-open: %s", self.interface, err)
                self._down_reason = err.message
                return
        now = self._loop.time()
        changed = addresses != self.addresses
        own_changed = changed or source != self.source
        self.source = source
        self.addresses = addresses
        # Our own datagrams loop back from these; our host ID from any other
        # address (another of our interfaces on this link) is own_host_id.
        if own_changed:
            self.table.own_addresses = {
                a.split("%", 1)[0]
                for a in (source, *addresses)
                if a.lower().startswith("fe80:")
            }
        announcer = self.announcer
        if self._state == UP:
            if changed:
                _LOGGER.info(
                    "%s: addresses changed to %s", self.interface, ", ".join(addresses)
                )
                if announcer is not None:
                    announcer.set_addresses(addresses, now)
            self._reschedule()
            return
        if self._was_up:
            _LOGGER.info("%s: back up, source %s", self.interface, source)
        else:
            _LOGGER.info("%s: up, source %s", self.interface, source)
        self._was_up = True
        self._down_reason = ""
        self._set_state(UP)
        if announcer is not None:
            announcer.set_addresses(addresses, now)
            if announcer.started:
                announcer.restart(now)
            else:
                announcer.start(now)
        elif self.query_on_up:
            self.query(None)
        self._reschedule()
