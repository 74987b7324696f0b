"""The host agent end to end: real ``linkname`` processes on real links.

Host ``h`` has two interfaces, eth0 and eth1, on one bridge with host
``w``, plus Docker's bridge with a container's veth on it.  ``linkname
announce`` runs in ``h`` with no ``--interface`` (every suitable one) and a
configuration file; ``w`` announces and watches.  What must hold:

* ``h`` announces on eth0 and eth1 with one identity: ``w`` sees one
  neighbour (one host ID, never left or restarted), with the model and
  manufacturer of the file;
* docker0 and the veth are skipped, and ``linkname status`` says so;
* ``resolve`` and ``status`` in ``h`` answer from the daemon's table;
* SIGHUP applies an edited file (a new name, seen by ``w``);
* a bad file is one line naming the file and the key, exit status 2.

Needs no Home Assistant (no ``world``): its own namespaces, removed at the
end also on failure.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.procs import LINKNAME
from tests.netns import Lab, Netns
from tests.proc import Proc

netns = pytest.mark.netns


def start(lab: Lab, ns: Netns, *args: str) -> Proc:
    proc = Proc(ns.popen(LINKNAME, *args))
    lab.add_finalizer(lambda: proc.stop(signal.SIGTERM, 3.0))
    return proc


def terminal_watch(lab: Lab, ns: Netns, *args: str) -> str:
    """What ``linkname watch`` shows on a terminal (a pty) within 1.5 s."""
    master, slave = pty.openpty()
    try:
        proc = ns.popen(LINKNAME, "watch", *args, stdout=slave)
        os.close(slave)
        slave = -1
        out = b""
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            ready = select.select([master], [], [], 0.1)[0]
            if ready:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
        lab.stop(proc)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return out.decode(errors="replace")


def run(ns: Netns, *args: str) -> subprocess.CompletedProcess[str]:
    return ns.run(LINKNAME, *args, timeout=20)


@netns
def test_agent_on_two_interfaces(fast_lab: Lab, tmp_path: Path) -> None:
    h, w, c = fast_lab.netns("h"), fast_lab.netns("w"), fast_lab.netns("c")
    switch = fast_lab.bridge([h, w])
    fast_lab.veth(switch, "p9", h, "eth1", up=False)
    switch.ip("link", "set", "p9", "master", "br0")
    switch.set_link("p9", True)
    h.set_link("eth1", True)
    h.ip("link", "add", "docker0", "type", "bridge")
    fast_lab.veth(h, "veth1a2b", c, "eth0", up=False)
    h.ip("link", "set", "veth1a2b", "master", "docker0")
    for name in ("docker0", "veth1a2b"):
        h.set_link(name, True)
    c.set_link("eth0", True)
    for name in ("eth0", "eth1"):
        h.link_local(name)
    w_ll = w.link_local("eth0")

    run_h, run_w = tmp_path / "run-h", tmp_path / "run-w"
    config = tmp_path / "linkname.toml"
    config.write_text(
        'name = "dual"\nmodel = "Box 3000"\nmanufacturer = "Acme"\nos = "TestOS"\n'
    )
    watch = start(
        fast_lab, w, "watch", "--interface", "eth0", "--json", "--no-daemon",
        "--runtime-dir", str(run_w),
    )  # fmt: skip
    watch.wait_event(lambda e: e["event"] == "state" and e["state"] == "up")
    peer = start(
        fast_lab, w, "announce", "--interface", "eth0", "--name", "wpeer",
        "--interval", "5", "--state-file", str(tmp_path / "w.json"),
        "--runtime-dir", str(run_w),
    )  # fmt: skip
    agent = start(
        fast_lab, h, "announce", "--config", str(config), "--interval", "5",
        "--state-file", str(tmp_path / "h.json"), "--runtime-dir", str(run_h),
    )  # fmt: skip
    _, joined = watch.wait_event(
        lambda e: e["event"] == "joined" and e["name"] == "dual", limit=10
    )
    assert (joined["model"], joined["manufacturer"], joined["os"]) == (
        "Box 3000",
        "Acme",
        "TestOS",
    )
    # Both interfaces' start bursts arrive; the watcher keeps one neighbour.
    time.sleep(3.0)
    watch.pump(0.1)
    about_dual = [e for _, e in watch.events() if e.get("host_id") == joined["host_id"]]
    assert [e["event"] for e in about_dual if e["event"] == "joined"] == ["joined"]
    assert not [e for e in about_dual if e["event"] == "left"]
    names = {e["name"] for _, e in watch.events() if e["event"] == "joined"}
    assert names == {"dual", "wpeer"}
    # w's own daemon keeps h as one neighbour with both of h's addresses.
    seen_by_w = json.loads(
        run(w, "status", "--json", "--runtime-dir", str(run_w)).stdout
    )
    [dual] = [n for n in seen_by_w["neighbours"] if n["name"] == "dual"]
    assert set(dual["addresses"]) >= {
        f"{h.link_local('eth0')}%eth0",
        f"{h.link_local('eth1')}%eth0",
    }

    # status: both interfaces up, docker0 and its veth skipped, the peer seen.
    status = json.loads(run(h, "status", "--json", "--runtime-dir", str(run_h)).stdout)
    assert [(i["name"], i["state"]) for i in status["interfaces"]] == [
        ("eth0", "up"),
        ("eth1", "up"),
    ]
    skipped = {s["name"]: s["reason"] for s in status["skipped"]}
    assert skipped["docker0"].startswith("virtual or container interface")
    assert skipped["veth1a2b"].startswith("virtual or container interface")
    assert status["host_id"] == joined["host_id"]
    [wpeer] = [n for n in status["neighbours"] if n["name"] == "wpeer"]
    assert sorted(wpeer["addresses"]) == [f"{w_ll}%eth0", f"{w_ll}%eth1"]
    text = run(h, "status", "--runtime-dir", str(run_h))
    assert text.returncode == 0
    assert "'dual'" in text.stdout
    assert "docker0 (virtual or container interface" in text.stdout
    assert "manufacturer Acme" in text.stdout

    # resolve answers from the daemon's table at once (no QUERY, no wait).
    started = time.monotonic()
    found = run(h, "resolve", "wpeer", "--runtime-dir", str(run_h))
    assert found.returncode == 0, found.stderr
    assert sorted(found.stdout.split()) == [f"{w_ll}%eth0", f"{w_ll}%eth1"]
    assert time.monotonic() - started < 2.0
    only = run(h, "resolve", "wpeer", "-i", "eth1", "--runtime-dir", str(run_h))
    assert only.stdout.split() == [f"{w_ll}%eth1"]
    missing = run(
        h, "resolve", "nobody", "--timeout", "0.5", "--runtime-dir", str(run_h)
    )
    assert missing.returncode == 1
    # watch through the daemon: its snapshot first.
    via = start(fast_lab, h, "watch", "--json", "--runtime-dir", str(run_h))
    via.wait_event(lambda e: e["event"] == "joined" and e["name"] == "wpeer")
    assert via.stop() == 0
    # ... and on a terminal: the daemon's status, repainted.
    screen = terminal_watch(fast_lab, h, "--runtime-dir", str(run_h))
    assert "INTERFACE" in screen
    assert "wpeer" in screen
    assert "Ctrl-C to quit" in screen

    # SIGHUP: the edited file applies; the watcher sees the new name.
    config.write_text('name = "dual2"\ndetails = false\n')
    mark = len(watch.events())
    agent.popen.send_signal(signal.SIGHUP)
    _, renamed = watch.wait_event(
        lambda e: e.get("host_id") == joined["host_id"] and e.get("name") == "dual2",
        limit=10,
        after=mark,
    )
    agent.wait_err("configuration reloaded")
    assert (renamed["event"], renamed["old_name"]) == ("renamed", "dual")
    assert (renamed["model"], renamed["manufacturer"], renamed["os"]) == (None,) * 3

    # Goodbye on both interfaces at the end.
    assert agent.stop() == 0
    assert agent.err_lines("said goodbye on eth0, eth1")
    watch.wait_event(
        lambda e: e["event"] == "left" and e.get("host_id") == joined["host_id"],
        limit=5,
        after=mark,
    )
    assert not (run_h / "control").exists()
    peer.stop()


@netns
def test_bad_configuration_is_one_line_exit_2(fast_lab: Lab, tmp_path: Path) -> None:
    ns = fast_lab.netns("cfg")  # nothing to announce on, even if it started
    cases = {
        "colour = 'red'\n": "unknown key 'colour'",
        "interval = 1\n": "key 'interval': must be 5 to 3600 seconds",
        "name = \n": "not valid TOML",
        "details = 'yes'\n": "key 'details': must be true or false",
    }
    for text, expected in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        result = run(ns, "announce", "--config", str(path))
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"linkname: error: {path}: ")
        assert expected in lines[0]
    result = run(ns, "announce", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    result = run(ns, "announce", "--model", "bad\u202eone")
    assert result.returncode == 2
    assert result.stderr.startswith("linkname: error: argument --model: invalid")
    assert len(result.stderr.strip().splitlines()) == 1


@netns
def test_daemon_without_interfaces_waits(fast_lab: Lab, tmp_path: Path) -> None:
    ns = fast_lab.netns("empty")
    agent = start(
        fast_lab, ns, "announce", "--name", "lonely", "--interval", "5",
        "--state-file", str(tmp_path / "s.json"), "--runtime-dir", str(tmp_path),
    )  # fmt: skip
    agent.wait_err("no suitable interface")
    time.sleep(1.0)
    agent.pump(0.1)
    assert agent.popen.poll() is None  # still running
    assert len(agent.err_lines("no suitable interface")) == 1
    status = run(ns, "status", "--runtime-dir", str(tmp_path))
    assert "no interface in use (waiting for one)" in status.stdout
    assert run(ns, "status", "--runtime-dir", str(tmp_path / "none")).returncode == 3
    other = fast_lab.netns("other")
    fast_lab.veth(ns, "eth0", other, "eth0")
    agent.wait_err("eth0: using it", limit=10)
    assert agent.stop() == 0


_ABUSE = """
import json, os, socket, sys, time
path = sys.argv[1]
held = []
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
    return s
