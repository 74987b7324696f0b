"""Same-name flood: the table's cost per call and its memory (issue 9, section 1).

    .venv/bin/python -m bench.conflicts [--sizes 1024,65536] [--rounds 5]
                                        [--compare REF]

An on-link host without the key announces N host IDs that all carry the name
"dup" (case varied: "dup", "DUP", "dUp", ...) from 100 source addresses,
paced so that the per-source limiter (10 new entries a minute) lets every one
in.  The same run repeats with N distinct names ("dup0", "dup1", ...) as the
baseline.  For each, one table of capacity N:

* joins: every ``datagram_received`` that creates an entry, timed one by one;
* goodbye: 100 GOODBYEs, each for the name's current holder (the worst case:
  the holder changes every time), through ``datagram_received``;
* remove: 100 ``remove`` calls, again of the current holder;
* expire: the rest expire one by one, as the endpoint's timer does
  (``expire(next_deadline())``; each call removes one entry), timed;
* expire all: a second table, filled the same way, expired by one call
  (``expire`` at a time after every deadline), timed as a whole; and again
  with ``expire(now, limit=256)`` called until nothing is due (the current
  table only), the longest of those calls;
* memory: ``tracemalloc`` peak and retained size of a third table while it
  is filled (the datagrams are encoded before tracing starts).

The figures are the longest single call per phase, in ms (wall clock, and
the CPU time of the thread, which leaves out preemption by other processes),
and the memory in MiB.  The machines are shared: a call can be preempted
for milliseconds, so each case runs ``--rounds`` times and the tables show
the median over the rounds of each round's longest call, and the worst
round; the JSON has all.
``--compare REF`` runs the same (one round) on the table of git ref REF
(only sizes up to 1,024: the old table needs O(N^2) time and memory).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from types import ModuleType
from typing import Any

from bench._common import import_core, write
from linkname import table as current_table
from linkname.codec import Message, encode
from linkname.const import ANNOUNCE, GOODBYE, GROUP, PORT

SOURCES = 100
TTL = 65535  # longer than the flood takes to get in (65,536 entries: ~66 min)
# The flood is paced at the limiter's rate: each source sends one new host ID
# every SOURCES * STEP seconds, a bit slower than its 10 tokens a minute.
STEP = 60.0 / (10 * SOURCES) * 1.01
SPELLINGS = ("dup", "DUP", "Dup", "dUp", "duP", "DUp", "dUP", "DuP")
GOODBYES = 100
REMOVES = 100
WALL_MS = 1_800_000_000_000


def host_id(n: int) -> bytes:
    return (n + 1).to_bytes(16, "big")


def source(n: int) -> str:
    return f"fe80::{n % SOURCES + 1:x}"


def flood(size: int, same: bool) -> list[tuple[bytes, Any, float]]:
    """The ANNOUNCE datagrams of the flood: (bytes, receive metadata, now)."""
    out = []
    for n in range(size):
        name = SPELLINGS[n % len(SPELLINGS)] if same else f"dup{n}"
        message = Message(
            ANNOUNCE, host_id(n), 7, 1, TTL, name=name, addresses=(source(n),)
        )
        out.append((encode(message), source(n), n * STEP))
    return out


# Full (generation 2) collections: they belong to the whole process (here
# mostly the pre-encoded datagrams), so calls that contain one are also
# reported apart.
_FULL_GC = [0]


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start" and info["generation"] == 2:
        _FULL_GC[0] += 1


gc.callbacks.append(_on_gc)


class Calls:
    """Durations of single calls (ns), and which contained a full collection.

    Each call is timed twice: wall clock (``perf_counter``) and the CPU time
    of this thread (``thread_time``).  On a shared machine the wall time of
    a call includes the time the kernel ran other processes in the middle of
    it (a scheduler slice is ~4 ms), the CPU time does not: it is the work
    the call itself did.
    """

    def __init__(self) -> None:
        self.times: list[int] = []
        self.cpu: list[int] = []
        self.with_gc: set[int] = set()
        self._collections = 0
        self._start = 0
        self._start_cpu = 0

    def start(self) -> None:
        self._collections = _FULL_GC[0]
        self._start_cpu = time.thread_time_ns()
        self._start = time.perf_counter_ns()

    def stop(self) -> None:
        self.times.append(time.perf_counter_ns() - self._start)
        self.cpu.append(time.thread_time_ns() - self._start_cpu)
        if _FULL_GC[0] != self._collections:
            self.with_gc.add(len(self.times) - 1)

    def summary(self) -> dict[str, float]:
        """Longest and median call in milliseconds."""
        values = self.times
        if not values:
            return {"calls": 0}
        clean = [v for i, v in enumerate(values) if i not in self.with_gc] or [0]
        clean_cpu = [v for i, v in enumerate(self.cpu) if i not in self.with_gc]
        return {
            "calls": len(values),
            "max_ms": max(values) / 1e6,
            "max_cpu_ms": max(self.cpu) / 1e6,
            "max_without_full_gc_ms": max(clean) / 1e6,
            "max_cpu_without_full_gc_ms": max(clean_cpu or [0]) / 1e6,
            "calls_with_full_gc": len(self.with_gc),
            "median_ms": statistics.median(values) / 1e6,
            "total_ms": sum(values) / 1e6,
            "total_cpu_ms": sum(self.cpu) / 1e6,
        }


def fill(
    module: ModuleType, datagrams: list[tuple[bytes, Any, float]], size: int
) -> tuple[Any, Calls, int]:
    """A table of capacity ``size`` fed the flood; per-call times, conflicts."""
    table = module.NeighbourTable(capacity=size)
    rx_meta = module.RxMeta
    calls = Calls()
    conflicts = 0
    for data, src, now in datagrams:
        rx = rx_meta(src, 40000, GROUP, PORT, 3, 255)
        calls.start()
        events = table.datagram_received(data, rx, now, WALL_MS)
        calls.stop()
        conflicts += sum(type(e).__name__ == "Conflict" for e in events)
    if len(table) != size:
        raise SystemExit(f"{len(table)} of {size} entries got in: {table.rejected}")
    return table, calls, conflicts


def holder_of(table: Any, name: str) -> Any:
    """The name's holder (the current table), else the lowest host ID (old)."""
    if hasattr(table, "holder"):
        return table.holder(name)
    found = table.find(name)
    return found[0] if found else None


