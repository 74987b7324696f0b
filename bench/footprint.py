"""Footprint: the linkname daemon beside avahi-daemon, same hosts, same links.

    .venv/bin/python -m bench.footprint [--seconds 300] [--starts 5] [--hosts 100]

One run, side by side: a host namespace ``dut`` with two interfaces (eth0,
eth1: veth links to the namespaces ``n0`` and ``n1``) runs both daemons at
once:

* ``linkname announce`` with Debian's ``/usr/bin/python3`` (the interpreter
  the .deb uses; the core copied and byte-compiled as the package's postinst
  does).  While ``announce`` takes one ``--interface`` (before the
  multi-interface daemon), it is one process per interface, as
  ``linkname@eth0`` and ``linkname@eth1`` would run, and the figures are the
  sum of both; with a daemon that knows ``--exclude`` it is one process on
  every suitable interface.
* ``avahi-daemon`` (Debian's package) on eth0 and eth1, IPv6, no D-Bus, in a
  private mount namespace (its own /run/avahi-daemon, no static services).

``--hosts`` neighbours (half on each link, each with its own link-local
source address) announce every 60 s: a linkname ANNOUNCE (name, three
addresses) and an unsolicited mDNS response (``host-N.local`` AAAA, TTL
120, cache-flush) from port 5353, spread evenly over the minute; at the start
every neighbour announces once.

Measured, for each daemon:
* start-up to the first announcement: from just before exec to the first
  linkname ANNOUNCE, or the first mDNS response (after avahi's probes), that
  a sniffer in ``n0`` receives from the dut; ``--starts`` times, alone on
  the link, before the long run;
* resident memory (VmRSS and Pss, /proc/PID/status and smaps_rollup) at the
  end of the long run;
* CPU seconds per hour: utime + stime over the long run (``--seconds``),
  from 10 s after the start, extrapolated to one hour.
Writes .cache/bench/footprint.json.  Needs root, ``ip netns`` and
avahi-daemon (scripts/system-packages).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._common import OUT_DIR, ROOT, summary, write
from linkname.codec import Message, decode, encode
from linkname.const import ANNOUNCE, GROUP, PORT
from tests.netns import Lab, Netns

MDNS_GROUP, MDNS_PORT = "ff02::fb", 5353
INTERVAL = 60.0
WARMUP = 10.0
DEBIAN_PYTHON = "/usr/bin/python3"
RUNTIME_DIR = Path(f"/dev/shm/linkname-footprint-{os.getpid()}")
CLK_TCK = os.sysconf("SC_CLK_TCK")
AVAHI_CONF = """\
[server]
host-name=dut
use-ipv4=no
use-ipv6=yes
allow-interfaces=eth0,eth1
enable-dbus=no
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-addresses=yes
[reflector]
enable-reflector=no
[rlimits]
"""


def source(link: int, n: int) -> str:
    """The link-local source address of neighbour ``n`` on link ``link``."""
    return f"fe80::b:{link}:{n + 1:x}"


# -- the daemons --------------------------------------------------------------


def core_copy(python: str) -> Path:
    """The core as the .deb installs it, byte-compiled for ``python``."""
    dest = OUT_DIR / "footprint-core"
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "linkname").mkdir(parents=True)
    for module in (ROOT / "custom_components/linkname/protocol").glob("*.py"):
        shutil.copy(module, dest / "linkname" / module.name)
    subprocess.run(
        [python, "-m", "compileall", "-q", str(dest / "linkname")], check=True
    )
    return dest


def multi_interface(python: str, core: Path) -> bool:
    """True when ``linkname announce`` covers every interface itself."""
    out = subprocess.run(
        [python, "-I", "-c", launcher(core), "announce", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "--exclude" in out


def launcher(core: Path) -> str:
    """What /usr/bin/linkname of the .deb does, for ``python -I -c``."""
    return (
        f"import sys; sys.path.insert(0, {str(core)!r}); "
        "sys.argv[0] = 'linkname'; "
        "from linkname.cli import main; raise SystemExit(main())"
    )


class Daemon:
    """One or more processes of one daemon, started in the dut namespace."""

    def __init__(self, label: str, procs: list[subprocess.Popen[str]]) -> None:
        self.label = label
        self.procs = procs

    def cpu_ticks(self) -> int:
        """utime + stime of all its processes, in clock ticks."""
        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1]
            parts = fields.split()
            total += int(parts[11]) + int(parts[12])  # utime, stime
        return total

    def memory(self) -> dict[str, float]:
        """VmRSS and Pss (MiB), summed over its processes."""
        rss = pss = 0
        for proc in self.procs:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            rollup = Path(f"/proc/{proc.pid}/smaps_rollup").read_text()
            for line in rollup.splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        return {"rss_mib": rss / 1024, "pss_mib": pss / 1024}

    def alive(self) -> bool:
        """All processes still run."""
        return all(p.poll() is None for p in self.procs)

    def stop(self, lab: Lab) -> None:
        """SIGTERM (GOODBYE for linkname), wait."""
        for proc in self.procs:
            lab.stop(proc)


def start_linkname(
    lab: Lab, dut: Netns, python: str, core: Path, multi: bool
) -> Daemon:
    """``linkname announce`` on eth0 and eth1 (one or two processes)."""
    base = [python, "-I", "-c", launcher(core), "announce", "--name", "dut"]
    state = OUT_DIR / "footprint-state"
    state.mkdir(parents=True, exist_ok=True)
    # The daemon keeps its control socket and table file in a private
    # runtime directory on tmpfs (as /run/linkname is), not the machine's.
    runs = (
        [["--runtime-dir", str(RUNTIME_DIR)]]
        if multi
        else [["--interface", "eth0"], ["--interface", "eth1"]]
    )
    procs = []
    for n, extra in enumerate(runs):
        cmd = [*base, *extra, "--state-file", str(state / f"host-id-{n}.json")]
        procs.append(
            dut.popen(*cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return Daemon("linkname", procs)


AVAHI_RUN = OUT_DIR / "footprint-avahi-run"


def start_avahi(lab: Lab, dut: Netns, conf: Path) -> Daemon:
    """avahi-daemon in a private mount namespace: its /run/avahi-daemon is
    AVAHI_RUN (so the bench can use its socket), no static services."""
    shutil.rmtree(AVAHI_RUN, ignore_errors=True)
    AVAHI_RUN.mkdir(parents=True)
    script = (
        'mkdir -p /run/avahi-daemon && mount --bind "$1" /run/avahi-daemon'
        " && mount -t tmpfs tmpfs /etc/avahi/services"
        ' && exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f "$0"'
    )
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = dut.popen("sh", "-c", script, str(conf), str(AVAHI_RUN), **quiet)
    return Daemon("avahi-daemon", [proc])


def avahi_resolves(name: str) -> str:
    """Ask avahi-daemon (its simple protocol socket) for ``name``'s IPv6
    address; the neighbours never answer queries, so an answer comes from
    what avahi cached of their announcements."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(AVAHI_RUN / "socket"))
        sock.sendall(f"RESOLVE-HOSTNAME-IPV6 {name}\n".encode())
        return sock.recv(4096).decode().strip()


