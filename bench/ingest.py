"""Ingest: announcements per second through the real endpoint and table.

    .venv/bin/python -m bench.ingest [--seconds 5] [--rcvbuf BYTES] [--compare REF]

Two namespaces joined by a veth pair.  The receiver (bench._ingest_rx, one
process pinned to CPU 0) runs the real asyncio Endpoint with a
NeighbourTable of capacity 1024, exactly as Home Assistant does.  The
blaster (this process, pinned to CPU 1) sends pre-encoded ANNOUNCEs with
plain send() on connected sockets, one per source address: the blaster's
interface has 1024 extra link-local addresses, so every host has its own
source (the table limits new entries per source).  Only the sequence number
is patched into each datagram before it is sent.

Phases, each measured from the receiver's own samples (every 50 ms) and the
kernel's UDP counters of the receiver's namespace (/proc/net/snmp6):
  steady-max   1,000 pre-joined hosts re-announcing, as fast as possible
  steady-50k   the same, paced at 50,000 datagrams/s
  flood-max    table full (1,024), new host IDs and names, as fast as possible
  flood-50k    the same, paced at 50,000 datagrams/s
The goal: >= 50,000 datagrams/s on one core with no loss in the steady case.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench._common import OUT_DIR, ROOT, export_core, write
from linkname.codec import Message, encode
from linkname.const import ANNOUNCE, GROUP, PORT
from tests.netns import Lab, Netns

HOSTS = 1000
CAPACITY = 1024
FLOOD_DATAGRAMS = 50_000
BURST = 50
RX_CPU, TX_CPU = 0, 1
PHASES = ["steady-max", "steady-50k", "flood-max", "flood-50k"]
_SEQ = struct.Struct("!I")


def source(n: int) -> str:
    return f"fe80::a:{n + 1:x}"


def host_message(n: int, seq: int) -> Message:
    return Message(
        ANNOUNCE,
        (n + 1).to_bytes(16, "big"),
        1,
        seq,
        ttl=180,
        name=f"host-{n:04d}",
        addresses=(source(n), f"fd00::{n + 1:x}", f"10.0.{n // 256}.{n % 256}"),
    )


def flood_message(k: int, src: int) -> bytes:
    return encode(
        Message(
            ANNOUNCE,
            (0xF0 << 120 | k).to_bytes(16, "big"),
            1,
            1,
            ttl=180,
            name=f"flood-{k:06d}",
            addresses=(source(src), f"fd00::f:{k:x}"),
        )
    )


class Receiver:
    """The receiver process and its one-line JSON protocol."""

    def __init__(
        self, ns: Netns, lab: Lab, rcvbuf: int, profile: str, core: Path | None
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "bench._ingest_rx",
            "--cpu",
            str(RX_CPU),
            "--capacity",
            str(CAPACITY),
            "--rcvbuf",
            str(rcvbuf),
        ]
        if profile:
            cmd += ["--profile", profile]
        # With ``core``, that copy of `linkname` wins over the editable install.
        path = [str(ROOT)] if core is None else [str(core), str(ROOT)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        self.proc = ns.popen(*cmd, stdin=subprocess.PIPE, cwd=ROOT, env=env)
        self.lab = lab
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"receiver did not start: {ready}")
        self.ready = ready

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"receiver exited: {err}")
        return json.loads(line)

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def settle(self, limit: float = 10.0) -> dict[str, Any]:
        """Wait until the receiver has read everything queued; its snapshot."""
        last = self.ask("snap")
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.ask("snap")
            if now["received"] == last["received"]:
                return now  # type: ignore[no-any-return]
            last = now
        return last  # type: ignore[no-any-return]

    def quit(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def open_sender(address: str, ifindex: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    sock.bind((address, 0, 0, ifindex))
    sock.connect((GROUP, PORT, 0, ifindex))
    return sock


def blast(
    pairs: Sequence[tuple[socket.socket, bytearray | bytes]],
    seconds: float,
    rate: float | None,
    seq: int | None,
) -> tuple[int, int, float, int]:
    """Send for ``seconds`` (paced at ``rate``/s if given), cycling ``pairs``.

    With ``seq``, every cycle patches seq + 1, seq + 2, ... into the
    datagrams (bytearrays).  Returns (sent, last seq, elapsed, send errors).
    """
    pack = _SEQ.pack_into
    clock = time.perf_counter
    sent = errors = 0
    n = len(pairs)
    start = clock()
    end = start + seconds
    while True:
        if seq is not None:
            seq += 1
            for _sock, data in pairs:
                pack(data, 28, seq)  # type: ignore[arg-type]
        for first in range(0, n, BURST):
            for sock, data in pairs[first : first + BURST]:
                try:
                    sock.send(data)
                except OSError:
                    errors += 1
            sent += min(BURST, n - first)
            now = clock()
            if now >= end:
                return sent, seq or 0, now - start, errors
            if rate:
                due = start + sent / rate
                while clock() < due:
                    pass


def window_stats(samples: list[list[float]], before: dict[str, Any]) -> dict[str, Any]:
    """The receiver's rate while it was busy, from its 50 ms samples."""
    base = before["received"]
    busy = [i for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
    busy = [i for i in busy if samples[i - 1][1] >= base]
    if len(busy) < 3:
        return {"note": "too few samples"}
    first, last = busy[0] - 1, busy[-1]
    t0, r0, c0 = samples[first]
    t1, r1, c1 = samples[last]
    # Whole windows strictly inside the busy span (no ramp-up / ramp-down).
    rates = [
        (samples[i][1] - samples[i - 1][1]) / (samples[i][0] - samples[i - 1][0])
        for i in range(first + 2, last)
    ]
    rates.sort()

    def pct(p: int) -> float:
        return rates[min(len(rates) - 1, max(0, round(p / 100 * (len(rates) - 1))))]

    return {
        "busy_seconds": t1 - t0,
        "rate_per_s": (r1 - r0) / (t1 - t0),
        "cpu_fraction": (c1 - c0) / (t1 - t0),
        "per_cpu_second": (r1 - r0) / (c1 - c0) if c1 > c0 else None,
        "window_rates_per_s": {
            "windows": len(rates),
            "p5": pct(5),
            "p50": pct(50),
            "p95": pct(95),
        }
        if rates
        else {},
    }


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    rejected = {
        k: v - before["rejected"].get(k, 0)
        for k, v in after["rejected"].items()
        if v - before["rejected"].get(k, 0)
    }
    events = {
        k: v - before["events"].get(k, 0)
        for k, v in after["events"].items()
        if v - before["events"].get(k, 0)
    }
    return {
        "received": after["received"] - before["received"],
        "accepted": after["accepted"] - before["accepted"],
        "rejected": rejected,
        "events": events,
        "table": after["table"],
        "internal_errors": after["internal_errors"] - before["internal_errors"],
        "kernel_before": before["kernel"],
        "kernel_after": after["kernel"],
        "kernel_delta": {
            k: after["kernel"][k] - before["kernel"][k] for k in after["kernel"]
        },
    }


STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_stat() -> dict[str, list[int]]:
    """Per-CPU tick counters from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *ticks = line.split()
                out[name] = [int(t) for t in ticks[: len(STAT_FIELDS)]]
    return out


def cpu_split(before: dict[str, list[int]], after: dict[str, list[int]]) -> Any:
    """Where each CPU's time went between two /proc/stat readings (fractions)."""
    out = {}
    for cpu, ticks in after.items():
        diff = [a - b for a, b in zip(ticks, before[cpu], strict=True)]
        total = sum(diff) or 1
        pairs = zip(STAT_FIELDS, diff, strict=True)
        out[cpu] = {k: round(v / total, 3) for k, v in pairs if v}
    return out


def phase(
    rx: Receiver,
    name: str,
    pairs: Sequence[tuple[socket.socket, bytearray | bytes]],
    *,
    seconds: float,
    rate: float | None,
    seq: int | None,
) -> tuple[dict[str, Any], int]:
    before = rx.settle()
    rx.ask("samples")  # drop older samples
    os.sched_setaffinity(0, {TX_CPU})
    stat = cpu_stat()
    sent, seq_out, elapsed, errors = blast(pairs, seconds, rate, seq)
    split = cpu_split(stat, cpu_stat())
    after = rx.settle()
    samples = rx.ask("samples")
    result = {
        "phase": name,
        "offered_rate_per_s": rate,
        "sent": sent,
        "send_errors": errors,
        "blaster_seconds": elapsed,
        "blaster_rate_per_s": sent / elapsed,
        **delta(before, after),
        "receiver": window_stats(samples, before),
        "cpu_split": split,
    }
    result["lost"] = sent - result["received"]
    return result, seq_out


def prejoin(
    rx: Receiver, pairs: Sequence[tuple[socket.socket, bytearray]], seq: int, want: int
) -> int:
    """Announce every host slowly until the table holds ``want`` entries."""
    for _ in range(5):
        seq += 1
        for n, (sock, data) in enumerate(pairs):
            _SEQ.pack_into(data, 28, seq)
            sock.send(data)
            if n % 50 == 49:
                time.sleep(0.005)
        if rx.settle()["table"] >= want:
            return seq
    raise RuntimeError("hosts did not join")


@contextlib.contextmanager
def lab_with_link() -> Iterator[tuple[Lab, Netns, Netns]]:
    lab = Lab(dad=False)
    try:
        rx, tx = lab.netns("rx"), lab.netns("tx")
        lab.veth(rx, "eth0", tx, "eth0")
        rx.link_local("eth0")
        tx.link_local("eth0")
        batch = "".join(
            f"address add {source(n)}/64 dev eth0 nodad\n" for n in range(CAPACITY)
        )
        subprocess.run(
            ["ip", "-n", tx.name, "-batch", "-"], input=batch, text=True, check=True
        )
        yield lab, rx, tx
    finally:
        lab.cleanup()


def print_phase(r: dict[str, Any]) -> None:
    rec = r["receiver"]
    k = r["kernel_delta"]
    wr = rec.get("window_rates_per_s", {})
    print(
        f"\n{r['phase']}: sent {r['sent']:,} at {r['blaster_rate_per_s']:,.0f}/s, "
        f"read {r['received']:,}, lost {r['lost']:,}"
    )
    if "rate_per_s" in rec:
        print(
            f"  receiver: {rec['rate_per_s']:,.0f}/s sustained over "
            f"{rec['busy_seconds']:.2f} s (50 ms windows p5/p50/p95 "
            f"{wr.get('p5', 0):,.0f}/{wr.get('p50', 0):,.0f}/{wr.get('p95', 0):,.0f}), "
            f"CPU {rec['cpu_fraction']:.0%}, "
            f"{rec['per_cpu_second'] or 0:,.0f} per CPU-second"
        )
    print(f"  CPUs while sending (/proc/stat): {r['cpu_split']}")
    print(
        f"  table: {r['table']} entries, accepted {r['accepted']:,}, "
        f"rejected {r['rejected'] or 0}, events {r['events']}"
    )
    print(
        f"  kernel (receiver netns): Udp6InDatagrams +{k['Udp6InDatagrams']:,}, "
        f"Udp6InErrors +{k['Udp6InErrors']:,}, "
        f"Udp6RcvbufErrors +{k['Udp6RcvbufErrors']:,}"
    )


def run(args: argparse.Namespace, core: Path | None = None) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    profile = str(OUT_DIR / "ingest-rx.prof") if args.profile else ""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with lab_with_link() as (lab, rx_ns, tx_ns):
        rx = Receiver(rx_ns, lab, args.rcvbuf, profile, core)
        try:
            ifindex = tx_ns.ifindex("eth0")
            with tx_ns.entered():
                socks = [open_sender(source(n), ifindex) for n in range(CAPACITY)]
            steady = [
                (socks[n], bytearray(encode(host_message(n, 1)))) for n in range(HOSTS)
            ]
            seq = prejoin(rx, steady, 0, HOSTS)
            phases = []
            for name, rate in (("steady-max", None), ("steady-50k", 50_000.0)):
                if name not in args.phases:
                    continue
                result, seq = phase(
                    rx, name, steady, seconds=args.seconds, rate=rate, seq=seq
                )
                print_phase(result)
                phases.append(result)
            extra = [
                (socks[n], bytearray(encode(host_message(n, 1))))
                for n in range(HOSTS, CAPACITY)
            ]
            prejoin(rx, extra, 0, CAPACITY)
            flood = [
                (socks[k % CAPACITY], flood_message(k, k % CAPACITY))
                for k in range(FLOOD_DATAGRAMS)
            ]
            for name, rate in (("flood-max", None), ("flood-50k", 50_000.0)):
                if name not in args.phases:
                    continue
                result, _ = phase(
                    rx, name, flood, seconds=args.seconds, rate=rate, seq=None
                )
                print_phase(result)
                phases.append(result)
            for sock in socks:
                sock.close()
            return {"rcvbuf": rx.ready["rcvbuf"], "phases": phases}
        finally:
            rx.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--rcvbuf",
        type=int,
        default=0,
        help="SO_RCVBUF to set on the group socket (0: kernel default)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the rx")
    parser.add_argument(
        "--phases",
        nargs="+",
        default=PHASES,
        choices=PHASES,
        help="run only these phases",
    )
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--compare",
        metavar="GITREF",
        help="also run the same phases with the core at GITREF (e.g. 845901b)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="with --compare: alternate baseline and current this many times",
    )
    args = parser.parse_args()
    baselines: list[dict[str, Any]] = []
    currents: list[dict[str, Any]] = []
    for attempt in range(args.repeat if args.compare else 1):
        if args.compare:
            print(f"\n== baseline ({attempt + 1}): the core at {args.compare}")
            baselines.append(run(args, export_core(args.compare)))
            print(f"\n== current ({attempt + 1})")
        currents.append(run(args))
    result = currents[-1]
    baseline = baselines[-1] if baselines else None
    by_name = {p["phase"]: p for p in result["phases"]}
    print(f"\nSO_RCVBUF (as getsockopt reports it): {result['rcvbuf']:,} bytes")
    met = None
    if "steady-max" in by_name and "steady-50k" in by_name:
        paced = by_name["steady-50k"]
        best = by_name["steady-max"]["receiver"].get("rate_per_s", 0.0)
        met = (
            best >= 50_000
            and paced["lost"] == 0
            and not paced["rejected"]
            and paced["kernel_delta"]["Udp6RcvbufErrors"] == 0
        )
        print(
            f"goal >= 50,000/s steady, no loss: max {best:,.0f}/s; at 50k/s lost "
            f"{paced['lost']}, rejected {paced['rejected'] or 0} -> "
            f"{'met' if met else 'MISSED'}"
        )
    comparison = compare_all(baselines, currents) if baselines else None
    if args.profile:
        print(f"receiver profile: {OUT_DIR / 'ingest-rx.prof'}")
    write(
        f"ingest{'-' + args.label if args.label else ''}",
        {
            "seconds": args.seconds,
            "label": args.label,
            "hosts": HOSTS,
            "capacity": CAPACITY,
            **result,
            "baseline": {"ref": args.compare, **baseline} if baseline else None,
            "repeats": {"baseline": baselines, "current": currents}
            if len(currents) > 1
            else None,
            "current_over_baseline": comparison,
            "goal": {"rate_per_s": 50_000, "met": met},
        },
    )


