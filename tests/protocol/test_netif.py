"""Tests of linkname.netif: parsers on sample text, readers on real links."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from custom_components.linkname.protocol import netif
from custom_components.linkname.protocol.netif import (
    IFA_F_DADFAILED,
    IFA_F_DEPRECATED,
    IFA_F_PERMANENT,
    IFA_F_TEMPORARY,
    IFA_F_TENTATIVE,
    InterfaceError,
    choose_link_local,
    flags_usable,
    link_local_addresses,
    other_addresses,
    parse_if_inet6,
    parse_operstate,
)
from tests.netns import PREFIX, Lab, list_netns, require_netns, sweep_stale

SAMPLE = """\
00000000000000000000000000000001 01 80 10 80       lo
fe80000000000000d036b4fffe447412 02 40 20 80     eth0
fe800000000000000000000000000bad 02 40 20 c0     eth0
20010db8000000000000000000000001 02 40 00 80     eth0
20010db8000000000000000000000002 02 40 00 01     eth0
20010db8000000000000000000000003 02 40 00 a0     eth0
fe800000000000000000000000000001 03 40 20 80  wlan0
not a line
zz800000000000000000000000000001 03 40 20 80  wlan0
"""


def test_parse_if_inet6_fields() -> None:
    entries = parse_if_inet6(SAMPLE)
    assert len(entries) == 7  # the two malformed lines are skipped
    lo, ll, tentative = entries[:3]
    assert (lo.address, lo.ifindex, lo.prefixlen, lo.interface) == ("::1", 1, 128, "lo")
    assert not lo.link_local
    assert ll.address == "fe80::d036:b4ff:fe44:7412"
    assert (ll.ifindex, ll.prefixlen, ll.scope) == (2, 64, 0x20)
    assert ll.link_local
    assert ll.usable
    assert not ll.tentative
    assert tentative.tentative
    assert not tentative.usable
    assert tentative.flags == IFA_F_TENTATIVE | IFA_F_PERMANENT


def test_flag_properties() -> None:
    def entry(flags: int) -> netif.InterfaceAddress:
        return netif.InterfaceAddress("fe80::1", 2, 64, 0x20, flags, "eth0")

    assert entry(IFA_F_DADFAILED).dadfailed
    assert not entry(IFA_F_DADFAILED).usable
    assert entry(IFA_F_DEPRECATED).deprecated
    assert entry(IFA_F_DEPRECATED).usable  # still works as a source
    assert entry(IFA_F_TEMPORARY).temporary
    assert entry(IFA_F_PERMANENT).usable


def test_link_local_addresses_per_interface() -> None:
    entries = parse_if_inet6(SAMPLE)
    assert [e.address for e in link_local_addresses(entries, "eth0")] == [
        "fe80::d036:b4ff:fe44:7412",
        "fe80::bad",
    ]
    assert [e.address for e in link_local_addresses(entries, "wlan0")] == ["fe80::1"]
    assert link_local_addresses(entries, "lo") == []


def test_choose_link_local() -> None:
    entries = parse_if_inet6(SAMPLE)
    assert choose_link_local(entries, "eth0") == "fe80::d036:b4ff:fe44:7412"
    # A tentative current address is not kept.
    assert (
        choose_link_local(entries, "eth0", "fe80::bad") == "fe80::d036:b4ff:fe44:7412"
    )
    assert choose_link_local(entries, "nope") is None


def test_choose_link_local_keeps_current_and_avoids_deprecated() -> None:
    text = (
        "fe800000000000000000000000000001 02 40 20 a0 eth0\n"  # deprecated
        "fe800000000000000000000000000002 02 40 20 80 eth0\n"
        "fe800000000000000000000000000003 02 40 20 80 eth0\n"
    )
    entries = parse_if_inet6(text)
    assert choose_link_local(entries, "eth0") == "fe80::2"
    assert choose_link_local(entries, "eth0", current="fe80::3") == "fe80::3"
    assert choose_link_local(entries, "eth0", current="fe80::1") == "fe80::1"
    only_deprecated = parse_if_inet6(text.splitlines()[0])
    assert choose_link_local(only_deprecated, "eth0") == "fe80::1"


def test_choose_link_local_none_while_tentative() -> None:
    text = "fe800000000000000000000000000001 02 40 20 c0 eth0\n"
    assert choose_link_local(parse_if_inet6(text), "eth0") is None
    text = "fe800000000000000000000000000001 02 40 20 88 eth0\n"  # dadfailed
    assert choose_link_local(parse_if_inet6(text), "eth0") is None


def test_other_addresses() -> None:
    # Global 2001:db8::1 only: ::2 is temporary, ::3 deprecated.
    assert other_addresses(parse_if_inet6(SAMPLE), "eth0") == ["2001:db8::1"]


def test_operstate_and_flags() -> None:
    assert parse_operstate("up\n")
    assert parse_operstate("unknown\n")
    assert not parse_operstate("down\n")
    assert not parse_operstate("lowerlayerdown")
    assert not parse_operstate("dormant")
    assert flags_usable(netif.IFF_UP | netif.IFF_RUNNING | 0x1000)
    assert not flags_usable(netif.IFF_UP)
    assert not flags_usable(netif.IFF_RUNNING)


def test_unknown_interface_is_a_clear_error() -> None:
    with pytest.raises(InterfaceError, match="no network interface named 'lnt-nope0'"):
        netif.interface_index("lnt-nope0")
    with pytest.raises(InterfaceError, match="invalid interface name"):
        netif.interface_index("x" * 16)
    with pytest.raises(InterfaceError, match="invalid interface name"):
        netif.interface_index("")


# -- on real links (network namespaces) ---------------------------------------


@pytest.mark.netns
@pytest.mark.usefixtures("socket_enabled")
def test_readers_follow_a_real_link(lab: Lab) -> None:
    a, b = lab.netns("a"), lab.netns("b")
    lab.veth(a, "eth0", b, "eth0")
    with a.entered():
        index = netif.interface_index("eth0")
        assert netif.interface_is_up("eth0")
        # Kernel DAD is on in this lab: the fresh address starts tentative.
        fresh = link_local_addresses(netif.read_addresses(), "eth0")
        assert fresh
        assert all(e.ifindex == index for e in fresh)
    usable = a.link_local("eth0")  # waits for DAD
    with a.entered():
        entries = netif.read_addresses()
        assert choose_link_local(entries, "eth0") == usable
        assert not netif.interface_is_up("nope0")
        with pytest.raises(InterfaceError):
            netif.interface_flags("nope0")
        assert netif.ipv4_address("eth0") is None
    a.ip("addr", "add", "192.0.2.7/24", "dev", "eth0")
    a.ip("addr", "add", "2001:db8::7/64", "dev", "eth0", "nodad")
    with a.entered():
        assert netif.ipv4_address("eth0") == "192.0.2.7"
        assert other_addresses(netif.read_addresses(), "eth0") == ["2001:db8::7"]
    b.set_link("eth0", False)  # peer down: no carrier here
    with a.entered():
        deadline = time.monotonic() + 2
        while netif.interface_is_up("eth0") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not netif.interface_is_up("eth0")
        assert netif.interface_flags("eth0") & netif.IFF_UP
    a.set_link("eth0", False)  # admin down: IPv6 addresses are removed
    with a.entered():
        assert link_local_addresses(netif.read_addresses(), "eth0") == []


@pytest.mark.netns
def test_sweep_removes_only_leftovers_of_dead_runs() -> None:
    require_netns()
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = f"{PREFIX}{finished.pid}-leftover-1"
    alive = f"{PREFIX}{os.getpid()}-alive-1"
    for name in (stale, alive):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        removed = sweep_stale()
        assert stale in removed
        assert alive not in removed
        names = list_netns()
        assert stale not in names
        assert alive in names
    finally:
        for name in (stale, alive):
            subprocess.run(
                ["ip", "netns", "del", name], check=False, capture_output=True
            )
