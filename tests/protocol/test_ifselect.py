"""Tests of interface selection (linkname.ifselect).

Pure parts on synthetic netlink bytes and link lists; the rule as a whole
on a real network namespace holding the interfaces it must tell apart.
"""

from __future__ import annotations

import select
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.linkname.protocol import ifselect
from custom_components.linkname.protocol.ifselect import (
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_POINTOPOINT,
    IFF_RUNNING,
    IFF_UP,
    Choice,
    Link,
    LinkMonitor,
    choose,
    parse_links,
)
from custom_components.linkname.protocol.netif import IFA_F_TENTATIVE, InterfaceAddress
from tests.netns import Lab

netns = pytest.mark.netns
sockets = pytest.mark.usefixtures("socket_enabled")
UP = IFF_UP | IFF_RUNNING | IFF_MULTICAST


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _newlink(
    index: int,
    name: str,
    flags: int,
    *,
    kind: str = "",
    slave_kind: str = "",
    master: int = 0,
) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, flags, 0)
    body += _attr(ifselect.IFLA_IFNAME, name.encode() + b"\0")
    if master:
        body += _attr(ifselect.IFLA_MASTER, struct.pack("=I", master))
    info = b""
    if kind:
        info += _attr(ifselect.IFLA_INFO_KIND, kind.encode() + b"\0")
    if slave_kind:
        info += _attr(ifselect.IFLA_INFO_SLAVE_KIND, slave_kind.encode() + b"\0")
    if info:
        body += _attr(ifselect.IFLA_LINKINFO, info)
    return struct.pack("=IHHII", 16 + len(body), ifselect.RTM_NEWLINK, 2, 1, 0) + body


DONE = struct.pack("=IHHII", 20, ifselect.NLMSG_DONE, 2, 1, 0) + b"\0" * 4


def test_parse_links_reads_name_flags_kind_and_master() -> None:
    data = (
        _newlink(1, "lo", IFF_UP | IFF_LOOPBACK)
        + _newlink(5, "docker0", UP, kind="bridge")
        + _newlink(6, "vethab12", UP, kind="veth", slave_kind="bridge", master=5)
    )
    links, done = parse_links(data)
    assert not done
    assert links == [
        Link(1, "lo", IFF_UP | IFF_LOOPBACK),
        Link(5, "docker0", UP, "bridge"),
        Link(6, "vethab12", UP, "veth", "bridge", 5),
    ]
    assert parse_links(data + DONE) == (links, True)


@pytest.mark.parametrize("cut", [1, 7, 16, 17, 20, 31, 40])
def test_parse_links_never_raises_on_truncated_or_garbage(cut: int) -> None:
    data = _newlink(2, "eth0", UP, kind="veth")
    links, _done = parse_links(data[:cut])
    assert links in ([], [Link(2, "eth0", UP, "veth")])
    assert parse_links(b"\xff" * cut) == ([], False)
    # A header claiming a length beyond the data, or below its own size.
    bad = struct.pack("=IHHII", 4, ifselect.RTM_NEWLINK, 0, 0, 0) + data
    assert parse_links(bad) == ([], False)


def _ll(index: int, name: str, flags: int = 0x80) -> InterfaceAddress:
    return InterfaceAddress(f"fe80::{index}", index, 64, 0x20, flags, name)


def test_the_rule() -> None:
    links = [
        Link(1, "lo", IFF_UP | IFF_RUNNING | IFF_LOOPBACK),
        Link(2, "eth0", UP),
        Link(3, "wlan0", UP),
        Link(4, "docker0", UP, "bridge"),
        Link(5, "veth1234", UP, "veth", "bridge", 4),
        Link(6, "br0", UP, "bridge"),
        Link(7, "enp3s0", UP, "", "", 6),  # port found by its master's kind
        Link(8, "wg0", IFF_UP | IFF_RUNNING | IFF_POINTOPOINT, "wireguard"),
        Link(9, "vpn0", UP, "tun"),
        Link(10, "eth1", IFF_UP | IFF_MULTICAST),  # no carrier
        Link(11, "eth2", IFF_RUNNING | IFF_MULTICAST),  # down
        Link(12, "eth3", IFF_UP | IFF_RUNNING),  # no multicast
        Link(13, "eth4", UP),  # no address
        Link(14, "eth5", UP),  # tentative address
        Link(15, "usb0", UP),  # excluded by the user
        Link(16, "bond0", UP, "bond"),
        Link(17, "eno1", UP, "", "bond", 16),
        Link(18, "cni0", UP, "bridge"),
    ]
    addresses = [_ll(link.index, link.name) for link in links if link.index != 13]
    addresses = [
        _ll(14, "eth5", IFA_F_TENTATIVE) if a.ifindex == 14 else a for a in addresses
    ]
    addresses.append(InterfaceAddress("2001:db8::13", 13, 64, 0, 0x80, "eth4"))
    verdicts = {c.name: c for c in choose(links, addresses, exclude=["usb*"])}
    assert [c.name for c in verdicts.values() if c.selected] == [
        "eth0",
        "wlan0",
        "br0",
        "bond0",
    ]
    reasons = {name: c.reason for name, c in verdicts.items()}
    assert reasons["lo"] == "loopback"
    assert reasons["docker0"] == "virtual or container interface (docker*)"
    assert reasons["veth1234"] == "virtual or container interface (veth*)"
    assert reasons["cni0"] == "virtual or container interface (cni*)"
    assert reasons["enp3s0"] == "bridge port (of br0)"
    assert reasons["eno1"] == "bond port (of bond0)"
    assert reasons["wg0"] == "virtual or container interface (wg*)"
    assert reasons["vpn0"] == "tunnel (tun)"
    assert reasons["eth1"] == "no carrier"
    assert reasons["eth2"] == "down"
    assert reasons["eth3"] == "cannot multicast"
    assert reasons["eth4"] == "no IPv6 link-local address"
    assert reasons["eth5"].startswith("link-local address not usable")
    assert reasons["usb0"] == "excluded (usb*)"
    waiting = sorted(name for name, c in verdicts.items() if c.waiting)
    assert waiting == ["eth1", "eth2", "eth4", "eth5"]


