"""Tests of the control socket (linkname.control): real Unix sockets."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.linkname.protocol import control
from custom_components.linkname.protocol.control import (
    Command,
    ControlError,
    ControlServer,
    netns_id,
    peer_uid,
    request,
    socket_path,
)

pytestmark = pytest.mark.usefixtures("unix_sockets")


class Backend:
    def __init__(self) -> None:
        self.announced = 0
        self.slow = asyncio.Event()

    async def status(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"status": {"neighbours": 3}}

    async def resolve(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["name"]
        if not isinstance(name, str):
            raise TypeError("name must be a string")
        return {"addresses": [f"fe80::1%eth0 ({name})"]}

    async def announce(self, req: dict[str, Any]) -> dict[str, Any]:
        self.announced += 1
        return {"announced": True}

    async def hang(self, req: dict[str, Any]) -> dict[str, Any]:
        await self.slow.wait()
        return {}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ControlServer, Backend]]:
    backend = Backend()
    server = ControlServer(
        socket_path(tmp_path / "run"),
        commands={
            "status": Command(backend.status),
            "resolve": Command(backend.resolve),
            "announce": Command(backend.announce, privileged=True),
            "hang": Command(backend.hang),
        },
        snapshot=lambda: [{"event": "joined", "name": "a"}],
    )
    await server.start()
    try:
        yield server, backend
    finally:
        await server.close()


async def raw(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(path))


async def answer(reader: asyncio.StreamReader) -> dict[str, Any]:
    async with asyncio.timeout(3):
        line = await reader.readline()
    data: dict[str, Any] = json.loads(line)
    return data


async def test_status_and_resolve(served: tuple[ControlServer, Backend]) -> None:
    server, _ = served
    assert oct(os.stat(server.path).st_mode & 0o777) == "0o666"
    status = await request(server.path, {"cmd": "status"})
    assert status["ok"] is True
    assert status["status"] == {"neighbours": 3}
    assert status["netns"] == netns_id()
    found = await request(server.path, {"cmd": "resolve", "name": "x"})
    assert found["addresses"] == ["fe80::1%eth0 (x)"]
    assert server.counters.requests == 2


async def test_privileged_command_as_root(
    served: tuple[ControlServer, Backend],
) -> None:
    server, backend = served
    if os.geteuid() != 0:
        with pytest.raises(ControlError, match="permission denied: announce"):
            await request(server.path, {"cmd": "announce"})
        assert backend.announced == 0
        return
    assert (await request(server.path, {"cmd": "announce"}))["announced"] is True
    assert backend.announced == 1


# The clients start as root and become nobody once their imports are done:
# the interpreter may sit in a checkout nobody can read (a 0700 clone).
_AS_NOBODY = "import os\nos.setgroups([])\nos.setgid(65534)\nos.setuid(65534)\n"

_HOG = (
    """
import json, socket, sys, time
"""
    + _AS_NOBODY
    + """
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(0.3)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"cmd": "status"}\\n')
print(s.makefile("rb").readline().decode().strip())
"""
)


def test_one_user_cannot_take_every_slot() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    backend = Backend()
    with tempfile.TemporaryDirectory(prefix="lnt-ctl-") as base:
        os.chmod(base, 0o755)
        path = socket_path(Path(base) / "run")

        async def main() -> tuple[dict[str, Any], dict[str, Any]]:
            server = ControlServer(path, commands={"status": Command(backend.status)})
            await server.start()
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    _HOG,
                    str(path),
                    str(control.MAX_PER_USER),
                    stdout=subprocess.PIPE,
                )
                reader = asyncio.ensure_future(proc.communicate())
                await asyncio.sleep(0.2)
                as_root = await request(path, {"cmd": "status"})  # still served
                out, _ = await asyncio.wait_for(reader, 10)
            finally:
                await server.close()
            return json.loads(out), as_root

        refused, as_root = asyncio.run(main())
    assert refused == {"ok": False, "error": "too many clients", "netns": netns_id()}
    assert as_root["ok"] is True
    assert backend.announced == 0


_CLIENT = (
    """
import json, socket, sys
"""
    + _AS_NOBODY
    + """
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile("rwb")
for cmd in ("announce", "status"):
    f.write(json.dumps({"cmd": cmd}).encode() + b"\\n")
    f.flush()
    print(f.readline().decode().strip())
