"""The receiving side of bench.ingest: the real Endpoint and NeighbourTable.

Started by bench.ingest inside the receiver's namespace, pinned to one CPU.
It answers one-line commands on stdin with one JSON line on stdout:
``snap`` (counters, kernel UDP counters, CPU time), ``samples`` (the
(time, received, cpu) samples taken every 50 ms since the last call),
``quit``.  Nothing here is timed per datagram: the endpoint runs as it does
in Home Assistant, with a trivial event callback.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import socket
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from linkname.endpoint import Endpoint
from linkname.table import Event, NeighbourTable

SNMP6_KEYS = ("Udp6InDatagrams", "Udp6InErrors", "Udp6RcvbufErrors")
SAMPLE_EVERY = 0.05


def snmp6() -> dict[str, int]:
    """The kernel's IPv6 UDP counters of this process's namespace."""
    out = {}
    for line in Path("/proc/net/snmp6").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key in SNMP6_KEYS:
            out[key] = int(value.strip())
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    events: Counter[str] = Counter()

    def on_event(event: Event) -> None:
        events[type(event).__name__] += 1

    table = NeighbourTable(capacity=args.capacity)
    endpoint = Endpoint(
        args.interface, table=table, on_event=on_event, query_on_up=False
    )
    await endpoint.start()
    # The endpoint has no option for the buffer size: the bench sets it here.
    rx = endpoint._rx
    assert rx is not None
    if args.rcvbuf:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    rcvbuf = rx.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    samples: list[tuple[float, int, float]] = []
    done = loop.create_future()

    def sample() -> None:
        samples.append((loop.time(), endpoint.counters.received, cpu_seconds()))
        loop.call_later(SAMPLE_EVERY, sample)

    def snap() -> dict[str, Any]:
        return {
            "time": loop.time(),
            "cpu": cpu_seconds(),
            "received": endpoint.counters.received,
            "os_errors": endpoint.counters.os_errors,
            "internal_errors": endpoint.counters.internal_errors,
            "accepted": table.accepted,
            "rejected": {r.value: n for r, n in table.rejected.items()},
            "table": len(table),
            "events": dict(events),
            "kernel": snmp6(),
            "rcvbuf": rcvbuf,
            "state": endpoint.state,
        }

    def on_command() -> None:
        line = sys.stdin.readline().strip()
        if line == "snap":
            reply: Any = snap()
        elif line == "samples":
            reply = list(samples)
            samples.clear()
        else:  # "quit" or EOF
            loop.remove_reader(sys.stdin.fileno())
            done.set_result(None)
            return
        print(json.dumps(reply), flush=True)

    loop.add_reader(sys.stdin.fileno(), on_command)
    sample()
    print(json.dumps({"ready": True, **snap()}), flush=True)
    await done
    await endpoint.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interface", default="eth0")
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--capacity", type=int, default=1024)
    parser.add_argument("--rcvbuf", type=int, default=0, help="0: kernel default")
    parser.add_argument("--profile", default="", help="write cProfile stats here")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            asyncio.run(serve(args))
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