# -- the link -----------------------------------------------------------------


def open_in(ns: Netns, port: int, group: str, ifname: str) -> socket.socket:
    """A receiving socket in ``ns``, joined to ``group`` on ``ifname``."""
    with ns.entered():
        ifindex = socket.if_nametoindex(ifname)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", port))
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        sock.setblocking(False)
    return sock


def open_sender(ns: Netns, address: str, port: int, ifname: str) -> socket.socket:
    """A socket in ``ns`` sending from ``address`` (and ``port``)."""
    with ns.entered():
        ifindex = socket.if_nametoindex(ifname)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.bind((address, port, 0, ifindex))
    return sock


def mdns_response(name: str, address: str) -> bytes:
    """An unsolicited mDNS response: ``name.local`` AAAA, TTL 120, flush."""
    labels = (name.encode(), b"local")
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    header = struct.pack("!6H", 0, 0x8400, 0, 1, 0, 0)
    record = struct.pack("!HHIH", 28, 0x8001, 120, 16)
    return header + qname + record + socket.inet_pton(socket.AF_INET6, address)


class Neighbours:
    """``hosts`` neighbours on the two links, each announcing every 60 s."""

    def __init__(self, hosts: int, peers: list[Netns]) -> None:
        self.items: list[tuple[socket.socket, socket.socket, str, int, str]] = []
        self.seq = 0
        for n in range(hosts):
            link = n % 2
            address = source(link, n)
            ln = open_sender(peers[link], address, 0, "eth0")
            md = open_sender(peers[link], address, MDNS_PORT, "eth0")
            self.items.append((ln, md, f"host-{n:03d}", n, address))
        self.ifindex = [p.ifindex("eth0") for p in peers]
        self.next = 0
        self.sent = 0

    def announce(self, k: int) -> None:
        """Neighbour ``k`` announces once on both protocols."""
        ln, md, name, n, address = self.items[k]
        link = n % 2
        self.seq += 1
        message = Message(
            ANNOUNCE,
            (0xB0 << 120 | n + 1).to_bytes(16, "big"),
            1,
            self.seq,
            ttl=180,
            name=name,
            addresses=(address, f"fd00::b:{n + 1:x}", f"10.1.{link}.{n + 1}"),
        )
        ln.sendto(encode(message), (GROUP, PORT, 0, self.ifindex[link]))
        md.sendto(
            mdns_response(name, address), (MDNS_GROUP, MDNS_PORT, 0, self.ifindex[link])
        )
        self.sent += 1

    def run(self, seconds: float, daemons: list[Daemon]) -> None:
        """Everyone once, then one neighbour every 60/hosts s."""
        for k in range(len(self.items)):
            self.announce(k)
        step = INTERVAL / len(self.items)
        deadline = time.monotonic() + seconds
        due = time.monotonic() + step
        k = 0
        while time.monotonic() < deadline:
            time.sleep(max(0.0, due - time.monotonic()))
            self.announce(k)
            k = (k + 1) % len(self.items)
            due += step
            if not all(d.alive() for d in daemons):
                raise RuntimeError("a daemon exited during the run")

    def close(self) -> None:
        for ln, md, *_ in self.items:
            ln.close()
            md.close()


