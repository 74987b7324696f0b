"""A real Home Assistant process in a namespace, and its HTTP/websocket API.

Home Assistant listens on 127.0.0.1:8123 of its own namespace.  The test
process reaches it by opening each connection inside that namespace
(``Netns.entered()``): the socket stays there, the rest of the test does not
move.  The clients are stdlib only (``http.client`` and a minimal RFC 6455
websocket client) so that no threads or event loops outlive a test.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.netns import Lab, Netns

HOST = "127.0.0.1"
PORT = 8123
CLIENT_ID = f"http://{HOST}:{PORT}/"
REDIRECT_URI = f"{CLIENT_ID}?auth_callback=1"
REPO = Path(__file__).resolve().parents[2]

# Only what the tests use: the HTTP API, auth and onboarding, config entries
# and flows, diagnostics, repairs, websocket.  (Home Assistant adds its
# default integrations anyway; the voice ones fail to set up without their
# packages, and analytics without IPv4 multicast: unrelated to linkname.)
CONFIGURATION = f"""\
homeassistant:
  name: linkname e2e
  time_zone: UTC

http:
  server_host: {HOST}
  server_port: {PORT}

api:
auth:
config:
diagnostics:
onboarding:
repairs:
websocket_api:

logger:
  default: warning
  logs:
    custom_components.linkname: debug
    homeassistant.config_entries: info
    homeassistant.components.analytics: critical
"""


class HassError(AssertionError):
    """Home Assistant did not do what a test waited for (with its log)."""


def timestamp(text: str) -> float:
    """Unix time of an ISO 8601 timestamp from Home Assistant."""
    return datetime.fromisoformat(text).timestamp()


def wait_until[T](
    probe: Callable[[], T | None],
    limit: float,
    what: str,
    *,
    step: float = 0.02,
    log: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; return that."""
    deadline = time.monotonic() + limit
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- home-assistant.log (tail) ---\n{log()}" if log else ""
            raise HassError(f"{what}: not reached within {limit} s{tail}")
        time.sleep(step)


