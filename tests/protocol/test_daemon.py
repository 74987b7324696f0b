"""Tests of the multi-interface daemon (linkname.daemon), in process.

The daemon runs inside a test host's network namespace (the thread enters
it for the whole test); a scripted peer on the same bridge sees what it
sends.  Real veth links, bridges and rtnetlink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from custom_components.linkname.protocol import control, hostsfile
from custom_components.linkname.protocol.cli import (
    event_json,
    neighbour_json,
    with_zone,
)
from custom_components.linkname.protocol.config import Config, ConfigError
from custom_components.linkname.protocol.const import ANNOUNCE
from custom_components.linkname.protocol.daemon import (
    Daemon,
    DaemonError,
    Settings,
    Views,
)
from tests.netns import Lab, Netns
from tests.peer import Peer

netns = pytest.mark.netns
pytestmark = pytest.mark.usefixtures("unix_sockets")
VIEWS = Views(event_json, neighbour_json, with_zone)
B_ID = bytes.fromhex("0b" * 16)


async def wait_for(cond: Callable[[], object], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


def settings(tmp_path: Path, **kw: object) -> Settings:
    base: dict[str, object] = {
        "state_path": tmp_path / "host-id.json",
        "runtime_dir": tmp_path / "run",
        "hostinfo_root": tmp_path / "root",
        "default_name": "daemon-host",
        "rescan_interval": 60.0,  # changes must come from netlink
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(ns: Netns, the_settings: Settings) -> AsyncIterator[Daemon]:
    """A started daemon inside ``ns``, stopped (goodbye) afterwards."""
    with ns.entered():
        agent = Daemon(the_settings, VIEWS)
        await agent.start()
        task = asyncio.ensure_future(agent.run())
        try:
            yield agent
        finally:
            agent.stop()
            await asyncio.wait_for(task, 5)


def attach(lab: Lab, switch: Netns, host: Netns, ifname: str, port: str) -> None:
    """Another port of ``switch``'s bridge, ``ifname`` in ``host``."""
    lab.veth(switch, port, host, ifname, up=False)
    switch.ip("link", "set", port, "master", "br0")
    switch.set_link(port, True)
    host.set_link(ifname, True)


@pytest.fixture
def two_links(fast_lab: Lab) -> tuple[Netns, Netns, Netns]:
    """Host ``h`` with eth0 and eth1 on one bridge with watcher ``w``; ``h``
    also has Docker's bridge and a veth port on it."""
    h, w, c = fast_lab.netns("h"), fast_lab.netns("w"), fast_lab.netns("c")
    switch = fast_lab.bridge([h, w])
    attach(fast_lab, switch, h, "eth1", "p9")
    h.ip("link", "add", "docker0", "type", "bridge")
    fast_lab.veth(h, "vethd0", c, "eth0", up=False)  # a container "c"
    h.ip("link", "set", "vethd0", "master", "docker0")
    h.set_link("docker0", True)
    h.set_link("vethd0", True)
    c.set_link("eth0", True)
    fast_lab.veth(h, "eth7", c, "eth7", up=False)  # down
    for name in ("eth0", "eth1", "docker0"):
        h.link_local(name)
    w.link_local("eth0")
    return h, w, switch


def make_root(tmp_path: Path) -> None:
    dmi = tmp_path / "root/sys/class/dmi/id"
    dmi.mkdir(parents=True)
    (dmi / "sys_vendor").write_text("Acme\n")
    (dmi / "product_name").write_text("Box 3000\n")
    (tmp_path / "root/etc").mkdir()
    (tmp_path / "root/etc/os-release").write_text('PRETTY_NAME="TestOS 1"\n')


