"""Codec rate: linkname decode/encode against python-zeroconf's parse/build.

    .venv/bin/python -m bench.codec [--rounds 21] [--ops 20000] [--compare REF]

One process, interleaved rounds: in every round each contestant runs
``--ops`` operations (in a shuffled order), so machine noise hits all of them
alike; the figures are per-round rates and per-round ratios (median, spread).

The message is a typical ANNOUNCE: name, host ID, the link-local address, one
ULA and one IPv4 address, TTL and sequence number.  zeroconf's equivalent is
the mDNS announcement of the same name with the same addresses (AAAA, AAAA, A;
cache-flush, TTL 120), parsed by ``DNSIncoming(packet).answers()`` (a fresh
object each time, so every answer record is really parsed) and built by
``DNSOutgoing`` + ``add_answer_at_time`` + ``packets()``.

Two inputs: "repeat" is one host's announcement (only the sequence number
changes, as when a neighbour re-announces); "distinct" is a different host
(name and addresses) for every datagram, 4096 of them, and decode's cache of
decoded TLV sections is emptied before each batch, so every decode misses.
"""

from __future__ import annotations

import argparse
import gc
import random
import socket
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import zeroconf
import zeroconf._protocol.incoming as zc_incoming
import zeroconf._protocol.outgoing as zc_outgoing
from zeroconf import DNSAddress, DNSIncoming, DNSOutgoing
from zeroconf.const import (
    _CLASS_IN,
    _CLASS_UNIQUE,
    _FLAGS_AA,
    _FLAGS_QR_RESPONSE,
    _TYPE_A,
    _TYPE_AAAA,
)

from bench._common import import_core, summary, write
from linkname import codec
from linkname.auth import Key, check_mac, pseudo_header, sign
from linkname.codec import _HEADER, Message, decode, encode
from linkname.const import ANNOUNCE, GROUP, PORT

KEY = Key.from_text("bench-key-0123456789-abcdefghij")
KEYS = {KEY.key_id: KEY}
SOURCE_PORT = 40000
DISTINCT = 4096


def host(n: int) -> tuple[str, bytes, tuple[str, str, str]]:
    """Name, host ID and addresses of test host ``n``."""
    name = "kitchen-pi" if n == 0 else f"host-{n:04d}"
    hi, lo = divmod(n + 1, 256)
    addresses = (
        f"fe80::200:5eff:fe{hi:02x}:{lo:02x}53",
        f"fd12:3456:789a:1::{n + 1:x}",
        f"192.168.{hi}.{lo}",
    )
    return name, n.to_bytes(16, "big"), addresses


def message(n: int, seq: int) -> Message:
    name, host_id, addresses = host(n)
    return Message(
        ANNOUNCE, host_id, 0x12345678, seq, ttl=180, name=name, addresses=addresses
    )


def pseudo(n: int) -> bytes:
    return pseudo_header(host(n)[2][0], SOURCE_PORT, GROUP, PORT)


def signed(n: int, seq: int) -> bytes:
    return sign(encode(message(n, seq)), KEY, pseudo(n), time.time_ns() // 1_000_000)


def zc_records(n: int) -> list[DNSAddress]:
    name, _host_id, (ll, ula, v4) = host(n)
    fqdn = f"{name}.local."
    cls = _CLASS_IN | _CLASS_UNIQUE
    return [
        DNSAddress(fqdn, _TYPE_AAAA, cls, 120, socket.inet_pton(socket.AF_INET6, ll)),
        DNSAddress(fqdn, _TYPE_AAAA, cls, 120, socket.inet_pton(socket.AF_INET6, ula)),
        DNSAddress(fqdn, _TYPE_A, cls, 120, socket.inet_pton(socket.AF_INET, v4)),
    ]


def zc_build(records: list[DNSAddress]) -> bytes:
    out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA, True)
    for record in records:
        out.add_answer_at_time(record, 0)
    return out.packets()[0]


# -- contestants: each takes one prepared input ------------------------------


def ln_decode(data: bytes) -> object:
    return decode(data)


def ln_decode_signed(item: tuple[bytes, str]) -> object:
    data, source = item
    msg = decode(data)
    pseudo = pseudo_header(source, SOURCE_PORT, GROUP, PORT)
    problem = check_mac(data, msg, KEYS, pseudo)
    if problem is not None:
        raise AssertionError(problem)
    return msg


def ln_encode(msg: Message) -> bytes:
    return encode(msg)


