"""Tests of the ``linkname`` command: real processes on real IPv6 links.

Hosts A, B and C share a bridge (module-scoped lab, duplicate address
detection off for speed); every test starts its own processes with
``python -m linkname`` inside the namespaces and stops them at its end.
Timings are measured and printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.linkname.protocol import __version__
from custom_components.linkname.protocol.auth import Key
from custom_components.linkname.protocol.cli import (
    event_json,
    main,
    render_table,
    valid_name_from,
    with_zone,
)
from custom_components.linkname.protocol.codec import Reason
from custom_components.linkname.protocol.state import format_state
from custom_components.linkname.protocol.table import Joined, Left, Neighbour, Rejected
from tests.netns import Lab, Netns
from tests.proc import Proc

KEY_TEXT = "cli-test-shared-key-0123456789"
LINKNAME = [sys.executable, "-m", "linkname"]

netns = pytest.mark.netns


# -- pure parts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("kitchen-pi", "kitchen-pi"),
        ("kitchen-pi.example.org", "kitchen-pi"),
        ("  spaced  ", "spaced"),
        ("tab\there", "tabhere"),
        ("ü" * 40, "ü" * 31),  # 62 bytes: at most 63, never a split character
        ("", "linkname-host"),
        (".", "linkname-host"),
        ("Cafe\u0301", "Café"),  # NFC
    ],
)
def test_valid_name_from_host_name(host: str, name: str) -> None:
    assert valid_name_from(host) == name


def test_with_zone() -> None:
    assert with_zone("fe80::1", "eth0") == "fe80::1%eth0"
    assert with_zone("febf::1", "eth0") == "febf::1%eth0"
    assert with_zone("fec0::1", "eth0") == "fec0::1"
    assert with_zone("2001:db8::1", "eth0") == "2001:db8::1"
    assert with_zone("192.0.2.1", "eth0") == "192.0.2.1"


def _neighbour() -> Neighbour:
    return Neighbour(
        bytes(range(16)), "pi", ("fe80::1", "2001:db8::1"), "Pi 5", None, None,
        7, 3, 180, 10.0, 20.0, 200.0, signed=True,
    )  # fmt: skip


def test_event_json() -> None:
    joined = event_json(Joined(_neighbour()))
    assert joined["event"] == "joined"
    assert joined["name"] == "pi"
    assert joined["host_id"] == bytes(range(16)).hex()
    assert joined["addresses"] == ["fe80::1", "2001:db8::1"]
    assert joined["model"] == "Pi 5"
    assert joined["signed"] is True
    assert json.loads(json.dumps(joined)) == joined
    left = event_json(Left(_neighbour(), "goodbye"))
    assert (left["event"], left["reason"]) == ("left", "goodbye")
    rejected = event_json(Rejected(Reason.HOP_LIMIT, "fe80::9", "hop limit 64"))
    assert rejected["event"] == "rejected"
    assert rejected["reason"] == "hop_limit"
    assert rejected["source"] == "fe80::9"


def test_render_table() -> None:
    text = render_table([_neighbour()], now=30.0, interface="eth0", footer="bye")
    lines = text.splitlines()
    assert lines[0] == "linkname neighbours on eth0: 1"
    assert lines[2].split() == [
        "NAME", "LINK-LOCAL", "OTHER", "ADDRESSES", "HOST", "ID", "SEEN", "EXPIRES",
    ]  # fmt: skip
    assert "pi (signed)" in lines[3]
    assert "fe80::1" in lines[3]
    assert "2001:db8::1" in lines[3]
    assert "10s ago" in lines[3]
    assert "in 2m" in lines[3]  # 170 s
    assert lines[-1] == "bye"


def test_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"linkname {__version__}"
    with pytest.raises(SystemExit) as info:
        main(["announce", "--no-such-flag"])  # (no --interface: all interfaces)
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["announce", "-i", "eth0", "--interval", "1"])
    assert info.value.code == 2
    assert "5 to 3600" in capsys.readouterr().err


def test_python_dash_m_and_console_script() -> None:
    result = subprocess.run(
        [*LINKNAME, "--version"], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"linkname {__version__}")
    script = Path(sys.executable).with_name("linkname")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"linkname {__version__}")


def test_bad_key_file_is_one_line_exit_2(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_text("too-short\n")
    for args in (
        ["watch", "-i", "lo", "--key-file", str(short)],
        ["announce", "-i", "lo", "--key-file", str(tmp_path / "missing.key")],
    ):
        result = subprocess.run(
            [*LINKNAME, *args], capture_output=True, text=True, check=False
        )
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("linkname: error: bad key file")


def test_damaged_state_file_is_one_line_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{nope")
    result = subprocess.run(
        [*LINKNAME, "announce", "-i", "lo", "--state-file", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"linkname: error: state file {state} is damaged")


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("linkname: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("flag", "text", "problem"),
    [
        ("--model", "Pi\x1b[31m", "control"),
        ("--os", "x" * 65, "65 bytes"),
        ("--software", "", "empty"),
        ("--model", "gpj.exe\u202e", "bidi"),
        ("--os", "Debian\n13", "control"),
        ("--name", "two.labels", "'.'"),
        ("--name", "\u200bzero-width", "format"),
        ("--manufacturer", " Acme", "leading"),
    ],
)
def test_bad_announce_arguments_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], flag: str, text: str, problem: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["announce", "-i", "lo", flag, text])
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"linkname: error: argument {flag}: ")
    assert problem in lines[0]


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        [],
        ["bogus"],
        ["announce", "--exclude"],  # (no --interface: every suitable one)
        ["watch", "-i"],
        ["resolve", "-i", "lo"],
        ["resolve", "a.b", "-i", "lo"],
        ["announce", "-i", "lo", "--interval", "x"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1, (argv, lines)
        assert lines[0].startswith("linkname: error: "), lines
        assert lines[0].endswith("--help')"), lines


def test_unknown_interface_is_named_not_errno(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = str(tmp_path / "state.json")
    for argv in (
        ["watch", "-i", "eth9"],
        ["resolve", "x", "-i", "eth9"],
        ["announce", "-i", "eth9", "--state-file", state],
    ):
        assert main(argv) == 2
        lines = capsys.readouterr().err.splitlines()
        assert lines == ["linkname: error: no such interface: eth9"], lines


def test_key_id_collision_is_refused(
    tmp_path: Path, colliding_keys: tuple[Key, Key]
) -> None:
    first, second = colliding_keys
    paths = []
    for n, key in enumerate((first, second)):
        path = tmp_path / f"k{n}"
        path.write_text(key.secret.decode() + "\n")
        path.chmod(0o600)
        paths.append(str(path))
    result = subprocess.run(
        [*LINKNAME, "watch", "-i", "lo", "--key-file", paths[0],
         "--key-file", paths[1]],
        capture_output=True, text=True, check=False, timeout=20,
    )  # fmt: skip
    line = one_error_line(result)
    assert f"same key ID 0x{first.key_id:04x}" in line


def test_readable_key_file_warns_once(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY_TEXT + "\n")
    path.chmod(0o644)
    result = subprocess.run(
        [*LINKNAME, "watch", "-i", "eth9", "--key-file", str(path), "--key-file",
         str(path)],
        capture_output=True, text=True, check=False, timeout=20,
    )  # fmt: skip
    assert result.returncode == 2
    warnings = [line for line in result.stderr.splitlines() if "readable by" in line]
    assert len(warnings) == 1, result.stderr
    assert "group and others" in warnings[0]
    path.chmod(0o600)
    result = subprocess.run(
        [*LINKNAME, "watch", "-i", "eth9", "--key-file", str(path)],
        capture_output=True, text=True, check=False, timeout=20,
    )  # fmt: skip
    assert "readable by" not in result.stderr
    one_error_line(result)


def test_dev_zero_and_fifo_are_clean_errors(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for args, what in (
        (["watch", "-i", "lo", "--key-file", "/dev/zero"], "not a regular file"),
        (["watch", "-i", "lo", "--key-file", str(fifo)], "not a regular file"),
        (["announce", "-i", "lo", "--state-file", "/dev/zero"], "not a regular file"),
        (["announce", "-i", "lo", "--state-file", str(fifo)], "not a regular file"),
        (["announce", "-i", "lo", "--state-file", str(tmp_path)], "not a regular"),
    ):
        result = subprocess.run(
            [*LINKNAME, *args], capture_output=True, text=True, check=False, timeout=20
        )
        assert what in one_error_line(result), args


# -- processes ------------------------------------------------------------------


class Net:
    """Three hosts on one bridge, plus a way to start linkname in them."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab = lab
        self.tmp = tmp
        self.a, self.b, self.c = lab.netns("a"), lab.netns("b"), lab.netns("c")
        lab.bridge([self.a, self.b, self.c])
        for host in (self.a, self.b, self.c):
            host.link_local()
        self.key = tmp / "shared.key"
        self.key.write_text(f"# test key\n{KEY_TEXT}\n")
        self.key.chmod(0o600)
        self.procs: list[Proc] = []
        self._n = 0

    def start(self, ns: Netns, *args: str) -> Proc:
        proc = Proc(ns.popen(*LINKNAME, *args))
        self.procs.append(proc)
        return proc

    def announce(self, ns: Netns, name: str, *args: str) -> Proc:
        self._n += 1
        state = self.tmp / f"state-{name}-{self._n}.json"
        return self.start(
            ns, "announce", "-i", "eth0", "--name", name, "--interval", "5",
            "--state-file", str(state), *args,
        )  # fmt: skip

    def watch(self, ns: Netns, *args: str, interface: str = "eth0") -> Proc:
        proc = self.start(ns, "watch", "-i", interface, "--json", *args)
        proc.wait_event(lambda e: e["event"] == "state" and e["state"] == "up")
        return proc

    def python(self, ns: Netns, code: str, *args: str) -> subprocess.Popen[str]:
        return ns.popen(sys.executable, "-c", code, *args)

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop(signal.SIGKILL, limit=2.0)
        self.procs.clear()