@netns
async def test_two_interfaces_one_identity(
    two_links: tuple[Netns, Netns, Netns], tmp_path: Path
) -> None:
    h, w, _switch = two_links
    make_root(tmp_path)
    peer = Peer(w, B_ID, "beta", boot_id=5)
    try:
        async with running(h, settings(tmp_path)) as agent:
            assert sorted(agent.endpoints) == ["eth0", "eth1"]
            skipped = {c.name: c.reason for c in agent.skipped}
            assert skipped["docker0"].startswith("virtual or container")
            assert skipped["vethd0"].startswith("virtual or container")
            assert skipped["eth7"] == "down"
            assert skipped["lo"] == "loopback"
            # The start bursts of both interfaces: 3 + 3 announcements.
            got = []
            deadline = time.monotonic() + 4.0
            while len(got) < 6 and time.monotonic() < deadline:
                message, meta, _ = await peer.recv_type(ANNOUNCE, limit=3.0)
                got.append((message, meta))
            sources = {meta.source for _, meta in got}
            assert sources == {h.link_local("eth0"), h.link_local("eth1")}
            assert {m.host_id for m, _ in got} == {agent.host.host_id}  # type: ignore[union-attr]
            assert {m.boot_id for m, _ in got} == {agent.host.boot_id}  # type: ignore[union-attr]
            seqs = [m.seq for m, _ in got]
            assert len(set(seqs)) == len(seqs)  # one sequence space
            assert {(m.name, m.model, m.os, m.manufacturer) for m, _ in got} == {
                ("daemon-host", "Box 3000", "TestOS 1", "Acme")
            }
            # The peer is one neighbour, reached over both interfaces.
            peer.send(peer.announce())
            await wait_for(
                lambda: (
                    len(agent.find("beta")) == 1
                    and all(e.table.find("beta") for e in agent.endpoints.values())
                )
            )
            [beta] = agent.find("beta")
            assert sorted(beta["interfaces"]) == ["eth0", "eth1"]
            assert sorted(beta["addresses"]) == [
                f"{peer.address}%eth0",
                f"{peer.address}%eth1",
            ]
            # The same through the control socket.
            path = control.socket_path(tmp_path / "run")
            status = (await control.request(path, {"cmd": "status"}))["status"]
            assert [i["name"] for i in status["interfaces"]] == ["eth0", "eth1"]
            assert all(i["state"] == "up" for i in status["interfaces"])
            assert len(status["neighbours"]) == 1
            assert status["model"] == "Box 3000"
            assert status["manufacturer"] == "Acme"
            found = await control.request(path, {"cmd": "resolve", "name": "BETA"})
            assert found["neighbours"][0]["host_id"] == B_ID.hex()
            missing = await control.request(
                path, {"cmd": "resolve", "name": "nobody", "timeout": 0.3}
            )
            assert missing["neighbours"] == []
            # A watcher gets the snapshot: interface states, then neighbours.
            stream = await control.open_watch(path)
            first = [await anext(stream) for _ in range(4)]
            await stream.aclose()
            assert [e["event"] for e in first] == ["state", "state", "joined", "joined"]
            assert {e["interface"] for e in first} == {"eth0", "eth1"}
            sent = agent.endpoints["eth0"].counters.sent
            # The NSS module's table file: our name and the peer's.
            hosts = tmp_path / "run" / hostsfile.FILE_NAME
            await wait_for(
                lambda: (
                    {"daemon-host", "beta"}
                    <= {r.name for r in hostsfile.parse_table(hosts.read_bytes(), 0)}
                )
            )
        # Goodbye on both interfaces.
        goodbyes = set()
        deadline = time.monotonic() + 3.0
        while len(goodbyes) < 2 and time.monotonic() < deadline:
            message, meta, _ = await peer.recv(limit=3.0)
            if message.type == 2:
                goodbyes.add(meta.source)
        assert goodbyes == {h.link_local("eth0"), h.link_local("eth1")}
        assert sent >= 3
        assert not path.exists()
        assert not hosts.exists()
    finally:
        peer.close()


@netns
async def test_follows_interfaces_by_netlink(
    two_links: tuple[Netns, Netns, Netns], fast_lab: Lab, tmp_path: Path
) -> None:
    h, _w, switch = two_links
    async with running(h, settings(tmp_path, rescan_interval=600.0)) as agent:
        assert sorted(agent.endpoints) == ["eth0", "eth1"]
        attach(fast_lab, switch, h, "usb0", "p8")  # a USB NIC plugged in
        await wait_for(lambda: "usb0" in agent.endpoints, 5)
        await wait_for(lambda: agent.endpoints["usb0"].state == "up", 5)
        # Down: kept (the endpoint waits for it), not re-created; told by
        # netlink, as it checks by itself only every 30 s.
        endpoint = agent.endpoints["eth1"]
        assert endpoint.check_interval == 30.0
        h.set_link("eth1", False)
        await wait_for(lambda: endpoint.state == "down", 5)
        await asyncio.sleep(0.5)
        assert agent.endpoints["eth1"] is endpoint
        h.set_link("eth1", True)
        await wait_for(lambda: endpoint.state == "up", 5)
        # Unplugged: gone.
        h.ip("link", "del", "usb0")
        await wait_for(lambda: "usb0" not in agent.endpoints, 5)
        assert sorted(agent.endpoints) == ["eth0", "eth1"]


