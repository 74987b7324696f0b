"""A scripted linkname peer for in-process tests: plain sockets in a namespace.

It sends exactly the datagrams a test asks for (announcements, goodbyes,
hostile packets) over a real veth link, and reads what arrives, with the real
ancillary data.  Used by the endpoint tests and the Home Assistant tests.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

from custom_components.linkname.protocol.auth import Key, pseudo_header, sign
from custom_components.linkname.protocol.codec import Message, decode, encode
from custom_components.linkname.protocol.const import ANNOUNCE, GOODBYE, GROUP, PORT
from custom_components.linkname.protocol.endpoint import (
    open_rx_socket,
    open_tx_socket,
    parse_ancillary,
)
from custom_components.linkname.protocol.table import RxMeta
from tests.netns import Netns

_PKTINFO = struct.Struct("@16sI")


class Peer:
    """A host on the link with a fixed host ID, name and (optional) key."""

    def __init__(
        self,
        ns: Netns,
        host_id: bytes,
        name: str,
        *,
        ifname: str = "eth0",
        key: Key | None = None,
        boot_id: int = 1,
    ) -> None:
        self.ns = ns
        self.host_id = host_id
        self.name = name
        self.key = key
        self.boot_id = boot_id
        self.seq = 0
        self.address = ns.link_local(ifname)
        with ns.entered():
            self.ifindex = socket.if_nametoindex(ifname)
            self.rx = open_rx_socket(self.ifindex)
            self.tx = open_tx_socket(self.ifindex)
        self.port: int = self.tx.getsockname()[1]

    def close(self) -> None:
        """Close both sockets."""
        self.rx.close()
        self.tx.close()

    def message(self, mtype: int = ANNOUNCE, **fields: Any) -> Message:
        """A message from this peer (next sequence number)."""
        self.seq += 1
        base: dict[str, Any] = {
            "type": mtype,
            "host_id": self.host_id,
            "boot_id": self.boot_id,
            "seq": self.seq,
        }
        if mtype == ANNOUNCE:
            base |= {"ttl": 180, "name": self.name, "addresses": (self.address,)}
        return Message(**(base | fields))

    def send(
        self,
        data: bytes,
        destination: tuple[str, int] = (GROUP, PORT),
        *,
        hop_limit: int | None = None,
        sign_with: Key | None = None,
    ) -> bytes:
        """Send raw bytes (signed with ``sign_with`` or the peer's key)."""
        if sign_with or self.key:
            data = self.sign(data, destination, sign_with)
        cmsgs = [
            (
                socket.IPPROTO_IPV6,
                socket.IPV6_PKTINFO,
                _PKTINFO.pack(
                    socket.inet_pton(socket.AF_INET6, self.address), self.ifindex
                ),
            )
        ]
        if hop_limit is not None:
            cmsgs.append(
                (
                    socket.IPPROTO_IPV6,
                    socket.IPV6_HOPLIMIT,
                    struct.pack("@i", hop_limit),
                )
            )
        self.tx.sendmsg(
            [data], cmsgs, 0, (destination[0], destination[1], 0, self.ifindex)
        )
        return data

    def announce(self, **fields: Any) -> bytes:
        """Multicast an ANNOUNCE; returns the datagram sent."""
        return self.send(encode(self.message(ANNOUNCE, **fields)))

    def goodbye(self) -> bytes:
        """Multicast a GOODBYE."""
        return self.send(encode(self.message(GOODBYE, name=self.name)))

    def sign(
        self,
        data: bytes,
        destination: tuple[str, int] = (GROUP, PORT),
        key: Key | None = None,
    ) -> bytes:
        """``data`` with an AUTH TLV (``key`` or the peer's), as sent by it."""
        key = key or self.key
        assert key is not None
        pseudo = pseudo_header(self.address, self.port, *destination)
        return sign(data, key, pseudo, time.time_ns() // 1_000_000)

    def drain(self) -> int:
        """Discard whatever is queued on both sockets; how many datagrams."""
        count = 0
        for sock in (self.rx, self.tx):
            while True:
                try:
                    sock.recv(2048, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                count += 1
        return count

    async def recv(
        self, sock: socket.socket | None = None, limit: float = 3.0
    ) -> tuple[Message, RxMeta, bytes]:
        """The next datagram on ``sock`` (default: the group socket)."""
        sock = sock or self.rx
        local_port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            try:
                data, anc, _flags, address = sock.recvmsg(2048, 256)
            except BlockingIOError:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError("nothing received") from None
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(sock.fileno(), ready.set_result, None)
                try:
                    async with asyncio.timeout(remaining):
                        await ready
                except TimeoutError:
                    pass
                finally:
                    loop.remove_reader(sock.fileno())
                continue
            destination, ifindex, hop_limit = parse_ancillary(anc)
            meta = RxMeta(
                address[0].split("%")[0],
                address[1],
                destination,
                local_port,
                ifindex,
                hop_limit,
            )
            return decode(data), meta, data

    async def recv_type(
        self, mtype: int, sock: socket.socket | None = None, limit: float = 3.0
    ) -> tuple[Message, RxMeta, bytes]:
        """The next datagram of type ``mtype`` (others are skipped)."""
        deadline = time.monotonic() + limit
        while True:
            got = await self.recv(sock, max(0.0, deadline - time.monotonic()))
            if got[0].type == mtype:
                return got