"""
)


def test_non_root_may_read_but_not_change() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    backend = Backend()
    # A directory others can traverse (pytest's tmp_path is 0700).
    with tempfile.TemporaryDirectory(prefix="lnt-ctl-") as base:
        os.chmod(base, 0o755)
        path = socket_path(Path(base) / "run")

        async def main() -> list[dict[str, Any]]:
            server = ControlServer(
                path,
                commands={
                    "status": Command(backend.status),
                    "announce": Command(backend.announce, privileged=True),
                },
            )
            await server.start()
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    _CLIENT,
                    str(path),
                    stdout=subprocess.PIPE,
                )
                out, _ = await asyncio.wait_for(proc.communicate(), 10)
            finally:
                await server.close()
            return [json.loads(line) for line in out.decode().splitlines()]

        announce, status = asyncio.run(main())
    assert announce["ok"] is False
    assert announce["error"] == "permission denied: announce needs root"
    assert backend.announced == 0
    assert status["ok"] is True


def test_peer_uid() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        assert peer_uid(a) == os.getuid()
    assert peer_uid(None) is None


async def test_garbage_is_answered_counted_then_dropped(
    served: tuple[ControlServer, Backend],
) -> None:
    server, _ = served
    reader, writer = await raw(server.path)
    for line in (b"not json", b"[1, 2]", b'{"cmd": 5}', b'{"cmd": "rm -rf"}'):
        writer.write(line + b"\n")
    errors = [await answer(reader) for _ in range(4)]
    assert [e["ok"] for e in errors] == [False] * 4
    assert errors[0]["error"] == "not JSON"
    assert "unknown command 'rm -rf'" in errors[3]["error"]
    async with asyncio.timeout(3):
        assert await reader.read() == b""  # dropped after MAX_ERRORS
    writer.close()
    assert server.counters.bad_requests == 4
    assert server.counters.dropped == 1
    # The daemon still serves others.
    assert (await request(server.path, {"cmd": "status"}))["ok"]


async def test_bad_argument_is_an_error_not_a_crash(
    served: tuple[ControlServer, Backend],
) -> None:
    server, _ = served
    with pytest.raises(ControlError, match="bad resolve request"):
        await request(server.path, {"cmd": "resolve", "name": 5})
    with pytest.raises(ControlError, match="bad resolve request"):
        await request(server.path, {"cmd": "resolve"})


async def test_long_line_is_refused_without_buffering_it(
    served: tuple[ControlServer, Backend],
) -> None:
    server, _ = served
    reader, writer = await raw(server.path)
    writer.write(b"x" * (control.MAX_LINE + 10))
    reply = await answer(reader)
    assert "longer than 4096 bytes" in reply["error"]
    async with asyncio.timeout(3):
        assert await reader.read() == b""
    writer.close()


async def test_deep_json_is_refused(served: tuple[ControlServer, Backend]) -> None:
    server, _ = served
    reader, writer = await raw(server.path)
    writer.write(b"[" * 2000 + b"\n")
    reply = await answer(reader)
    assert reply["ok"] is False
    writer.close()


async def test_silent_client_is_dropped(
    served: tuple[ControlServer, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    monkeypatch.setattr(control, "IDLE_TIMEOUT", 0.2)
    reader, writer = await raw(server.path)
    writer.write(b'{"cmd": "sta')  # never finished
    started = time.monotonic()
    async with asyncio.timeout(3):
        assert await reader.read() == b""
    assert time.monotonic() - started < 2
    writer.close()
    assert server.clients == set()


async def test_slow_handler_blocks_only_its_client(
    served: tuple[ControlServer, Backend],
) -> None:
    server, backend = served
    reader, writer = await raw(server.path)
    writer.write(b'{"cmd": "hang"}\n{"cmd": "status"}\n')
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert (await request(server.path, {"cmd": "status"}))["ok"]
    assert time.monotonic() - started < 0.5
    backend.slow.set()
    assert (await answer(reader))["ok"]  # hang
    assert (await answer(reader))["status"]  # then the pipelined status
    writer.close()


async def test_watch_streams_snapshot_then_events(
    served: tuple[ControlServer, Backend],
) -> None:
    server, _ = served
    stream = await control.open_watch(server.path)
    first = await anext(stream)
    assert first == {"event": "joined", "name": "a"}
    server.publish({"event": "left", "name": "a"})
    assert await anext(stream) == {"event": "left", "name": "a"}
    await stream.aclose()


async def test_stalled_watcher_is_dropped_and_others_served(
    served: tuple[ControlServer, Backend],
) -> None:
    server, _ = served
    reader, writer = await raw(server.path)
    writer.write(b'{"cmd": "watch"}\n')
    assert (await answer(reader))["watching"]
    await asyncio.sleep(0.05)
    assert len(server.watchers) == 1
    blob = {"event": "x", "pad": "y" * 8000}
    for _ in range(200):  # 1.6 MB the client never reads
        server.publish(blob)
        if not server.watchers:
            break
    assert not server.watchers
    assert server.counters.dropped == 1
    assert (await request(server.path, {"cmd": "status"}))["ok"]
    writer.close()


async def test_too_many_clients(
    served: tuple[ControlServer, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    monkeypatch.setattr(control, "MAX_CLIENTS", 2)
    held = [await raw(server.path) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(ControlError, match="too many clients"):
        await request(server.path, {"cmd": "status"})
    assert server.counters.refused == 1
    for _, writer in held:
        writer.close()


async def test_other_network_namespace_is_not_used(
    served: tuple[ControlServer, Backend],
) -> None:
    server, _ = served
    server.netns = "0:1"
    with pytest.raises(ControlError, match="another network namespace"):
        await request(server.path, {"cmd": "status"})


async def test_socket_file_lifecycle(tmp_path: Path) -> None:
    path = socket_path(tmp_path)
    # A stale socket (its daemon died) is replaced.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    first = ControlServer(path)
    await first.start()
    # A live one is not taken over.
    with pytest.raises(ControlError, match="another linkname daemon"):
        await ControlServer(path).start()
    await first.close()
    assert not path.exists()
    with pytest.raises(ControlError, match="no daemon"):
        await request(path, {"cmd": "status"})
    path.write_text("not a socket")
    with pytest.raises(ControlError, match="not a socket"):
        await ControlServer(path).start()
