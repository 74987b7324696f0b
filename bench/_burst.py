"""Announce many hosts at once, from another process (bench.test_ha_scale).

    python -m bench._burst --hosts 1000

Run inside the peer namespace.  Host n (0-based) announces from its own
link-local source ``fe80::a:<n+1>`` (added by the caller).  Reads commands
on stdin, one per line: ``SEQ SPREAD_MS [goodbye]`` sends every host's
ANNOUNCE (or GOODBYE) with sequence number SEQ, spread evenly over SPREAD_MS
(0: as fast as possible), then answers ``sent N SECONDS``; an empty line or
EOF ends it.  Only the codec is
imported, so it starts quickly.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time

from custom_components.linkname.protocol.codec import Message, encode
from custom_components.linkname.protocol.const import ANNOUNCE, GOODBYE, GROUP, PORT


def source(n: int) -> str:
    return f"fe80::a:{n + 1:x}"


def announcement(n: int) -> bytearray:
    return bytearray(
        encode(
            Message(
                ANNOUNCE,
                (n + 1).to_bytes(16, "big"),
                1,
                1,
                ttl=180,
                name=f"host-{n:04d}",
                addresses=(
                    source(n),
                    f"fd00::{n + 1:x}",
                    f"10.0.{n // 256}.{n % 256}",
                ),
            )
        )
    )


def goodbye(n: int) -> bytearray:
    return bytearray(
        encode(
            Message(GOODBYE, (n + 1).to_bytes(16, "big"), 1, 1, name=f"host-{n:04d}")
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--interface", default="eth0")
    args = parser.parse_args()
    ifindex = socket.if_nametoindex(args.interface)
    senders = []
    for n in range(args.hosts):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.bind((source(n), 0, 0, ifindex))
        sock.connect((GROUP, PORT, 0, ifindex))
        senders.append((sock, announcement(n), goodbye(n)))
    print("ready", flush=True)
    pack = struct.Struct("!I").pack_into
    for line in sys.stdin:
        if not line.strip():
            break
        words = line.split()
        seq, spread = int(words[0]), float(words[1]) / 1000
        index = 2 if words[2:] == ["goodbye"] else 1
        start = time.perf_counter()
        for n, sender in enumerate(senders):
            sock, data = sender[0], sender[index]
            pack(data, 28, seq)
            if spread:
                due = start + spread * n / len(senders)
                while time.perf_counter() < due:
                    pass
            sock.send(data)
        print(f"sent {len(senders)} {time.perf_counter() - start:.4f}", flush=True)


if __name__ == "__main__":
    main()