def test_point_to_point_and_renamed_wireguard_are_skipped() -> None:
    links = [
        Link(2, "ppp0", UP | IFF_POINTOPOINT),
        Link(3, "office", IFF_UP | IFF_RUNNING, "wireguard"),
    ]
    verdicts = choose(links, [_ll(2, "ppp0"), _ll(3, "office")])
    assert verdicts == [
        Choice("ppp0", 2, False, "point-to-point"),
        Choice("office", 3, False, "tunnel (wireguard)"),
    ]


@netns
@sockets
def test_rule_on_a_real_namespace(fast_lab: Lab) -> None:
    host, peer = fast_lab.netns("host"), fast_lab.netns("peer")
    fast_lab.veth(host, "eth0", peer, "eth0")
    fast_lab.veth(host, "eth1", peer, "eth1")
    # docker0 with a host-side veth port, as Docker makes it.
    host.ip("link", "add", "docker0", "type", "bridge")
    host.set_link("docker0", True)
    fast_lab.veth(host, "vethc0ffee", peer, "ceth0", up=False)
    host.ip("link", "set", "vethc0ffee", "master", "docker0")
    host.set_link("vethc0ffee", True)
    peer.set_link("ceth0", True)
    # A bridge the host lives on (Proxmox's vmbr0), with a port "lan0".
    host.ip("link", "add", "vmbr0", "type", "bridge")
    fast_lab.veth(host, "lan0", peer, "lan0", up=False)
    host.ip("link", "set", "lan0", "master", "vmbr0")
    for name in ("vmbr0", "lan0"):
        host.set_link(name, True)
    peer.set_link("lan0", True)
    fast_lab.veth(host, "eth9", peer, "eth9", up=False)  # down: not used
    for name in ("eth0", "eth1", "vmbr0"):
        host.link_local(name)

    def no_netlink() -> list[tuple[int, str]]:
        raise OSError(97, "Address family not supported by protocol")

    with host.entered():
        links = ifselect.dump_links()
        verdicts = {c.name: c for c in ifselect.suitable_interfaces(exclude=["eth1"])}
        fallback = {link.name: link for link in ifselect.fallback_links()}
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ifselect.socket, "if_nameindex", no_netlink)
            proc_only = {link.name: link for link in ifselect.fallback_links()}
    kinds = {link.name: link.kind for link in links}
    assert kinds["docker0"] == "bridge"
    assert kinds["eth0"] == "veth"
    selected = sorted(name for name, c in verdicts.items() if c.selected)
    assert selected == ["eth0", "vmbr0"]
    assert verdicts["lan0"].reason == "bridge port (of vmbr0)"
    assert verdicts["vethc0ffee"].reason.startswith("virtual or container")
    assert verdicts["docker0"].reason.startswith("virtual or container")
    assert verdicts["eth1"].reason == "excluded (eth1)"
    assert verdicts["eth9"].reason == "down"
    assert verdicts["lo"].reason == "loopback"
    assert fallback["eth0"].flags & IFF_UP
    assert set(proc_only) == set(fallback) == {link.name for link in links}
    assert {n: link.index for n, link in proc_only.items()} == {
        n: link.index for n, link in fallback.items()
    }


def test_proc_net_dev_names() -> None:
    text = (
        "Inter-|   Receive |  Transmit\n"
        " face |bytes    packets|bytes\n"
        "    lo:    1234      12 0 0 0 0 0 0 1234 12 0 0 0 0 0 0\n"
        "  eth0: 5678 34 0 0 0 0 0 0 5678 34 0 0 0 0 0 0\n"
        "garbage\n"
        " : 1 2\n"
    )
    assert ifselect.proc_net_dev_names(text) == ["lo", "eth0"]


@netns
@sockets
def test_monitor_sees_link_and_address_changes(fast_lab: Lab) -> None:
    host, peer = fast_lab.netns("host"), fast_lab.netns("peer")
    with host.entered():
        monitor = LinkMonitor()
    try:
        assert not monitor.drain()
        fast_lab.veth(host, "eth0", peer, "eth0")
        host.link_local("eth0")
        select.select([monitor.fileno()], [], [], 2.0)
        assert monitor.drain()
        assert not monitor.drain()
        host.set_link("eth0", False)
        select.select([monitor.fileno()], [], [], 2.0)
        assert monitor.drain()
    finally:
        monitor.close()
    assert monitor.sock.fileno() == -1


@given(st.binary(max_size=512))
@settings(max_examples=300, deadline=None)
def test_parse_links_takes_any_bytes(data: bytes) -> None:
    links, _done = parse_links(data)
    assert all(link.index > 0 and link.name for link in links)