def ln_encode_signed(msg: Message) -> bytes:
    data = encode(msg)
    pseudo = pseudo_header(msg.addresses[0], SOURCE_PORT, GROUP, PORT)
    return sign(data, KEY, pseudo, 1_800_000_000_000)


_ntop = socket.inet_ntop
_INET6 = socket.AF_INET6
_INET = socket.AF_INET
_new = tuple.__new__


def floor(data: bytes) -> object:
    """A lower bound for pure Python: the same output, no checks at all.

    Header fields, the ASCII name and three inet_ntop calls, put into a
    Message, for exactly this layout (NAME, then ADDRESSES 6/6/4).
    """
    _m, _v, mtype, flags, _r, ttl, host_id, boot_id, seq = _HEADER.unpack_from(data)
    end = 35 + data[34]
    a = end + 3
    addresses = (
        _ntop(_INET6, data[a + 1 : a + 17]),
        _ntop(_INET6, data[a + 18 : a + 34]),
        _ntop(_INET, data[a + 35 : a + 39]),
    )
    return _new(
        Message,
        (
            mtype,
            host_id,
            boot_id,
            seq,
            ttl,
            flags,
            data[35:end].decode("ascii"),
            addresses,
            None,
            None,
            None,
            None,
            None,
        ),
    )


def zc_parse(packet: bytes) -> object:
    return DNSIncoming(packet).answers()


def zc_build_one(records: list[DNSAddress]) -> bytes:
    return zc_build(records)


def prepare(
    kind: str, baseline: ModuleType | None = None
) -> dict[str, tuple[Callable[[Any], object], Sequence[Any]]]:
    """Inputs for each contestant: one host re-announcing, or distinct hosts."""
    if kind == "repeat":
        hosts = [0] * 256
        seqs = list(range(1, 257))
    else:
        hosts = list(range(DISTINCT))
        seqs = [1] * DISTINCT
    messages = [message(n, s) for n, s in zip(hosts, seqs, strict=True)]
    plain = [encode(m) for m in messages]
    sig = [(signed(n, s), host(n)[2][0]) for n, s in zip(hosts, seqs, strict=True)]
    records = [zc_records(n) for n in hosts]
    packets = [zc_build(r) for r in records]
    extra = {} if baseline is None else {"baseline.decode": (baseline.decode, plain)}
    return {
        **extra,
        "linkname.decode": (ln_decode, plain),
        "linkname.decode_signed": (ln_decode_signed, sig),
        "floor.unchecked_decode": (floor, plain),
        "linkname.encode": (ln_encode, messages),
        "linkname.encode_signed": (ln_encode_signed, messages),
        "zeroconf.parse": (zc_parse, packets),
        "zeroconf.build": (zc_build_one, records),
    }


def check_equivalence() -> dict[str, Any]:
    """Both sides carry the same name and addresses; zeroconf is compiled."""
    data = encode(message(0, 1))
    decoded = decode(data)
    packet = zc_build(zc_records(0))
    answers = DNSIncoming(packet).answers()
    assert len(answers) == 3
    texts = [
        socket.inet_ntop(
            socket.AF_INET6 if len(a.address) == 16 else socket.AF_INET, a.address
        )
        for a in answers
        if isinstance(a, DNSAddress)
    ]
    assert tuple(texts) == decoded.addresses, (texts, decoded.addresses)
    assert floor(data) == decoded
    compiled = all(
        m.__file__ is not None and m.__file__.endswith(".so")
        for m in (zc_incoming, zc_outgoing)
    )
    assert compiled, "zeroconf's protocol modules are not compiled (Cython)"
    return {
        "linkname_bytes": len(data),
        "linkname_signed_bytes": len(signed(0, 1)),
        "zeroconf_bytes": len(packet),
        "zeroconf_version": zeroconf.__version__,
        "zeroconf_compiled": {
            "incoming": zc_incoming.__file__,
            "outgoing": zc_outgoing.__file__,
        },
    }


def time_batch(fn: Callable[[Any], object], items: Sequence[Any], ops: int) -> float:
    """Operations per second of ``fn`` over ``ops`` inputs (cycled)."""
    batch = [items[i % len(items)] for i in range(ops)]
    start = time.perf_counter()
    for item in batch:
        fn(item)
    return ops / (time.perf_counter() - start)


