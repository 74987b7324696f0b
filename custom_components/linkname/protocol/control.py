"""The daemon's control socket: line-delimited JSON over a Unix socket.

Path: ``RUNTIME_DIR/control`` (``/run/linkname/control`` by default).  The
socket file is mode 0666 in a directory of mode 0755, so every local user
may connect; what a caller may do is decided per request from the peer's
credentials (``SO_PEERCRED``), never from the file mode:

* anyone: ``status``, ``resolve``, ``watch`` (read-only);
* root (uid 0) only: commands registered as privileged (the daemon's
  ``announce`` and ``reload``), which change what the daemon does.

Protocol: the client sends one JSON object per line, ``{"cmd": NAME,
...}``; the server answers each with one JSON object per line carrying
``"ok"`` (and ``"error"`` when false) and ``"netns"``, the identity of the
daemon's network namespace (a client in another namespace must not use
that daemon's table).  ``watch`` answers once and then streams one JSON
object per line (table events) until the client goes.

A client cannot block or grow the daemon: requests are read by the event
loop without blocking; a line is at most :data:`MAX_LINE` bytes; a client
that sends nothing complete for :data:`IDLE_TIMEOUT` seconds, sends
:data:`MAX_ERRORS` bad requests, or lets more than :data:`MAX_WRITE_BUFFER`
bytes of answers pile up unread (a stalled ``watch``) is disconnected; at
most :data:`MAX_CLIENTS` connections are served at once, at most
:data:`MAX_PER_USER` of them for one user other than root, and one request
per connection runs at a time (a client that pipelines waits for itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

SOCKET_NAME = "control"
MAX_LINE = 4096
MAX_CLIENTS = 32
MAX_PER_USER = 8  # connections of one non-root uid: no user locks out root
MAX_ERRORS = 4
MAX_QUEUED = 8  # requests pipelined behind a running one
IDLE_TIMEOUT = 10.0  # seconds to send a complete request line
REQUEST_TIMEOUT = 15.0  # the longest a handler may run
MAX_WRITE_BUFFER = 256 * 1024
MAX_RESPONSE = 4 << 20  # what a client accepts in one line
_UCRED = struct.Struct("=iII")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlError(Exception):
    """The daemon could not be reached or answered with an error."""


@dataclass(slots=True)
class Command:
    """A request handler; ``privileged`` ones need a caller with uid 0."""

    handler: Handler
    privileged: bool = False


@dataclass(slots=True)
class ServerCounters:
    """What the control server saw (shown by ``status``)."""

    connections: int = 0
    requests: int = 0
    bad_requests: int = 0
    refused: int = 0  # over MAX_CLIENTS, or privileged without root
    dropped: int = 0  # disconnected: idle, too many errors, stalled reader


def netns_id(path: str = "/proc/thread-self/ns/net") -> str:
    """The calling thread's network namespace as ``dev:inode`` ("" if unknown)."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_dev}:{st.st_ino}"


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end (SO_PEERCRED), or None."""
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)


def _dumps(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class _Client(asyncio.Protocol):
    """One connection: reads lines, runs one request at a time, streams."""

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.uid: int | None = None
        self.buffer = bytearray()
        self.errors = 0
        self.watching = False
        self.busy: asyncio.Task[None] | None = None
        self.queue: list[bytes] = []  # lines received while busy (bounded)
        self.idle: asyncio.TimerHandle | None = None
        self.closed = False

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        server = self.server
        server.counters.connections += 1
        self.uid = peer_uid(transport.get_extra_info("socket"))
        mine = sum(1 for c in server.clients if c.uid == self.uid)
        if len(server.clients) >= MAX_CLIENTS or (
            self.uid != 0 and mine >= MAX_PER_USER
        ):
            server.counters.refused += 1
            self.send({"ok": False, "error": "too many clients"})
            self.close()
            return
        server.clients.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.buffer += data
        while (end := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            self._line(line)
            if self.gone():
                return
        if len(self.buffer) > MAX_LINE:
            self.server.counters.bad_requests += 1
            self.send({"ok": False, "error": f"request longer than {MAX_LINE} bytes"})
            self.drop("request too long")

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cleanup()

    def gone(self) -> bool:
        """Disconnected (or being disconnected)."""
        return self.closed

    # -- requests ----------------------------------------------------------

    def _arm_idle(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.idle = None
        if not self.watching and self.busy is None and not self.closed:
            loop = asyncio.get_running_loop()
            self.idle = loop.call_later(IDLE_TIMEOUT, self.drop, "idle")

    def _line(self, line: bytes) -> None:
        if self.busy is not None:
            if len(self.queue) >= MAX_QUEUED:
                self.drop("too many queued requests")
                return
            self.queue.append(line)
            return
        self.busy = asyncio.ensure_future(self._serve(line))
        self._arm_idle()

    async def _serve(self, line: bytes) -> None:
        try:
            await self._handle(line)
        finally:
            self.busy = None
        while self.queue and not self.closed and self.busy is None:
            self._line(self.queue.pop(0))
        self._arm_idle()

    def _bad(self, error: str) -> None:
        self.server.counters.bad_requests += 1
        self.errors += 1
        self.send({"ok": False, "error": error})
        if self.errors >= MAX_ERRORS:
            self.drop("too many bad requests")

    async def _handle(self, line: bytes) -> None:
        server = self.server
        if not line.strip():
            return
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):
            self._bad("not JSON")
            return
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            self._bad('not a request: {"cmd": NAME, ...} expected')
            return
        name = request["cmd"]
        if name == "watch":
            server.counters.requests += 1
            await self._watch(request)
            return
        command = server.commands.get(name)
        if command is None:
            allowed = ", ".join(sorted([*server.commands, "watch"]))
            self._bad(f"unknown command {name[:40]!r} (allowed: {allowed})")
            return
        if command.privileged and self.uid != 0:
            server.counters.refused += 1
            self.send({"ok": False, "error": f"permission denied: {name} needs root"})
            return
        server.counters.requests += 1
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                answer = await command.handler(request)
        except TimeoutError:
            self.send({"ok": False, "error": f"{name} timed out"})
            return
        except (ValueError, TypeError, KeyError) as err:
            self._bad(f"bad {name} request: {err}")
            return
        except Exception:
            _LOGGER.exception("control: %s failed", name)
            self.send({"ok": False, "error": f"{name} failed"})
            return
        self.send({"ok": True, **answer})

    async def _watch(self, request: dict[str, Any]) -> None:
        del request
        server = self.server
        self.watching = True
        self.send({"ok": True, "watching": True})
        if server.snapshot is not None:
            for item in server.snapshot():
                if not self.send(item):
                    return
        server.watchers.add(self)

    # -- output ------------------------------------------------------------

    def send(self, data: dict[str, Any]) -> bool:
        """Queue one line; drops the client whose unread output is too big."""
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return False
        transport.write(_dumps({**data, "netns": self.server.netns}))
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.drop("not reading its answers")
            return False
        return True

    def drop(self, why: str) -> None:
        """Disconnect at once (buffered output is discarded)."""
        if self.closed:
            return
        self.server.counters.dropped += 1
        _LOGGER.debug("control: dropping a client (uid %s): %s", self.uid, why)
        if self.transport is not None:
            self.transport.abort()
        self._cleanup()

    def close(self) -> None:
        """Close after the buffered output."""
        if self.transport is not None:
            self.transport.close()
        self._cleanup()

    def _cleanup(self) -> None:
        self.closed = True
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        if self.busy is not None:
            self.busy.cancel()
        self.server.clients.discard(self)
        self.server.watchers.discard(self)


@dataclass(slots=True)
class ControlServer:
    """The server side; :meth:`start` binds, :meth:`publish` streams to
    watchers, :meth:`close` unlinks the socket."""

    path: Path
    commands: dict[str, Command] = field(default_factory=dict)
    snapshot: Callable[[], list[dict[str, Any]]] | None = None
    netns: str = ""
    counters: ServerCounters = field(default_factory=ServerCounters)
    clients: set[_Client] = field(default_factory=set)
    watchers: set[_Client] = field(default_factory=set)
    _server: asyncio.AbstractServer | None = None
    _inode: int | None = None

    async def start(self) -> None:
        """Create the directory if needed and bind; OSError when the socket
        cannot be made, :class:`ControlError` when a live daemon holds it."""
        self.netns = self.netns or netns_id()
        directory = self.path.parent
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o755, parents=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._bind(sock)
            os.chmod(self.path, 0o666)  # noqa: S103 - access is checked per request
            sock.listen(16)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            self._server = await loop.create_unix_server(
                lambda: _Client(self), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        self._inode = os.stat(self.path).st_ino

    def _bind(self, sock: socket.socket) -> None:
        path = str(self.path)
        try:
            sock.bind(path)
            return
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
        # Something is there: a live daemon, or a socket left by a crash.
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            sock.bind(path)
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            pass  # stale
        except OSError as err:
            raise ControlError(f"{path}: {err.strerror}") from None
        else:
            raise ControlError(f"another linkname daemon is serving {path}")
        finally:
            probe.close()
        os.unlink(path)
        sock.bind(path)

    def publish(self, data: dict[str, Any]) -> None:
        """Send ``data`` to every watcher (a stalled one is dropped)."""
        for client in list(self.watchers):
            client.send(data)

    async def close(self) -> None:
        """Stop serving, disconnect everyone and remove the socket file."""
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            client.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._server.wait_closed()
            self._server = None
        # Only our own socket: another daemon may have replaced it since.
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        self._inode = None


# -- client ------------------------------------------------------------------


def socket_path(runtime_dir: Path) -> Path:
    """Where the daemon of ``runtime_dir`` listens."""
    return runtime_dir / SOCKET_NAME


async def _connect(
    path: Path,
    timeout: float,  # noqa: ASYNC109 - a bound on connecting, reported as such
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.open_unix_connection(str(path), limit=MAX_RESPONSE)
    except (OSError, TimeoutError) as err:
        raise ControlError(f"no daemon at {path}: {err}") from None


async def _read_line(reader: asyncio.StreamReader, path: Path) -> dict[str, Any]:
    try:
        line = await reader.readline()
    except (OSError, ValueError) as err:  # ValueError: line over the limit
        raise ControlError(f"{path}: {err}") from None
    if not line:
        raise ControlError(f"{path}: the daemon closed the connection")
    try:
        data = json.loads(line)
    except ValueError:
        raise ControlError(f"{path}: not JSON from the daemon") from None
    if not isinstance(data, dict):
        raise ControlError(f"{path}: unexpected answer from the daemon")
    own = netns_id()
    if own and data.get("netns") and data["netns"] != own:
        raise ControlError(f"{path}: the daemon runs in another network namespace")
    return data


async def request(
    path: Path,
    data: dict[str, Any],
    timeout: float = 5.0,  # noqa: ASYNC109 - covers connect, send and answer
) -> dict[str, Any]:
    """One request and its answer; ControlError if there is no daemon (or it
    is in another network namespace, or it refused)."""
    async with asyncio.timeout(timeout):
        reader, writer = await _connect(path, timeout)
        try:
            writer.write(_dumps(data))
            await writer.drain()
            answer = await _read_line(reader, path)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error", "the daemon refused")))
    return answer


class WatchStream:
    """The daemon's event stream: iterate for one dict per event (the
    snapshot first); ends when the daemon closes the connection."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: Path
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.path = path

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            item = await _read_line(self.reader, self.path)
        except ControlError:
            raise StopAsyncIteration from None
        item.pop("netns", None)
        return item

    async def aclose(self) -> None:
        """Disconnect."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def open_watch(
    path: Path,
    timeout: float = 5.0,  # noqa: ASYNC109 - covers connecting only
) -> WatchStream:
    """Subscribe to the daemon's events; ControlError if there is none."""
    async with asyncio.timeout(timeout):
        reader, writer = await _connect(path, timeout)
        try:
            writer.write(_dumps({"cmd": "watch"}))
            await writer.drain()
            first = await _read_line(reader, path)
        except BaseException:
            writer.close()
            raise
    if not first.get("ok"):
        writer.close()
        raise ControlError(str(first.get("error", "the daemon refused")))
    return WatchStream(reader, writer, path)