@pytest.fixture(scope="module")
def module_lab() -> Iterator[Lab]:
    lab = Lab(dad=False)
    try:
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture(scope="module")
def bridged(module_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Net:
    return Net(module_lab, tmp_path_factory.mktemp("cli"))


@pytest.fixture
def net(bridged: Net) -> Iterator[Net]:
    try:
        yield bridged
    finally:
        bridged.stop_all()


def joined(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["event"] == "joined" and e["name"] == name


# -- real networks ----------------------------------------------------------------


@netns
def test_announce_seen_by_watch_within_1s_and_goodbye(net: Net) -> None:
    watch = net.watch(net.b)
    spawned = time.monotonic()
    announce = net.announce(net.a, "alpha", "--manufacturer", "Raspberry Pi Ltd")
    up = announce.wait_err("up, source")
    seen, event = watch.wait_event(joined("alpha"))
    print(
        f"\nannounce->watch: {seen - up:.3f} s after 'up' "
        f"({seen - spawned:.3f} s after spawning the process)"
    )
    assert seen - up < 1.0
    assert event["addresses"][0] == net.a.link_local()
    assert event["software"] == f"linkname {__version__}"
    assert event["manufacturer"] == "Raspberry Pi Ltd"
    assert event["ttl"] == 15
    assert event["signed"] is False
    # A watch started later learns of it at once through its QUERY.
    late = net.watch(net.c)
    late_up = late.wait_event(lambda e: e["event"] == "state")[0]
    late_seen = late.wait_event(joined("alpha"), limit=1.0)[0]
    print(f"late watch: joined {late_seen - late_up:.3f} s after up (QUERY)")
    # SIGTERM: GOODBYE, exit 0, and the watchers drop it at once.
    stopped = time.monotonic()
    assert announce.stop(signal.SIGTERM) == 0
    left_at, left = watch.wait_event(lambda e: e["event"] == "left", limit=2.0)
    assert left["name"] == "alpha"
    assert left["reason"] == "goodbye"
    print(f"goodbye: left {left_at - stopped:.3f} s after SIGTERM")
    assert late.wait_event(lambda e: e["event"] == "left")[1]["reason"] == "goodbye"
    assert announce.err_lines("said goodbye")
    # watch exits 0 on SIGTERM with a final stats line.
    assert watch.stop(signal.SIGTERM) == 0
    stats = watch.events()[-1][1]
    assert stats["event"] == "stats"
    assert stats["accepted"] >= 2


@netns
def test_resolve(net: Net) -> None:
    announce = net.announce(net.a, "kitchen")
    announce.wait_err("up, source")
    started = time.monotonic()
    found = net.b.run(*LINKNAME, "resolve", "Kitchen", "-i", "eth0", "--timeout", "3")
    took = time.monotonic() - started
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [f"{net.a.link_local()}%eth0"]
    started = time.monotonic()
    missing = net.b.run(
        *LINKNAME, "resolve", "nobody", "-i", "eth0", "--timeout", "0.5"
    )
    took_missing = time.monotonic() - started
    assert missing.returncode == 1
    assert missing.stdout == ""
    print(f"\nresolve: {took:.3f} s found, {took_missing:.3f} s not found (0.5 s)")


HOP_SENDER = """
import socket, struct, sys
from custom_components.linkname.protocol.codec import Message, encode
from custom_components.linkname.protocol.const import ANNOUNCE, GROUP, PORT
hops = int(sys.argv[1])
ifindex = socket.if_nametoindex("eth0")
link_local = sys.argv[2]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
s.bind((link_local, 0, 0, ifindex))
message = Message(ANNOUNCE, b"\\x42" * 16, 1, 1, 60, name="sneaky",
                  addresses=(link_local,))
s.sendto(encode(message), (GROUP, PORT, 0, ifindex))
"""


@netns
def test_hop_limit_64_is_ignored_and_counted(net: Net) -> None:
    watch = net.watch(net.b)
    sender = net.python(net.c, HOP_SENDER, "64", net.c.link_local())
    assert sender.wait(10) == 0
    _, rejected = watch.wait_event(lambda e: e["event"] == "rejected")
    assert rejected["reason"] == "hop_limit"
    assert rejected["source"] == net.c.link_local()
    # The same datagram with hop limit 255 is accepted: only the hops differ.
    sender = net.python(net.c, HOP_SENDER, "255", net.c.link_local())
    assert sender.wait(10) == 0
    watch.wait_event(joined("sneaky"))
    assert watch.stop() == 0
    stats = watch.events()[-1][1]
    assert stats["rejected"] == {"hop_limit": 1}
    names = [e.get("name") for _, e in watch.events() if e["event"] == "joined"]
    assert names == ["sneaky"]


@netns
def test_two_interfaces_are_separate(module_lab: Lab, net: Net) -> None:
    hub, left, right = (module_lab.netns(t) for t in ("hub", "left", "right"))
    module_lab.veth(hub, "eth0", left, "eth0")
    module_lab.veth(hub, "eth1", right, "eth0")
    for ns, ifname in ((hub, "eth0"), (hub, "eth1"), (left, "eth0"), (right, "eth0")):
        ns.link_local(ifname)
    watch0 = net.watch(hub, interface="eth0")
    watch1 = net.watch(hub, interface="eth1")
    net.announce(left, "lefty")
    net.announce(right, "righty")
    watch0.wait_event(joined("lefty"))
    watch1.wait_event(joined("righty"))
    # The hub itself also announces on both links; each side sees it once.
    hub_eth0 = net.announce(hub, "hub")
    hub_eth0.wait_err("up, source")
    time.sleep(0.5)
    watch0.stop()
    watch1.stop()
    names0 = {e.get("name") for _, e in watch0.events() if "name" in e}
    names1 = {e.get("name") for _, e in watch1.events() if "name" in e}
    assert "righty" not in names0
    assert "lefty" not in names1
    assert "hub" in names0  # own host, other process: seen via multicast loop
    assert "hub" not in names1
    for watch in (watch0, watch1):
        assert watch.events()[-1][1]["rejected"] == {}


REPLAYER = """
import socket, sys, time
data = bytes.fromhex(sys.argv[1])
source, port = sys.argv[2], int(sys.argv[3])
ifindex = socket.if_nametoindex("eth0")
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
for attempt in range(50):  # the killed process's port may linger briefly
    try:
        s.bind((source, port, 0, ifindex))
        break
    except OSError:
        time.sleep(0.05)
s.sendto(data, ("ff02::1:1", 1903, 0, ifindex))
"""

CAPTURER = """
import socket, struct, sys
from custom_components.linkname.protocol.endpoint import open_rx_socket
s = open_rx_socket(socket.if_nametoindex("eth0"))
s.setblocking(True)
s.settimeout(10)
while True:
    data, address = s.recvfrom(2048)
    if data[3] == 1:  # ANNOUNCE
        print(data.hex(), address[0], address[1], flush=True)
        break
"""


@netns
def test_signed_watch_rejects_unsigned_and_replayed(net: Net) -> None:
    watch = net.watch(net.b, "--key-file", str(net.key))
    capturer = net.python(net.b, CAPTURER)
    time.sleep(0.3)  # the capturer has joined the group
    signed = net.announce(net.a, "signed", "--key-file", str(net.key))
    _, event = watch.wait_event(joined("signed"))
    assert event["signed"] is True
    out, _ = capturer.communicate(timeout=10)
    data, source, port = out.split()
    assert source == net.a.link_local()
    # An unsigned announcement is rejected and never joins.
    plain = net.announce(net.a, "plain")
    _, rejected = watch.wait_event(lambda e: e["event"] == "rejected")
    assert rejected["reason"] == "unsigned"
    # Replay the captured signed ANNOUNCE from its own address and port.
    signed.stop(signal.SIGKILL)  # no GOODBYE: "signed" stays in the table
    before = len(watch.events())
    replayer = net.python(net.a, REPLAYER, data, source, port)
    assert replayer.wait(10) == 0
    _, replay = watch.wait_event(
        lambda e: e["event"] == "rejected" and e["reason"] != "unsigned", after=before
    )
    assert replay["reason"] == "replay"
    plain.stop()
    assert watch.stop() == 0
    names = {e.get("name") for _, e in watch.events() if e["event"] == "joined"}
    assert names == {"signed"}
    stats = watch.events()[-1][1]
    assert stats["rejected"]["replay"] == 1
    assert stats["rejected"]["unsigned"] >= 1


@netns
def test_link_down_up_recovery(net: Net) -> None:
    watch = net.watch(net.b)
    announce = net.announce(net.a, "bouncy")
    watch.wait_event(joined("bouncy"))
    net.a.set_link("eth0", False)
    announce.wait_err(": down:", limit=3.0)
    time.sleep(1.5)  # a few interface checks while down
    before = len(watch.events())
    net.a.set_link("eth0", True)
    usable = time.monotonic()
    net.a.link_local()
    seen, _ = watch.wait_event(
        lambda e: (
            e.get("name") == "bouncy"
            and e["event"] in {"refreshed", "joined", "address_changed"}
        ),
        after=before,
        limit=5.0,
    )
    print(f"\nlink up -> announcement seen again: {seen - usable:.3f} s")
    assert seen - usable < 5.0
    announce.wait_err("back up")
    assert announce.stop() == 0
    assert len(announce.err_lines(": down:")) == 1
    assert len(announce.err_lines("back up")) == 1


@netns
def test_cli_errors_exit_2_with_one_line(net: Net) -> None:
    c = net.c
    c.ip("link", "add", "noip6", "type", "veth", "peer", "name", "noip6p")
    c.sysctl("net.ipv6.conf.noip6.disable_ipv6", 1)
    c.set_link("noip6", True)
    c.set_link("noip6p", True)
    state = str(net.tmp / "errors-state.json")

    def fails(*args: str) -> str:
        result = c.run(*LINKNAME, *args)
        assert result.returncode == 2, (args, result)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("linkname: error: ")
        return lines[0]

    for command in (["announce", "--state-file", state], ["watch"], ["resolve", "x"]):
        line = fails(*command, "-i", "nope0")
        assert "no such interface: nope0" in line
        line = fails(*command, "-i", "noip6")
        assert "has no IPv6 link-local address" in line
    # A program holding UDP 1903 without SO_REUSEADDR in the same namespace.
    holder = net.python(
        c,
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
        "s.bind(('::', 1903)); print('bound', flush=True); time.sleep(30)",
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "bound"
        line = fails("announce", "-i", "eth0", "--state-file", state)
        assert "UDP port 1903 is in use" in line
        fails("watch", "-i", "eth0")
    finally:
        holder.kill()
        holder.wait()
    c.ip("link", "del", "noip6")


@netns
def test_name_conflict_newcomer_takes_name_2_and_returns(net: Net) -> None:
    """Revision 2 (section 6.3): the holder keeps its name even against a
    smaller host ID; the newcomer probes, announces NAME-2 from its first
    announcement on, and takes the name back when the holder says goodbye."""
    low, high = net.tmp / "low.json", net.tmp / "high.json"
    low.write_text(format_state(b"\x01" * 16))
    high.write_text(format_state(b"\xfe" * 16))
    watch = net.watch(net.c)
    holder = net.announce(net.a, "twin", "--state-file", str(high))
    watch.wait_event(joined("twin"))
    newcomer = net.announce(net.b, "twin", "--state-file", str(low))
    _, event = watch.wait_event(joined("twin-2"))
    assert event["host_id"] == "01" * 16
    newcomer.wait_err("is held by host " + "fe" * 16)
    # The holder said goodbye: the newcomer returns to "twin".
    assert holder.stop(signal.SIGTERM) == 0
    _, renamed = watch.wait_event(
        lambda e: e["event"] == "renamed" and e["name"] == "twin", limit=3.0
    )
    assert renamed["host_id"] == "01" * 16
    assert renamed["old_name"] == "twin-2"
    newcomer.stop()
    # Neither the holder nor the newcomer ever announced anything else.
    names = {
        (e["host_id"], e["name"])
        for _, e in watch.events()
        if e["event"] in {"joined", "renamed", "refreshed"}
    }
    assert names == {("fe" * 16, "twin"), ("01" * 16, "twin-2"), ("01" * 16, "twin")}
    assert not holder.err_lines("is held by")