def run(
    rounds: int, ops: int, baseline: ModuleType | None = None, seed: int = 1903
) -> dict[str, Any]:
    rng = random.Random(seed)
    results: dict[str, Any] = {}
    for kind in ("repeat", "distinct"):
        contestants = prepare(kind, baseline)
        for fn, items in contestants.values():  # warm up
            time_batch(fn, items, min(ops, 2000))
        rates: dict[str, list[float]] = {name: [] for name in contestants}
        for _ in range(rounds):
            order = list(contestants)
            rng.shuffle(order)
            for name in order:
                fn, items = contestants[name]
                if kind == "distinct":
                    codec._BODIES.clear()  # every host is new to decode
                rates[name].append(time_batch(fn, items, ops))
            gc.collect()
        ratios = (
            {}
            if baseline is None
            else {
                "decode/baseline.decode": [
                    a / b
                    for a, b in zip(
                        rates["linkname.decode"], rates["baseline.decode"], strict=True
                    )
                ],
                "baseline.decode/zeroconf.parse": [
                    a / b
                    for a, b in zip(
                        rates["baseline.decode"], rates["zeroconf.parse"], strict=True
                    )
                ],
            }
        )
        ratios |= {
            "decode/zeroconf.parse": [
                a / b
                for a, b in zip(
                    rates["linkname.decode"], rates["zeroconf.parse"], strict=True
                )
            ],
            "decode_signed/zeroconf.parse": [
                a / b
                for a, b in zip(
                    rates["linkname.decode_signed"],
                    rates["zeroconf.parse"],
                    strict=True,
                )
            ],
            "floor.unchecked_decode/zeroconf.parse": [
                a / b
                for a, b in zip(
                    rates["floor.unchecked_decode"],
                    rates["zeroconf.parse"],
                    strict=True,
                )
            ],
            "encode/zeroconf.build": [
                a / b
                for a, b in zip(
                    rates["linkname.encode"], rates["zeroconf.build"], strict=True
                )
            ],
            "encode_signed/zeroconf.build": [
                a / b
                for a, b in zip(
                    rates["linkname.encode_signed"],
                    rates["zeroconf.build"],
                    strict=True,
                )
            ],
        }
        results[kind] = {
            "rates_per_s": {k: summary(v) for k, v in rates.items()},
            "ratios": {k: summary(v) for k, v in ratios.items()},
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--label", default="", help="tag stored in the JSON")
    parser.add_argument(
        "--compare",
        metavar="GITREF",
        help="also time decode of the core at GITREF (e.g. 845901b: before)",
    )
    args = parser.parse_args()
    info = check_equivalence()
    baseline = import_core(args.compare, "codec") if args.compare else None
    results = run(args.rounds, args.ops, baseline)
    goal = results["repeat"]["ratios"]["decode/zeroconf.parse"]["median"]
    goal_distinct = results["distinct"]["ratios"]["decode/zeroconf.parse"]["median"]
    for kind, res in results.items():
        print(f"\n{kind}: operations/s, median [min..max] of {args.rounds} rounds")
        for name, s in res["rates_per_s"].items():
            print(
                f"  {name:26s} {s['median']:>10,.0f}   "
                f"[{s['min']:>9,.0f} .. {s['max']:>9,.0f}]"
            )
        print("  ratios (per round), median [q1 .. q3]:")
        for name, s in res["ratios"].items():
            print(f"  {name:30s} {s['median']:5.2f}   [{s['q1']:.2f} .. {s['q3']:.2f}]")
    floor_ratio = results["distinct"]["ratios"][
        "floor.unchecked_decode/zeroconf.parse"
    ]["median"]
    met = {"repeat": goal >= 1.5, "distinct": goal_distinct >= 1.5}
    print(
        "\ngoal decode >= 1.5 x zeroconf parse (median of per-round ratios):"
        f"\n  repeat (a neighbour re-announcing):  {goal:.2f} -> "
        f"{'met' if met['repeat'] else 'MISSED'}"
        f"\n  distinct (a new host every datagram): {goal_distinct:.2f} -> "
        f"{'met' if met['distinct'] else 'MISSED'}"
        f" (pure-Python floor without any checks: {floor_ratio:.2f})"
    )
    write(
        f"codec{'-' + args.label if args.label else ''}",
        {
            "rounds": args.rounds,
            "ops_per_round": args.ops,
            "label": args.label,
            "baseline": args.compare,
            "inputs": info,
            "results": results,
            "goal": {"decode_over_zeroconf_parse": 1.5, "met": met},
        },
    )


if __name__ == "__main__":
    main()
