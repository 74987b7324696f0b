"""Scale in Home Assistant: 1,000 neighbours on one interface.

Run with ``.venv/bin/python -m bench.ha scale`` (not part of the tests).

* setup time of the config entry with 0 and with 1,000 restored neighbours
  (the Store pre-populated): the first setup (empty entity registry), then
  restarts (unload + setup, registry populated), as a distribution;
* memory per neighbour in the core NeighbourTable (tracemalloc);
* 1,000 neighbours joining at once, then re-announcing unchanged (several
  rounds): state writes (state_changed, state_reported) per neighbour and
  hour, and the longest event-loop callback while they announce.  Every
  callback the loop runs is timed (asyncio.events.Handle._run wrapped:
  what loop.slow_callback_duration reports in debug mode, without debug
  mode's own overhead).  The announcements come from another process in the
  peer namespace (bench._burst), each host from its own source address.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import cProfile
import gc
import io
import os
import pstats
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.const import STATE_HOME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from bench._burst import announcement, source
from bench._common import ROOT, percentiles, summary, write
from bench._ha import StateLog, add_sources
from bench._whatif import applied
from custom_components.linkname.const import DOMAIN, STORAGE_VERSION
from custom_components.linkname.protocol import codec
from custom_components.linkname.protocol.const import GROUP, PORT
from custom_components.linkname.protocol.table import NeighbourTable, RxMeta
from tests.conftest import HaLink, make_entry

pytestmark = pytest.mark.netns

HOSTS = int(os.environ.get("BENCH_HOSTS", "1000"))
RESTARTS = 5
STEADY_ROUNDS = 5
INTERVAL_S = 60.0  # the default announcement interval
COLLECT_BEFORE_SETUP = os.environ.get("BENCH_SETUP_COLLECT", "1") != "0"
RESULTS: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _write_results() -> Iterator[None]:
    with applied() as whatif:
        yield
    if RESULTS:
        debug = os.environ.get("BENCH_LOOP_DEBUG") == "1"
        name = "ha-scale" + "".join(f"-{w}" for w in whatif)
        name += "-loopdebug" if debug else ""
        write(name, {"hosts": HOSTS, "whatif": whatif, "loop_debug": debug, **RESULTS})


# -- helpers --------------------------------------------------------------------


def profiled(profiler: cProfile.Profile, top: int = 25) -> str:
    """Where a profiled callback's time went: the functions of the most
    cumulative time below the event loop's own frames, then by own time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(
        r"linkname|entity_platform|config_entries.py|device_registry|entity_registry",
        top,
    )
    stats.sort_stats("tottime").print_stats(12)
    return out.getvalue()