# -- measurements -------------------------------------------------------------


def first_from(
    sock: socket.socket, dut_address: str, accept: Any, limit: float
) -> float:
    """monotonic() when ``sock`` first gets a datagram from the dut that
    ``accept(data)`` takes; raises TimeoutError."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError):
            while True:
                data, addr = sock.recvfrom(9000)
                if addr[0].split("%")[0] == dut_address and accept(data):
                    return time.monotonic()
        time.sleep(0.0005)
    raise TimeoutError("no announcement seen")


def is_announce(data: bytes) -> bool:
    with contextlib.suppress(Exception):
        return decode(data).type == ANNOUNCE
    return False


def is_mdns_response(data: bytes) -> bool:
    return len(data) >= 12 and bool(data[2] & 0x80)


def drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(9000)


def startup(
    lab: Lab, dut: Netns, peer: Netns, which: str, *, starts: int, make: Any
) -> list[float]:
    """Seconds from exec to the first announcement, ``starts`` times."""
    dut_address = dut.link_local("eth0")
    port, group, accept = (
        (PORT, GROUP, is_announce)
        if which == "linkname"
        else (MDNS_PORT, MDNS_GROUP, is_mdns_response)
    )
    sock = open_in(peer, port, group, "eth0")
    out = []
    try:
        for _ in range(starts):
            drain(sock)
            t0 = time.monotonic()
            daemon = make()
            try:
                out.append(first_from(sock, dut_address, accept, 15.0) - t0)
            finally:
                daemon.stop(lab)
            time.sleep(1.5)  # let GOODBYEs and avahi's goodbye pass
    finally:
        sock.close()
    return out


@contextlib.contextmanager
def lab_with_links() -> Iterator[tuple[Lab, Netns, list[Netns]]]:
    lab = Lab(dad=False)
    try:
        dut = lab.netns("dut")
        peers = [lab.netns("n0"), lab.netns("n1")]
        for n, peer in enumerate(peers):
            lab.veth(dut, f"eth{n}", peer, "eth0")
        for n, peer in enumerate(peers):
            dut.link_local(f"eth{n}")
            peer.link_local("eth0")
        yield lab, dut, peers
    finally:
        lab.cleanup()


def add_sources(peers: list[Netns], hosts: int) -> None:
    for link, peer in enumerate(peers):
        batch = "".join(
            f"address add {source(link, n)}/64 dev eth0 nodad\n"
            for n in range(hosts)
            if n % 2 == link
        )
        subprocess.run(
            ["ip", "-n", peer.name, "-batch", "-"], input=batch, text=True, check=True
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    python = args.python
    core = core_copy(python)
    multi = multi_interface(python, core)
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    avahi_version = subprocess.run(
        ["avahi-daemon", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    conf = OUT_DIR / "footprint-avahi.conf"
    conf.write_text(AVAHI_CONF)
    result: dict[str, Any] = {
        "python": f"{python} ({version})",
        "avahi": avahi_version,
        "linkname_processes": 1 if multi else 2,
        "hosts": args.hosts,
        "seconds": args.seconds,
        "warmup": WARMUP,
    }
    with lab_with_links() as (lab, dut, peers):
        add_sources(peers, args.hosts)

        def make_linkname() -> Daemon:
            return start_linkname(lab, dut, python, core, multi)

        def make_avahi() -> Daemon:
            return start_avahi(lab, dut, conf)

        n = args.starts
        starts = {
            "linkname": startup(
                lab, dut, peers[0], "linkname", starts=n, make=make_linkname
            ),
            "avahi-daemon": startup(
                lab, dut, peers[0], "avahi", starts=n, make=make_avahi
            ),
        }
        for label, values in starts.items():
            print(f"{label}: start-up to first announcement {summary(values)}")
        neighbours = Neighbours(args.hosts, peers)
        daemons = [make_linkname(), make_avahi()]
        try:
            time.sleep(1.0)
            neighbours.run(WARMUP, daemons)
            before = {d.label: d.cpu_ticks() for d in daemons}
            t0 = time.monotonic()
            neighbours.run(args.seconds, daemons)
            elapsed = time.monotonic() - t0
            after = {d.label: d.cpu_ticks() for d in daemons}
            result["avahi_cache_check"] = avahi_resolves("host-001.local")
            print(
                f"avahi-daemon resolves host-001.local: {result['avahi_cache_check']}"
            )
            for daemon in daemons:
                cpu = (after[daemon.label] - before[daemon.label]) / CLK_TCK
                result[daemon.label] = {
                    "startup_s": summary(starts[daemon.label]),
                    **daemon.memory(),
                    "cpu_s": cpu,
                    "window_s": elapsed,
                    "cpu_s_per_hour": cpu / elapsed * 3600,
                }
        finally:
            for daemon in daemons:
                daemon.stop(lab)
            neighbours.close()
        result["announcements_sent"] = neighbours.sent
    shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument(
        "--python",
        default=DEBIAN_PYTHON if Path(DEBIAN_PYTHON).exists() else sys.executable,
        help="interpreter for linkname (default: Debian's /usr/bin/python3)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("avahi-daemon") is None:
        sys.exit(
            "bench.footprint needs root and avahi-daemon (apt-get install avahi-daemon)"
        )
    result = run(args)
    for label in ("linkname", "avahi-daemon"):
        r = result[label]
        print(
            f"{label:13} RSS {r['rss_mib']:.1f} MiB (Pss {r['pss_mib']:.1f}), "
            f"CPU {r['cpu_s_per_hour']:.2f} s/h ({r['cpu_s']:.2f} s in "
            f"{r['window_s']:.0f} s), start-up median "
            f"{r['startup_s']['median'] * 1000:.0f} ms"
        )
    write("footprint", result)


if __name__ == "__main__":
    main()