def run(module: ModuleType, size: int, same: bool) -> dict[str, Any]:
    datagrams = flood(size, same)
    end = datagrams[-1][2]
    gc.collect()
    table, joins, conflicts = fill(module, datagrams, size)
    names = ["dup"] * GOODBYES if same else [f"dup{n}" for n in range(GOODBYES)]

    goodbyes = Calls()
    for i, name in enumerate(names):
        victim = holder_of(table, name)
        data = encode(Message(GOODBYE, victim.host_id, 7, 2))
        rx = module.RxMeta(victim.link_local, 40000, GROUP, PORT, 3, 255)
        goodbyes.start()
        table.datagram_received(data, rx, end + i, WALL_MS)
        goodbyes.stop()

    removes = Calls()
    names = ["dup"] * REMOVES if same else [f"dup{n}" for n in range(GOODBYES, 200)]
    for name in names:
        victim = holder_of(table, name)
        removes.start()
        table.remove(victim.host_id)
        removes.stop()

    expires = Calls()
    while (deadline := table.next_deadline()) is not None:
        expires.start()
        table.expire(deadline)
        expires.stop()
    del table
    gc.collect()

    other, _calls, _conflicts = fill(module, datagrams, size)
    gc.collect()
    expire_all = Calls()
    expire_all.start()
    left = other.expire(end + TTL + 1)
    expire_all.stop()
    if len(left) < size:
        raise SystemExit(f"expire all: {len(left)} events for {size} entries")
    del other, left
    gc.collect()

    batched = Calls()
    if "limit" in module.NeighbourTable.expire.__code__.co_varnames:
        other, _calls, _conflicts = fill(module, datagrams, size)
        gc.collect()
        while other.next_deadline() is not None:
            batched.start()
            other.expire(end + TTL + 1, limit=256)
            batched.stop()
        del other
        gc.collect()

    tracemalloc.start()
    try:
        traced, _calls, _conflicts = fill(module, datagrams, size)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del traced
    return {
        "entries": size,
        "names": "same" if same else "distinct",
        "conflict_events": conflicts,
        "join": joins.summary(),
        "goodbye": goodbyes.summary(),
        "remove": removes.summary(),
        "expire": expires.summary(),
        "expire_all": expire_all.summary(),
        "expire_all_256": batched.summary(),
        "memory_mib": current / 2**20,
        "peak_mib": peak / 2**20,
    }


