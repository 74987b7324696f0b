"""Real ``linkname`` command processes in peer namespaces.

Output is read without threads (non-blocking pipes and ``select``), each
line stamped with the wall clock so it can be compared with Home
Assistant's timestamps.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.netns import Lab, Netns

LINKNAME = str(Path(sys.executable).with_name("linkname"))
INTERVAL = 5  # the shortest interval the command accepts: TTL 15 s


class Proc:
    """A ``linkname`` process; its output lines with their arrival time."""

    def __init__(self, popen: subprocess.Popen[str], spawned: float) -> None:
        self.popen = popen
        self.spawned = spawned
        self.out: list[tuple[float, str]] = []
        self.err: list[tuple[float, str]] = []
        self._streams: dict[int, tuple[Any, list[tuple[float, str]]]] = {}
        self._partial: dict[int, str] = {}
        for stream, sink in ((popen.stdout, self.out), (popen.stderr, self.err)):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            self._streams[stream.fileno()] = (stream, sink)
            self._partial[stream.fileno()] = ""

    def pump(self, timeout: float) -> None:
        """Read what the process wrote, waiting up to ``timeout`` seconds."""
        fds = [fd for fd, (stream, _) in self._streams.items() if not stream.closed]
        if not fds:
            time.sleep(timeout)
            return
        ready = select.select(fds, [], [], max(0.0, timeout))[0]
        now = time.time()
        for fd in ready:
            stream, sink = self._streams[fd]
            try:
                chunk = os.read(fd, 65536).decode()
            except BlockingIOError:
                continue
            if not chunk:
                stream.close()
                chunk = "\n" if self._partial[fd] else ""
            *lines, self._partial[fd] = (self._partial[fd] + chunk).split("\n")
            sink.extend((now, line) for line in lines if line)

    def events(self) -> list[tuple[float, dict[str, Any]]]:
        """The JSON lines of stdout (``watch --json``)."""
        return [(t, json.loads(line)) for t, line in self.out if line.startswith("{")]

    def wait_event(
        self,
        match: Callable[[dict[str, Any]], bool],
        limit: float = 5.0,
        after: int = 0,
    ) -> tuple[float, dict[str, Any]]:
        """The first JSON event (from index ``after``) matching ``match``."""
        deadline = time.monotonic() + limit
        while True:
            for stamp, event in self.events()[after:]:
                if match(event):
                    return stamp, event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching event in {self.events()}")
            self.pump(0.05)

    def wait_err(self, text: str, limit: float = 5.0) -> float:
        """When ``text`` first appeared on stderr."""
        deadline = time.monotonic() + limit
        while True:
            for stamp, line in self.err:
                if text in line:
                    return stamp
            if time.monotonic() > deadline or self.popen.poll() is not None:
                self.pump(0.05)
                raise TimeoutError(f"{text!r} not on stderr: {self.err}")
            self.pump(0.05)

    def stop(self, sig: int = signal.SIGTERM, limit: float = 5.0) -> int:
        """Signal the process group, collect the output; the exit status."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
        deadline = time.monotonic() + limit
        while self.popen.poll() is None and time.monotonic() < deadline:
            self.pump(0.05)
        status = self.popen.wait(max(0.1, deadline - time.monotonic()))
        for _ in range(20):
            if all(stream.closed for stream, _ in self._streams.values()):
                break
            self.pump(0.05)
        return status


class Peers:
    """Starts ``linkname`` processes and stops them (GOODBYE) afterwards."""

    def __init__(self, lab: Lab, state_dir: Path) -> None:
        self.lab = lab
        self.state_dir = state_dir
        self.procs: list[Proc] = []

    def start(self, ns: Netns, *args: str) -> Proc:
        """``linkname ARGS`` in ``ns``."""
        spawned = time.time()
        proc = Proc(ns.popen(LINKNAME, *args), spawned)
        self.procs.append(proc)
        return proc

    def announce(
        self, ns: Netns, name: str, *args: str, state: str | None = None
    ) -> Proc:
        """``linkname announce`` with a short interval; ``state`` names the
        host ID state file (same file, same host)."""
        state_file = self.state_dir / f"{state or name}.state"
        return self.start(
            ns, "announce", "--interface", "eth0", "--name", name,
            "--interval", str(INTERVAL), "--state-file", str(state_file), *args,
        )  # fmt: skip

    def watch(self, ns: Netns, *args: str) -> Proc:
        """``linkname watch --json``, returned once its interface is up."""
        proc = self.start(ns, "watch", "--interface", "eth0", "--json", *args)
        proc.wait_event(lambda e: e["event"] == "state" and e["state"] == "up")
        return proc

    def stop_all(self) -> None:
        """SIGTERM every process still running (they say GOODBYE)."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.stop(signal.SIGTERM)
        self.procs.clear()