def compare_all(
    baselines: list[dict[str, Any]], currents: list[dict[str, Any]]
) -> dict[str, Any]:
    """Ratios current / baseline per phase and pair of runs (their median)."""
    out: dict[str, Any] = {}
    print(
        f"\ncurrent / baseline, median of {len(currents)} alternating pairs "
        f"(SO_RCVBUF {baselines[0]['rcvbuf']:,} -> {currents[0]['rcvbuf']:,}):"
    )
    for name in PHASES:
        pairs = []
        for old_run, new_run in zip(baselines, currents, strict=True):
            old = {p["phase"]: p for p in old_run["phases"]}.get(name)
            new = {p["phase"]: p for p in new_run["phases"]}.get(name)
            if old and new:
                pairs.append((old, new))
        if not pairs:
            continue
        ratios: dict[str, list[float]] = {"rate_per_s": [], "per_cpu_second": []}
        for old, new in pairs:
            for key, values in ratios.items():
                if new["receiver"].get(key) and old["receiver"].get(key):
                    values.append(new["receiver"][key] / old["receiver"][key])
        lost = {
            "baseline": [old["lost"] for old, _ in pairs],
            "current": [new["lost"] for _, new in pairs],
        }
        out[name] = {k: statistics.median(v) for k, v in ratios.items() if v}
        out[name]["lost"] = lost
        print(
            f"  {name:11s} rate x{out[name].get('rate_per_s', 0):.2f}, "
            f"per CPU-second x{out[name].get('per_cpu_second', 0):.2f}; "
            f"lost {lost['baseline']} -> {lost['current']}"
        )
    return out


if __name__ == "__main__":
    main()