PHASES = ("join", "goodbye", "remove", "expire", "expire_all", "expire_all_256")


def rounds(module: ModuleType, size: int, same: bool, count: int) -> dict[str, Any]:
    """``run`` ``count`` times: per phase the median and worst longest call."""
    runs = [run(module, size, same) for _ in range(count)]
    row: dict[str, Any] = {k: runs[0][k] for k in ("entries", "names")}
    row["conflict_events"] = max(r["conflict_events"] for r in runs)
    row["memory_mib"] = statistics.median(r["memory_mib"] for r in runs)
    row["peak_mib"] = statistics.median(r["peak_mib"] for r in runs)
    for phase in PHASES:
        if not runs[0][phase]["calls"]:
            continue
        longest = [r[phase]["max_ms"] for r in runs]
        clean = [r[phase]["max_without_full_gc_ms"] for r in runs]
        cpu = [r[phase]["max_cpu_ms"] for r in runs]
        row[phase] = {
            "median_max_ms": statistics.median(longest),
            "worst_max_ms": max(longest),
            "median_max_cpu_ms": statistics.median(cpu),
            "worst_max_cpu_ms": max(cpu),
            "median_max_without_full_gc_ms": statistics.median(clean),
            "calls": runs[0][phase]["calls"],
            "calls_with_full_gc": sum(r[phase]["calls_with_full_gc"] for r in runs),
        }
    row["rounds"] = runs
    return row


def report(label: str, rows: list[dict[str, Any]]) -> None:
    for clock in ("wall", "cpu"):
        table(f"{label}, {clock} time", rows, "" if clock == "wall" else "_cpu")
    by = {(r["entries"], r["names"]): r for r in rows}
    for (size, names), r in by.items():
        if names == "same" and (size, "distinct") in by:
            base = by[(size, "distinct")]
            print(
                f"{size}: memory same/distinct "
                f"{r['memory_mib'] / base['memory_mib']:.2f}, "
                f"peak {r['peak_mib'] / base['peak_mib']:.2f}"
            )


def table(label: str, rows: list[dict[str, Any]], kind: str) -> None:
    print(f"\n{label}")
    print(
        f"{'entries':>8} {'names':>8} {'join':>15} {'goodbye':>15} {'remove':>15} "
        f"{'expire':>15} {'expire all':>17} {'limit 256':>15} "
        f"{'MiB':>7} {'peak':>7} {'conflicts':>9}"
    )

    def both(phase: dict[str, float] | None) -> str:
        # median longest call / worst round
        if phase is None:
            return "-"
        median, worst = phase[f"median_max{kind}_ms"], phase[f"worst_max{kind}_ms"]
        return f"{median:.3f}/{worst:.3f}"

    for r in rows:
        print(
            f"{r['entries']:>8} {r['names']:>8} {both(r['join']):>15} "
            f"{both(r['goodbye']):>15} {both(r['remove']):>15} "
            f"{both(r['expire']):>15} {both(r['expire_all']):>17} "
            f"{both(r.get('expire_all_256')):>15} "
            f"{r['memory_mib']:>7.2f} {r['peak_mib']:>7.2f} {r['conflict_events']:>9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,65536")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", metavar="REF", help="also run git REF's table")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        "longest single call per phase, ms: median over the rounds / worst"
        f" round ({args.rounds} rounds); memory MiB (median)"
    )
    result: dict[str, Any] = {"sizes": sizes, "rounds": args.rounds, "current": []}
    for size in sizes:
        for same in (True, False):
            result["current"].append(rounds(current_table, size, same, args.rounds))
    report("current", result["current"])
    if args.compare:
        old = import_core(args.compare, "table")
        result["compare"] = {"ref": args.compare, "rows": []}
        for size in (s for s in sizes if s <= 1024):
            for same in (True, False):
                result["compare"]["rows"].append(rounds(old, size, same, 1))
        report(f"at {args.compare}", result["compare"]["rows"])
    write("conflicts", result)


if __name__ == "__main__":
    main()