class HomeAssistant:
    """``hass -c CONFIGDIR`` inside a namespace, started and stopped by a test."""

    def __init__(
        self,
        lab: Lab,
        ns: Netns,
        config_dir: Path,
        configuration: str = CONFIGURATION,
    ) -> None:
        self.lab = lab
        self.ns = ns
        self.config_dir = config_dir
        self.proc: subprocess.Popen[str] | None = None
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "configuration.yaml").write_text(configuration)
        link = config_dir / "custom_components"
        if not link.is_symlink():
            link.symlink_to(REPO / "custom_components", target_is_directory=True)

    @property
    def log_file(self) -> Path:
        """Home Assistant's own log (rotated to .1 at each start)."""
        return self.config_dir / "home-assistant.log"

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the log (or of the console output)."""
        for path in (self.log_file, self.config_dir / "console.log"):
            if path.exists() and path.stat().st_size:
                text = path.read_text(errors="replace")
                return "\n".join(text.splitlines()[-lines:])
        return "(no log yet)"

    def log_text(self) -> str:
        """The whole log of the current run."""
        return (
            self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        )

    def start(self, *command: str) -> float:
        """Spawn hass in the namespace; returns the (wall clock) spawn time.

        ``command`` replaces the default ``hass -c CONFIG --skip-pip``.
        """
        assert self.proc is None or self.proc.poll() is not None
        hass = Path(sys.executable).with_name("hass")
        console = (self.config_dir / "console.log").open("a")
        spawned = time.time()
        # --skip-pip: the namespace has no way to PyPI; what HA needs is
        # installed by scripts/setup (home-assistant-frontend is pinned there).
        self.proc = self.ns.popen(
            *(command or (str(hass), "-c", str(self.config_dir), "--skip-pip")),
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        console.close()
        return spawned

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        """The process ID of the running hass."""
        assert self.proc is not None
        return self.proc.pid

    def stop(self, limit: float = 30.0) -> float:
        """SIGTERM (Home Assistant stops cleanly); seconds it took."""
        started = time.monotonic()
        if self.proc is not None:
            self.lab.stop(self.proc, timeout=limit)
        return time.monotonic() - started


class Api:
    """Home Assistant's REST API (and websocket API) from the test process."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.token: str | None = None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
        with self.hass.ns.entered():
            conn.connect()
        return conn

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        """One request; (status, decoded JSON or text)."""
        headers = {}
        data: bytes | None = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = self._connect(timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        text = raw.decode(errors="replace")
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(text)
        return response.status, text

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """A request that must succeed (2xx); its decoded body."""
        status, data = self.request(method, path, body, **kw)
        if not 200 <= status < 300:
            raise HassError(
                f"{method} {path} -> {status}: {data}\n"
                f"--- home-assistant.log (tail) ---\n{self.hass.log_tail()}"
            )
        return data

    def get(self, path: str) -> Any:
        """GET that must succeed."""
        return self.call("GET", path)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        """POST that must succeed."""
        return self.call("POST", path, body, **kw)

    def ping(self, timeout: float = 5.0) -> float:
        """Seconds for an authenticated GET /api/ (the API is responsive)."""
        started = time.monotonic()
        status, data = self.request("GET", "/api/", timeout=timeout)
        took = time.monotonic() - started
        if status != 200 or data != {"message": "API running."}:
            raise HassError(f"GET /api/ -> {status}: {data}")
        return took

    def up(self) -> bool:
        """True when the HTTP server answers (any status)."""
        try:
            self.request("GET", "/api/onboarding", timeout=2.0)
        except OSError:
            return False
        return True

    def onboard(self, username: str, password: str) -> dict[str, Any]:
        """Onboarding as the frontend does it; sets ``token``, returns tokens.

        The user, a token, analytics and the integration step (the frontend's
        core_config step would start flows that need the internet: left out).
        """
        user = self.post(
            "/api/onboarding/users",
            {
                "client_id": CLIENT_ID,
                "name": "End To End",
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        tokens: dict[str, Any] = self.post(
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": user["auth_code"],
                "client_id": CLIENT_ID,
            },
        )
        self.token = tokens["access_token"]
        self.post("/api/onboarding/analytics", {})
        self.post(
            "/api/onboarding/integration",
            {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI},
        )
        return tokens

    # -- states ------------------------------------------------------------

    def states(self) -> list[dict[str, Any]]:
        """Every entity state."""
        result: list[dict[str, Any]] = self.get("/api/states")
        return result

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """One entity's state, None when it does not exist."""
        status, data = self.request("GET", f"/api/states/{entity_id}")
        if status == 404:
            return None
        if status != 200:
            raise HassError(f"GET state {entity_id} -> {status}: {data}")
        result: dict[str, Any] = data
        return result

    def trackers(self) -> dict[str, dict[str, Any]]:
        """linkname device trackers by announced name (``host_name``)."""
        out: dict[str, dict[str, Any]] = {}
        for state in self.states():
            attrs = state["attributes"]
            if (
                state["entity_id"].startswith("device_tracker.")
                and "host_name" in attrs
            ):
                if attrs["host_name"] in out:
                    raise HassError(f"two trackers for {attrs['host_name']}")
                out[attrs["host_name"]] = state
        return out

    # -- config entries and flows -------------------------------------------

    def entries(self, domain: str = "linkname") -> list[dict[str, Any]]:
        """The config entries of ``domain``."""
        result: list[dict[str, Any]] = self.get(
            f"/api/config/config_entries/entry?domain={domain}"
        )
        return result

    def entry(self, entry_id: str) -> dict[str, Any]:
        """One config entry (state, reason...)."""
        for entry in self.entries():
            if entry["entry_id"] == entry_id:
                return entry
        raise HassError(f"no config entry {entry_id}")

    def diagnostics(self, entry_id: str) -> dict[str, Any]:
        """The integration's diagnostics of an entry (``data`` part)."""
        data = self.get(f"/api/diagnostics/config_entry/{entry_id}")
        result: dict[str, Any] = data["data"]
        return result

    # -- websocket -----------------------------------------------------------

    @contextmanager
    def websocket(self) -> Iterator[WebSocket]:
        """An authenticated websocket connection."""
        assert self.token is not None
        with self.hass.ns.entered():
            sock = socket.create_connection((HOST, PORT), timeout=10.0)
        ws = WebSocket(sock)
        try:
            ws.handshake(self.token)
            yield ws
        finally:
            ws.close()

    def ws(self, kind: str, **fields: Any) -> Any:
        """One websocket command on a short-lived connection; its result."""
        with self.websocket() as ws:
            return ws.call(kind, **fields)


class WebSocket:
    """A minimal RFC 6455 client: text frames, masking, ping/pong, close."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self._id = 0
        self.events: dict[int, list[Any]] = defaultdict(list)

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def handshake(self, token: str) -> None:
        """Upgrade to a websocket and authenticate."""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /api/websocket HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise HassError(f"websocket upgrade refused: {head!r}")
        assert self.recv()["type"] == "auth_required"
        self.send({"type": "auth", "access_token": token})
        reply = self.recv()
        if reply["type"] != "auth_ok":
            raise HassError(f"websocket auth failed: {reply}")

    def _fill(self, timeout: float = 10.0) -> None:
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("websocket closed by Home Assistant")
        self._buffer += chunk

    def _take(self, size: int, timeout: float) -> bytes:
        while len(self._buffer) < size:
            self._fill(timeout)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        self._frame(0x1, json.dumps(message).encode())

    def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next JSON message (control frames handled on the way)."""
        message = b""
        while True:
            first, second = self._take(2, timeout)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._take(2, timeout))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._take(8, timeout))[0]
            payload = self._take(size, timeout)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("websocket closed by Home Assistant")
            if opcode == 0x9:
                self._frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1):
                message += payload
                if first & 0x80:
                    result: dict[str, Any] = json.loads(message)
                    return result

    def call(self, kind: str, **fields: Any) -> Any:
        """Send a command and wait for its result (events are kept aside)."""
        self._id += 1
        ident = self._id
        self.send({"id": ident, "type": kind, **fields})
        while True:
            message = self.recv()
            if message.get("type") == "event":
                self.events[message["id"]].append(message["event"])
                continue
            if message.get("id") == ident and message.get("type") == "result":
                if not message["success"]:
                    raise HassError(f"{kind} failed: {message['error']}")
                return message.get("result")

    def subscribe(self, kind: str, **fields: Any) -> int:
        """Start a subscription; its id (events land in ``events[id]``)."""
        self.call(kind, **fields)
        return self._id

    def drain(self, quiet: float = 0.2) -> None:
        """Read every message until nothing arrives for ``quiet`` seconds."""
        while self._buffer or select.select([self.sock], [], [], quiet)[0]:
            message = self.recv()
            if message.get("type") == "event":
                self.events[message["id"]].append(message["event"])