class CallbackTimer:
    """Times every callback the event loop runs (Handle._run)."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        # (took, of it in GC, CPU time, what) of the callbacks over 5 ms
        self.slow: list[tuple[float, float, float, str]] = []
        self.gc_pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self.without_gc: list[float] = []  # each callback minus GC inside it
        # CPU time of this thread in each callback: what the callback itself
        # cost, without the time other processes held the CPU (shared VM).
        self.cpu: list[float] = []
        # BENCH_PROFILE_SLOW_MS=N: every callback runs under cProfile (slower);
        # the top functions of those over N ms are kept.
        self.profiles: list[tuple[float, str]] = []
        self._gc_start = 0.0
        self._gc_total = 0.0

    def reset(self) -> None:
        self.durations.clear()
        self.slow.clear()
        self.gc_pauses.clear()
        self.without_gc.clear()
        self.cpu.clear()
        self.profiles.clear()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc_start
            self.gc_pauses.append((info["generation"], took))
            self._gc_total += took

    @contextlib.contextmanager
    def installed(self) -> Iterator[CallbackTimer]:
        orig = asyncio.events.Handle._run
        clock, cpu_clock = time.perf_counter, time.thread_time
        durations, slow, without_gc = self.durations, self.slow, self.without_gc
        cpu = self.cpu

        profile_over = float(os.environ.get("BENCH_PROFILE_SLOW_MS", "0")) / 1000

        def _run(handle: asyncio.Handle) -> None:
            gc_before = self._gc_total
            profiler = cProfile.Profile() if profile_over else None
            cpu_start = cpu_clock()
            start = clock()
            if profiler is None:
                orig(handle)
            else:
                profiler.runcall(orig, handle)
            took = clock() - start
            cpu_took = cpu_clock() - cpu_start
            cpu.append(cpu_took)
            if profiler is not None and took > profile_over:
                self.profiles.append((took, profiled(profiler)))
            in_gc = self._gc_total - gc_before
            durations.append(took)
            without_gc.append(took - in_gc)
            if took > 0.005:
                slow.append((took, in_gc, cpu_took, repr(handle)[:200]))

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        try:
            yield self
        finally:
            asyncio.events.Handle._run = orig  # type: ignore[method-assign]
            gc.callbacks.remove(self._on_gc)

    def report(self) -> dict[str, Any]:
        ms = [d * 1000 for d in self.durations]
        out: dict[str, Any] = percentiles(ms, (50, 99))
        out["callbacks"] = len(ms)
        out["max_without_gc"] = max(self.without_gc, default=0.0) * 1000
        out["max_cpu"] = max(self.cpu, default=0.0) * 1000
        out["over_20ms"] = sum(1 for d in ms if d > 20)
        pauses = sorted(self.gc_pauses, key=lambda p: p[1], reverse=True)
        out["gc"] = {
            "collections": len(pauses),
            "longest_ms": [
                {"generation": g, "ms": round(t * 1000, 2)} for g, t in pauses[:3]
            ],
        }
        out["slowest"] = [
            {
                "ms": round(d * 1000, 2),
                "gc_ms": round(g * 1000, 2),
                "cpu_ms": round(c * 1000, 2),
                "callback": r,
            }
            for d, g, c, r in sorted(self.slow, reverse=True)[:5]
        ]
        return out


def snmp6() -> dict[str, int]:
    """UDP counters of the namespace this thread is in (HA's)."""
    out = {}
    for line in Path("/proc/thread-self/net/snmp6").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key in ("Udp6InDatagrams", "Udp6RcvbufErrors"):
            out[key] = int(value)
    return out


class Burst:
    """bench._burst in the peer namespace: announces all hosts on request."""

    def __init__(self, link: HaLink) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = link.other.popen(
            sys.executable,
            "-m",
            "bench._burst",
            "--hosts",
            str(HOSTS),
            stdin=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )

    async def line(self) -> str:
        assert self.proc.stdout is not None
        return (await asyncio.to_thread(self.proc.stdout.readline)).strip()

    async def ready(self) -> None:
        got = await self.line()
        if got != "ready":
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"burst sender failed: {got!r} {err}")

    async def send(self, seq: int, spread_ms: float, what: str = "") -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{seq} {spread_ms} {what}\n")
        self.proc.stdin.flush()
        return float((await self.line()).split()[2])

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.close()
        self.proc.wait(5)


async def in_callback(hass: HomeAssistant, setup: Any, entry: Any) -> bool:
    """Run ``setup(entry_id)`` in a task started from a loop callback.

    (Started from the test's own task, its first stretch, eager, would run
    inside a task step that began before the callback timer was installed.)
    """
    done: asyncio.Future[bool] = hass.loop.create_future()

    def start() -> None:
        task = hass.async_create_task(setup(entry.entry_id))
        task.add_done_callback(lambda t: done.set_result(t.result()))

    hass.loop.call_soon(start)
    return await done


def trackers(hass: HomeAssistant) -> list[str]:
    return hass.states.async_entity_ids("device_tracker")


async def settle(
    hass: HomeAssistant, condition: Callable[[], bool], limit: float = 60
) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("did not settle")
        await asyncio.sleep(0.02)
    await hass.async_block_till_done()


async def all_leave(
    hass: HomeAssistant, burst: Burst, coordinator: Any, seq: int
) -> int:
    """GOODBYE from every host (again for any the socket buffer dropped)."""
    for _ in range(5):
        seq += 1
        await burst.send(seq, 100, "goodbye")
        with contextlib.suppress(TimeoutError):
            await settle(hass, lambda: coordinator.online_count() == 0, limit=3)
        if coordinator.online_count() == 0:
            return seq
    raise RuntimeError(f"{coordinator.online_count()} neighbours did not leave")


