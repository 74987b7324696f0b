"""The hand-made frames are what scapy builds (checksums and all)."""

from __future__ import annotations

from scapy.layers.inet6 import UDP, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from custom_components.linkname.protocol.codec import decode
from tests.e2e.frames import announce, random_link_local, udp6_frame

MAC = bytes.fromhex("02aabbccddee")


def test_udp6_frame_matches_scapy() -> None:
    for size in (0, 1, 57, 1300):
        source = random_link_local()
        payload = bytes(range(256)) * 6
        payload = payload[:size]
        ours = udp6_frame(MAC, source, 40123, payload, hop_limit=64)
        theirs = (
            Ether(src="02:aa:bb:cc:dd:ee", dst="33:33:00:01:00:01")
            / IPv6(src=source, dst="ff02::1:1", hlim=64)
            / UDP(sport=40123, dport=1903)
            / Raw(payload)
        )
        assert ours == bytes(theirs)
        parsed = Ether(ours)
        assert parsed[IPv6].hlim == 64
        assert parsed[UDP].chksum == UDP(bytes(theirs[UDP])).chksum


def test_announce_is_valid_from_its_source() -> None:
    source = random_link_local()
    assert source.startswith("fe80::")
    message = decode(announce(source, "flood-1", ttl=7))
    assert message.addresses == (source,)
    assert (message.name, message.ttl) == ("flood-1", 7)
