"""A child process whose output is collected line by line, with timestamps.

Used for real `linkname` processes by the command's tests and by the
end-to-end suite.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any


class Proc:
    """A process; its output lines with their arrival time, read without threads.

    ``clock`` stamps the lines (monotonic by default; the end-to-end suite
    uses wall time to compare with Home Assistant's state timestamps).
    """

    def __init__(
        self,
        popen: subprocess.Popen[str],
        spawned: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.popen = popen
        self.clock = clock
        self.spawned = clock() if spawned is None else spawned
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
        now = self.clock()
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

    def err_lines(self, text: str) -> list[str]:
        """The stderr lines that contain ``text``."""
        return [line for _, line in self.err if text in line]