def written_by_kind(changed: list[tuple[float, str, str | None]]) -> dict[str, Any]:
    """State writes by kind of entity, and the most written single entities."""
    kinds: collections.Counter[str] = collections.Counter()
    entities: collections.Counter[str] = collections.Counter()
    for _stamp, entity_id, _state in changed:
        entities[entity_id] += 1
        if entity_id.startswith("device_tracker."):
            kinds["tracker"] += 1
        elif entity_id.endswith("_online_since"):
            kinds["online_since"] += 1
        else:
            kinds[entity_id] += 1
    return {"kinds": dict(kinds), "most": entities.most_common(3)}


def stored_neighbours(count: int) -> dict[str, Any]:
    now = time.time()
    neighbours = {}
    for n in range(count):
        host = (n + 1).to_bytes(16, "big").hex()
        neighbours[host] = {
            "host": host,
            "name": f"host-{n:04d}",
            "addresses": [
                f"fe80::200:5eff:fe{n // 256:02x}:{n % 256:02x}",
                f"fd00::{n + 1:x}",
            ],
            "model": "Raspberry Pi 5",
            "os": "Debian 13",
            "software": "linkname 0.1.0",
            "ttl": 180,
            "last_heard": now - 30,
            "since": now - 3600,
            "present": True,
            "signed": False,
        }
    return {"neighbours": neighbours}


# -- setup time with restored neighbours ------------------------------------------


@pytest.mark.parametrize("restored", [0, HOSTS])
async def test_setup_time(
    ha_link: HaLink,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    restored: int,
) -> None:
    entry = make_entry()
    entry.add_to_hass(hass)
    key = f"{DOMAIN}.{entry.entry_id}"
    hass_storage[key] = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": key,
        "data": stored_neighbours(restored),
    }
    harness_load = Store._async_load

    async def load(store: Store[Any]) -> Any:
        """The entry's store as Home Assistant loads a file: parsed in the
        executor.  (The harness deep-copies it in the loop: 8-10 ms for
        1,000 neighbours that a real start does not spend there.)"""
        if store.key != key:
            return await harness_load(store)
        return await hass.async_add_executor_job(
            copy.deepcopy, hass_storage[key]["data"]
        )

    times: list[float] = []
    timer = CallbackTimer()
    longest: list[float] = []
    longest_no_gc: list[float] = []
    longest_cpu: list[float] = []
    slowest: list[list[dict[str, Any]]] = []  # per attempt
    gcs: list[dict[str, Any]] = []
    for attempt in range(1 + RESTARTS):
        if attempt:
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
        # A restart is a fresh process: without this, the collector would
        # free the unloaded entry's 2,000 entities inside the timed setup
        # (BENCH_SETUP_COLLECT=0 shows that).
        if COLLECT_BEFORE_SETUP:
            gc.collect()
        timer.reset()
        with timer.installed(), patch.object(Store, "_async_load", load):
            start = time.perf_counter()
            assert await in_callback(hass, hass.config_entries.async_setup, entry)
            await hass.async_block_till_done()
            times.append((time.perf_counter() - start) * 1000)
        longest.append(max(timer.durations, default=0.0) * 1000)
        report = timer.report()
        for took, text in sorted(timer.profiles, reverse=True)[:2]:
            print(f"\n--- attempt {attempt}: callback of {took * 1000:.1f} ms")
            print(text)
        slowest.append(report["slowest"][:3])
        gcs.append(report["gc"])
        longest_no_gc.append(report["max_without_gc"])
        longest_cpu.append(report["max_cpu"])
        trackers = hass.states.async_entity_ids("device_tracker")
        assert len(trackers) == restored
        home = sum(1 for t in trackers if hass.states.get(t).state == STATE_HOME)  # type: ignore[union-attr]
        assert home == restored
    RESULTS[f"setup_ms_restored_{restored}"] = {
        "collect_before_setup": COLLECT_BEFORE_SETUP,
        "first": times[0],
        "restarts": summary(times[1:]),
        "longest_callback_ms": {"first": longest[0], "restarts": summary(longest[1:])},
        "longest_callback_without_gc_ms": {
            "first": longest_no_gc[0],
            "restarts": summary(longest_no_gc[1:]),
        },
        "longest_callback_cpu_ms": {
            "first": longest_cpu[0],
            "restarts": summary(longest_cpu[1:]),
        },
        "slowest_callbacks": slowest,
        "gc": gcs,
    }
    print(
        f"\nsetup with {restored} restored neighbours: first {times[0]:.0f} ms "
        f"(empty registries), restarts median {summary(times[1:])['median']:.0f} ms "
        f"of {RESTARTS} [{min(times[1:]):.0f} .. {max(times[1:]):.0f}]; "
        f"longest callback {summary(longest[1:])['median']:.0f} ms (median)"
    )
    print("  longest callback per setup (first, then restarts), ms:")
    print(f"    wall time:            {[round(x, 1) for x in longest]}")
    print(f"    wall without GC:      {[round(x, 1) for x in longest_no_gc]}")
    print(f"    CPU time (with GC):   {[round(x, 1) for x in longest_cpu]}")
    for attempt, slow in enumerate(slowest):
        for one in slow[:1]:
            print(
                f"    slowest of setup {attempt}: {one['ms']:.1f} ms "
                f"(GC {one['gc_ms']:.1f}, CPU {one['cpu_ms']:.1f}) {one['callback']}"
            )
    if f"setup_ms_restored_{HOSTS}" in RESULTS and "setup_ms_restored_0" in RESULTS:
        base = RESULTS["setup_ms_restored_0"]["restarts"]["median"]
        full = RESULTS[f"setup_ms_restored_{HOSTS}"]["restarts"]["median"]
        RESULTS["setup_ms_per_neighbour"] = (full - base) / HOSTS
        print(f"  per restored neighbour: {(full - base) / HOSTS:.2f} ms")
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


