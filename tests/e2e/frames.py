"""Hand-made datagrams: raw Ethernet/IPv6/UDP frames and hostile payloads.

A normal UDP socket can only send from an address the host owns, on a port
it may bind.  Spoofed datagrams (a flood from thousands of link-local
sources, a replay from another host's address and port) are built here as
whole frames and sent with an ``AF_PACKET`` socket on a peer's interface,
so they cross the bridge exactly like real traffic.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import time

from custom_components.linkname.protocol.codec import Message, encode
from custom_components.linkname.protocol.const import (
    ANNOUNCE,
    GOODBYE,
    GROUP,
    HOP_LIMIT,
    PORT,
)
from custom_components.linkname.protocol.endpoint import open_rx_socket
from tests.netns import Netns

ETH_P_IPV6 = 0x86DD
IPPROTO_UDP = 17
_PKTINFO = struct.Struct("@16sI")


def multicast_mac(group: str) -> bytes:
    """The Ethernet address of an IPv6 multicast group (33:33 + last 32 bits)."""
    return b"\x33\x33" + socket.inet_pton(socket.AF_INET6, group)[12:]


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones' complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp6_frame(
    src_mac: bytes,
    source: str,
    source_port: int,
    payload: bytes,
    *,
    destination: str = GROUP,
    destination_port: int = PORT,
    hop_limit: int = HOP_LIMIT,
) -> bytes:
    """An Ethernet frame carrying one IPv6/UDP datagram to a multicast group."""
    src = socket.inet_pton(socket.AF_INET6, source)
    dst = socket.inet_pton(socket.AF_INET6, destination)
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!IxxxB", length, IPPROTO_UDP)
    udp = struct.pack("!HHHH", source_port, destination_port, length, 0) + payload
    checksum = internet_checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", checksum) + udp[8:]
    ip = struct.pack("!IHBB", 0x60000000, length, IPPROTO_UDP, hop_limit) + src + dst
    ethernet = multicast_mac(destination) + src_mac + struct.pack("!H", ETH_P_IPV6)
    return ethernet + ip + udp


def random_link_local() -> str:
    """A random fe80::/64 address (random interface identifier)."""
    raw = b"\xfe\x80" + bytes(6) + os.urandom(8)
    return str(ipaddress.IPv6Address(raw))


def announce(
    source: str,
    name: str,
    *,
    host_id: bytes | None = None,
    ttl: int = 180,
    seq: int = 1,
    boot_id: int | None = None,
) -> bytes:
    """A valid, unsigned ANNOUNCE from ``source`` (its first address)."""
    message = Message(
        ANNOUNCE,
        host_id or os.urandom(16),
        int.from_bytes(os.urandom(4)) if boot_id is None else boot_id,
        seq,
        ttl,
        name=name,
        addresses=(source,),
    )
    return encode(message)


def goodbye(host_id: bytes, boot_id: int, seq: int) -> bytes:
    """A valid, unsigned GOODBYE of that host (after its ANNOUNCE ``seq - 1``)."""
    return encode(Message(GOODBYE, host_id, boot_id, seq))


class Injector:
    """An ``AF_PACKET`` socket on an interface of a namespace (send only)."""

    def __init__(self, ns: Netns, ifname: str = "eth0") -> None:
        with ns.entered():
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((ifname, 0))
        self.mac: bytes = self.sock.getsockname()[4][:6]
        self.sent = 0

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def send(self, frame: bytes) -> None:
        """Put one frame on the wire."""
        self.sock.send(frame)
        self.sent += 1

    def datagram(self, source: str, source_port: int, payload: bytes) -> None:
        """Send ``payload`` to the group as if from ``[source]:source_port``."""
        self.send(udp6_frame(self.mac, source, source_port, payload))


class UdpSender:
    """An ordinary UDP socket of a namespace, sending to the group."""

    def __init__(
        self,
        ns: Netns,
        source: str,
        *,
        ifname: str = "eth0",
        hop_limit: int = HOP_LIMIT,
    ) -> None:
        with ns.entered():
            self.ifindex = socket.if_nametoindex(ifname)
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.source = source
        self.sock.setsockopt(
            socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex
        )
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hop_limit)
        scope = self.ifindex if source.startswith("fe80:") else 0
        self.sock.bind((source, 0, 0, scope))
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def send(self, payload: bytes) -> None:
        """One datagram to ``[ff02::1:1]:1903`` on the interface."""
        self.sock.sendto(payload, (GROUP, PORT, 0, self.ifindex))


class Capture:
    """A listener on the group in a namespace: what the link really carries."""

    def __init__(self, ns: Netns, ifname: str = "eth0") -> None:
        with ns.entered():
            self.sock = open_rx_socket(socket.if_nametoindex(ifname))

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def next(self, source: str, mtype: int, limit: float = 5.0) -> tuple[bytes, int]:
        """The next datagram of type ``mtype`` from ``source``: (bytes, port)."""
        deadline = time.monotonic() + limit
        while (remaining := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], remaining)[0]:
                break
            data, address = self.sock.recvfrom(2048)
            if address[0].split("%", 1)[0] == source and data[3:4] == bytes((mtype,)):
                return data, address[1]
        raise TimeoutError(f"no datagram of type {mtype} from {source} in {limit} s")