@netns
async def test_no_interface_waits_and_logs_once(
    fast_lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lonely, other = fast_lab.netns("lonely"), fast_lab.netns("other")
    caplog.set_level(logging.INFO, logger="linkname")
    async with running(lonely, settings(tmp_path, rescan_interval=0.1)) as agent:
        assert agent.endpoints == {}
        await asyncio.sleep(0.5)  # several scans
        waiting = [r for r in caplog.records if "no suitable interface" in r.message]
        assert len(waiting) == 1
        fast_lab.veth(lonely, "eth0", other, "eth0")
        await wait_for(lambda: "eth0" in agent.endpoints, 5)


@netns
async def test_named_interfaces(
    two_links: tuple[Netns, Netns, Netns], tmp_path: Path
) -> None:
    h, _w, _switch = two_links
    config = Config(interfaces=("eth1", "docker0"))  # named: used as given
    async with running(h, settings(tmp_path, config=config)) as agent:
        assert list(agent.endpoints) == ["eth1", "docker0"]
    with h.entered(), pytest.raises(DaemonError, match="no such interface"):
        await Daemon(
            settings(tmp_path, config=Config(interfaces=("nope0",))), VIEWS
        ).start()


@netns
async def test_reload_applies_what_changed(
    two_links: tuple[Netns, Netns, Netns], tmp_path: Path
) -> None:
    h, w, _switch = two_links
    make_root(tmp_path)
    path = tmp_path / "linkname.toml"
    path.write_text('name = "first"\nexclude = ["eth1"]\n')
    overrides = {"interval": 30.0}
    the_settings = settings(
        tmp_path,
        config=Config(name="first", exclude=("eth1",), interval=30.0),
        config_file=path,
        config_required=True,
        overrides=overrides,
    )
    peer = Peer(w, B_ID, "beta")
    try:
        async with running(h, the_settings) as agent:
            assert list(agent.endpoints) == ["eth0"]
            announcer = agent.endpoints["eth0"].announcer
            assert announcer is not None
            assert (announcer.name, announcer.model) == ("first", "Box 3000")
            path.write_text('name = "second"\ndetails = false\ninterval = 3600\n')
            changed = await agent.reload()
            assert sorted(changed) == ["details", "exclude", "name"]
            assert sorted(agent.endpoints) == ["eth0", "eth1"]  # exclude dropped
            for endpoint in agent.endpoints.values():
                a = endpoint.announcer
                assert a is not None
                assert (a.name, a.model, a.os, a.software) == (
                    "second",
                    None,
                    None,
                    None,
                )
                assert a.interval == 30.0  # the command line wins
            peer.drain()
            message, _meta, _ = await peer.recv_type(ANNOUNCE, limit=3.0)
            assert (message.name, message.model, message.os) == ("second", None, None)
            assert (message.manufacturer, message.software) == (None, None)
            # A bad file changes nothing.
            path.write_text("name = [1]\n")
            with pytest.raises(ConfigError, match="key 'name'"):
                await agent.reload()
            assert agent.name == "second"
            assert agent.reloads == 1
    finally:
        peer.close()


@netns
async def test_root_commands_and_a_new_key(
    link_pair: tuple[Netns, Netns], tmp_path: Path
) -> None:
    a, b = link_pair
    path = tmp_path / "linkname.toml"
    path.write_text('name = "keyed"\n')
    key_file = tmp_path / "key"
    key_file.write_text("daemon-test-shared-key-0123456789\n")
    the_settings = settings(tmp_path, config=Config(name="keyed"), config_file=path)
    peer = Peer(b, B_ID, "beta")
    control_path = control.socket_path(tmp_path / "run")
    try:
        async with running(a, the_settings) as agent:
            await wait_for(lambda: agent.endpoints["eth0"].state == "up")
            await asyncio.sleep(1.2)  # "announce now" is limited to once a second
            answer = await control.request(control_path, {"cmd": "announce"})
            assert answer["announced"] == ["eth0"]
            old = agent.endpoints["eth0"]
            path.write_text(f'name = "keyed"\nkey_file = "{key_file}"\n')
            answer = await control.request(control_path, {"cmd": "reload"})
            assert answer["changed"] == ["key_file"]
            new = agent.endpoints["eth0"]
            assert new is not old  # restarted with tables that verify
            assert new.key is not None
            status = (await control.request(control_path, {"cmd": "status"}))["status"]
            assert status["signed"] is True
            assert status["reloads"] == 1
            # Unsigned announcements are refused now, and counted.
            await wait_for(lambda: new.state == "up")
            peer.send(peer.announce())
            await wait_for(lambda: sum(new.table.rejected.values()) >= 1)
            assert agent.find("beta") == []
            path.write_text("interval = 2\n")
            with pytest.raises(control.ControlError, match="key 'interval'"):
                await control.request(control_path, {"cmd": "reload"})
            assert agent.config.key_file == str(key_file)
    finally:
        peer.close()


@netns
@pytest.mark.parametrize("named", [False, True])
async def test_up_when_duplicate_address_detection_ends(
    lab: Lab, tmp_path: Path, named: bool
) -> None:
    """Kernel DAD on: the address is tentative for ~2 s; netlink, not the
    30 s check, brings the interface into use when it ends."""
    h, w = lab.netns("h"), lab.netns("w")
    lab.veth(h, "eth0", w, "eth0")
    config = Config(interfaces=("eth0",) if named else ())
    started = time.monotonic()
    async with running(h, settings(tmp_path, config=config)) as agent:
        await wait_for(
            lambda: "eth0" in agent.endpoints and agent.endpoints["eth0"].state == "up",
            10,
        )
        assert agent.endpoints["eth0"].check_interval == 30.0
    assert time.monotonic() - started < 10