# -- memory of the core table --------------------------------------------------


def table_memory(datagrams: list[tuple[bytes, RxMeta]]) -> dict[str, int]:
    """Bytes allocated (by source file) to join ``datagrams`` into a table."""
    codec._BODIES.clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    table = NeighbourTable(capacity=max(1024, len(datagrams)), ifindex=2)
    for data, meta in datagrams:
        table.datagram_received(data, meta, 1.0, 0)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert len(table) == len(datagrams)
    by_file: dict[str, int] = {}
    for stat in after.compare_to(before, "filename"):
        name = Path(stat.traceback[0].filename).name
        by_file[name] = by_file.get(name, 0) + stat.size_diff
    return by_file


def test_core_table_memory_per_neighbour() -> None:
    datagrams = [
        (bytes(announcement(n)), RxMeta(source(n), 40000, GROUP, PORT, 2, 255))
        for n in range(HOSTS)
    ]
    with_cache = table_memory(datagrams)
    limit = codec.BODY_CACHE_MAX_BYTES
    codec.BODY_CACHE_MAX_BYTES = 0  # decode remembers nothing
    try:
        without_cache = table_memory(datagrams)
    finally:
        codec.BODY_CACHE_MAX_BYTES = limit
    total = sum(with_cache.values()) / HOSTS
    bare = sum(without_cache.values()) / HOSTS
    per = {k: v / HOSTS for k, v in with_cache.items() if abs(v) >= HOSTS}
    RESULTS["core_bytes_per_neighbour"] = {
        "total": total,
        "without_decode_cache": bare,
        "by_allocating_file": per,
    }
    print(
        f"\ncore table memory: {total:.0f} bytes per neighbour, of which the "
        f"decode cache {total - bare:.0f} (by allocating file: "
        f"{', '.join(f'{k} {v:.0f}' for k, v in sorted(per.items()))})"
    )


# -- 1,000 neighbours announcing at once: loop blocking, state writes ------------


