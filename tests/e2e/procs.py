"""Real ``linkname`` command processes in peer namespaces.

Output is read without threads (non-blocking pipes and ``select``), each
line stamped with the wall clock so it can be compared with Home
Assistant's timestamps.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from tests.netns import Lab, Netns
from tests.proc import Proc

LINKNAME = str(Path(sys.executable).with_name("linkname"))
INTERVAL = 5  # the shortest interval the command accepts: TTL 15 s


class Peers:
    """Starts ``linkname`` processes and stops them (GOODBYE) afterwards."""

    def __init__(self, lab: Lab, state_dir: Path) -> None:
        self.lab = lab
        self.state_dir = state_dir
        self.procs: list[Proc] = []

    def start(self, ns: Netns, *args: str) -> Proc:
        """``linkname ARGS`` in ``ns``."""
        spawned = time.time()  # wall time: compared with HA's timestamps
        proc = Proc(ns.popen(LINKNAME, *args), spawned, clock=time.time)
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