for _ in range(3):  # stalled mid-request
    conn().sendall(b'{"cmd": "sta')
for _ in range(2):  # garbage, a line too long, deep JSON
    conn().sendall(os.urandom(3000) + b"\\n" + b"x" * 9000)
conn().sendall(b"[" * 5000 + b"\\n")
watcher = conn()  # a watcher that never reads
watcher.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
watcher.sendall(b'{"cmd": "watch"}\\n')
print("ready", flush=True)
time.sleep(30)
"""


@netns
def test_hostile_control_clients_do_not_block_the_daemon(
    fast_lab: Lab, tmp_path: Path
) -> None:
    a, b = fast_lab.netns("a"), fast_lab.netns("b")
    fast_lab.veth(a, "eth0", b, "eth0")
    a.link_local("eth0")
    b.link_local("eth0")
    agent = start(
        fast_lab, a, "announce", "--name", "steady", "--interval", "5",
        "--state-file", str(tmp_path / "a.json"), "--runtime-dir", str(tmp_path),
    )  # fmt: skip
    agent.wait_err("announcing 'steady'")
    socket_file = str(tmp_path / "control")
    abuse = Proc(a.popen(sys.executable, "-c", _ABUSE, socket_file))
    fast_lab.add_finalizer(lambda: abuse.stop(signal.SIGKILL, 2.0))
    deadline = time.monotonic() + 5
    while not any("ready" in line for _, line in abuse.out):
        assert time.monotonic() < deadline, abuse.err
        abuse.pump(0.05)
    # The daemon still answers the link at once, and root's status.
    for _ in range(3):
        started = time.monotonic()
        found = run(b, "resolve", "steady", "-i", "eth0", "--no-daemon")
        assert found.returncode == 0, found.stderr
        assert time.monotonic() - started < 3.0
        started = time.monotonic()
        status = run(a, "status", "--json", "--runtime-dir", str(tmp_path))
        assert status.returncode == 0, status.stderr
        assert time.monotonic() - started < 3.0
    counters = json.loads(status.stdout)["control"]
    assert counters["bad_requests"] >= 1  # the deep JSON at least
    assert counters["dropped"] >= 2  # the garbage senders
    assert agent.popen.poll() is None
    abuse.stop(signal.SIGKILL, 2.0)
    assert agent.stop() == 0