async def test_announce_at_once(ha_link: HaLink, hass: HomeAssistant) -> None:
    add_sources(ha_link.other, [source(n) for n in range(HOSTS)])
    burst = Burst(ha_link)
    entry = make_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    timer = CallbackTimer()
    log = StateLog()
    result: dict[str, Any] = {}
    try:
        await burst.ready()
        with timer.installed():
            # 1. all join: spread over 100 ms as answers to a QUERY are (20 to
            # 120 ms), then again for any the socket buffer dropped.
            kernel = snmp6()
            timer.reset()
            seq = 1
            sends = []
            while True:
                sends.append(await burst.send(seq, 100))
                with contextlib.suppress(TimeoutError):
                    await settle(
                        hass, lambda: coordinator.online_count() >= HOSTS, limit=5
                    )
                if coordinator.online_count() >= HOSTS or seq >= 5:
                    break
                seq += 1
            await settle(
                hass,
                lambda: len(hass.states.async_entity_ids("device_tracker")) >= HOSTS,
            )
            after = snmp6()
            result["join"] = {
                "rounds": seq,
                "spread_ms": 100,
                "sender_seconds": sends,
                "kernel_dropped": after["Udp6RcvbufErrors"]
                - kernel["Udp6RcvbufErrors"],
                "callbacks_ms": timer.report(),
            }
            # 2. unchanged re-announcements: as fast as the sender can, and
            # spread over 100 ms; nothing may be written.
            detach = log.attach(hass)
            for spread in (0, 100):
                kernel = snmp6()
                timer.reset()
                changed_before, reported_before = len(log.changed), log.reported
                accepted = coordinator.table.accepted
                for _ in range(STEADY_ROUNDS):
                    seq += 1
                    await burst.send(seq, spread)
                    await asyncio.sleep(0.3)
                await hass.async_block_till_done()
                after = snmp6()
                heard = coordinator.table.accepted - accepted
                changed = len(log.changed) - changed_before
                reported = log.reported - reported_before
                result[f"steady_spread_{spread}ms"] = {
                    "rounds": STEADY_ROUNDS,
                    "announcements_accepted": heard,
                    "kernel_dropped": after["Udp6RcvbufErrors"]
                    - kernel["Udp6RcvbufErrors"],
                    "state_changed": changed,
                    "state_reported": reported,
                    "writes_per_neighbour_per_hour": (changed + reported)
                    / max(heard, 1)
                    * (3600 / INTERVAL_S),
                    "callbacks_ms": timer.report(),
                }
            # 3. all leave (GOODBYE), then all come back at once: known devices
            # arriving (entities exist; every tracker's state is written).
            seq = await all_leave(hass, burst, coordinator, seq)
            for spread in (0, 100):
                kernel = snmp6()
                timer.reset()
                changed_before = len(log.changed)
                seq += 1
                await burst.send(seq, spread)
                with contextlib.suppress(TimeoutError):
                    await settle(
                        hass, lambda: coordinator.online_count() >= HOSTS, limit=5
                    )
                after = snmp6()
                result[f"known_arrive_spread_{spread}ms"] = {
                    "arrived": coordinator.online_count(),
                    "kernel_dropped": after["Udp6RcvbufErrors"]
                    - kernel["Udp6RcvbufErrors"],
                    "state_changed": len(log.changed) - changed_before,
                    "state_changed_by_kind": written_by_kind(
                        log.changed[changed_before:]
                    ),
                    "callbacks_ms": timer.report(),
                }
                seq = await all_leave(hass, burst, coordinator, seq)
            detach()
    finally:
        burst.close()
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    RESULTS["announce_at_once"] = result
    for name, res in result.items():
        cb = res["callbacks_ms"]
        print(
            f"\n{name}: longest callback {cb['max']:.1f} ms "
            f"({cb['max_without_gc']:.1f} ms without GC pauses), "
            f"p99 {cb['p99']:.2f} ms "
            f"of {cb['callbacks']} callbacks, {cb['over_20ms']} over 20 ms; "
            f"kernel dropped {res['kernel_dropped']}"
        )
        for slow in cb["slowest"][:3]:
            print(
                f"    {slow['ms']:7.2f} ms (GC {slow['gc_ms']:.1f})"
                f"  {slow['callback'][:100]}"
            )
        print(f"    garbage collections: {cb['gc']}")
        if "arrived" in res:
            print(
                f"  arrived {res['arrived']}, state_changed {res['state_changed']}"
                f" {res['state_changed_by_kind']}"
            )
        elif "state_changed" in res:
            print(
                f"  {res['announcements_accepted']} unchanged announcements: "
                f"state_changed {res['state_changed']}, state_reported "
                f"{res['state_reported']} -> "
                f"{res['writes_per_neighbour_per_hour']:.3f} writes/neighbour/hour"
            )
