"""getaddrinfo latency: linkname's NSS module vs nss-mdns + avahi vs LLMNR.

    .venv/bin/python -m bench.nss [--count N] [--seconds S] [--neighbours N]

One run, one link: host "local" and host "kitchen" in network namespaces
joined by a veth pair. "kitchen" answers for its name three ways at once:
``linkname announce --name kitchen-pi``, avahi-daemon (host name
kitchen-pi, so ``kitchen-pi.local``) and systemd-resolved (LLMNR responder
for ``kitchen-pi``). On "local", ``gai_latency`` (bench/nss/gai_latency.c)
times getaddrinfo(NAME, AF_UNSPEC, SOCK_STREAM) for a known and an unknown
name through each resolver, in a mount namespace of its own with its own
nsswitch.conf:

* linkname: ``hosts: files linkname``, the module fresh from nss/, its table
  file holding N neighbours (default 1,000) written by the daemon's writer
  (``hostsfile.format_table``); kitchen-pi, with its real addresses (link-
  local, global, IPv4), is the last record (the worst case of the module's
  linear scan), kitchen-ll (its link-local address alone, what
  ``linkname announce`` sends on a link without global addresses) the one
  before;
* mDNS: ``hosts: files mdns_minimal [NOTFOUND=return]``, avahi-daemon running
  in that mount namespace (enable-dbus=no);
* LLMNR: ``hosts: files resolve [!UNAVAIL=return]``, systemd-resolved running
  in that mount namespace (LLMNR=yes, no DNS servers, no D-Bus).

avahi-daemon, nss-mdns, systemd-resolved and nss-resolve are Debian's
packages, fetched with ``apt-get download`` and unpacked with ``dpkg -x``
under .cache/bench-nss/ (nothing is installed, no service started on the
machine). Needs root and ``ip netns``. Writes .cache/bench/nss.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, write
from custom_components.linkname.protocol.hostsfile import HostRecord, format_table
from tests.netns import Lab, Netns

CACHE = ROOT / ".cache" / "bench-nss"
PREFIX = CACHE / "prefix"
DEBS = [
    "avahi-daemon",
    "libavahi-core7",
    "libdaemon0",
    "libnss-mdns",
    "systemd-resolved",
    "libnss-resolve",
]
LINKNAME = [sys.executable, "-m", "linkname"]

AVAHI_CONF = """\
[server]
host-name={host}
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=eth0
enable-dbus=no
ratelimit-interval-usec=1000000
ratelimit-burst=10000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
"""
RESOLVED_CONF = """\
[Resolve]
DNS=
FallbackDNS=
LLMNR=yes
MulticastDNS=no
DNSStubListener=no
"""


def sh(*args: str) -> str:
    return shlex.join(args)


def fetch_anchors() -> str | None:
    """Unpack the Debian packages of the anchors; None, or why not."""
    marker = PREFIX / ".complete"
    if marker.exists():
        return None
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return "not a Debian system (apt-get, dpkg)"
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["apt-get", "download", *DEBS],
        cwd=debs,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return f"apt-get download failed: {result.stderr.strip()[-300:]}"
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(PREFIX)], check=True)
    marker.write_text("\n".join(sorted(p.name for p in debs.glob("*.deb"))) + "\n")
    return None


def find(pattern: str) -> Path:
    found = sorted(PREFIX.glob(pattern))
    if not found:
        raise FileNotFoundError(f"{pattern} not in {PREFIX}")
    return found[0]


def build(work: Path) -> tuple[Path, Path]:
    """The module (fresh build) and gai_latency."""
    module_dir = work / "nss-build"
    subprocess.run(
        ["make", "-s", "-C", str(ROOT / "nss"), f"BUILD={module_dir}", "all"],
        check=True,
    )
    gai = work / "gai_latency"
    subprocess.run(
        [
            os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-Werror",
            "-o", str(gai), str(ROOT / "bench/nss/gai_latency.c"), "-ldl",
        ],
        check=True,
    )  # fmt: skip
    return module_dir, gai


def lookup_script(
    setup: str, gai: Path, names: list[str], count: int, secs: float
) -> str:
    runs = "; ".join(sh(str(gai), name, str(count), str(secs)) for name in names)
    # the daemon the setup started in the background ($D) stops with the script
    return f'set -e; D=; {setup}; {runs}; [ -z "$D" ] || kill $D'


def run_lookups(
    ns: Netns, script: str, env: dict[str, str], timeout: float
) -> list[dict[str, Any]]:
    result = ns.run(
        "unshare", "-m", "-u", "--propagation", "private", "sh", "-c", script,
        env={**os.environ, **env}, timeout=timeout,
    )  # fmt: skip
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise RuntimeError(f"no results ({result.returncode}): {result.stderr[-1500:]}")
    return lines


def private_etc(work: Path, host: str) -> str:
    """Shell lines: tmpfs /run, host name, passwd with systemd-resolve."""
    passwd, group = work / f"passwd-{host}", work / f"group-{host}"
    passwd.write_text(
        Path("/etc/passwd").read_text()
        + "systemd-resolve:x:990:990::/:/usr/sbin/nologin\n"
    )
    group.write_text(Path("/etc/group").read_text() + "systemd-resolve:x:990:\n")
    etc_systemd = work / f"etc-systemd-{host}"
    etc_systemd.mkdir(exist_ok=True)
    (etc_systemd / "resolved.conf").write_text(RESOLVED_CONF)
    avahi = work / f"avahi-{host}.conf"
    avahi.write_text(AVAHI_CONF.format(host=host))
    return "; ".join(
        [
            sh("hostname", host),
            "mount -t tmpfs bench-nss /run",
            "mkdir -p /run/systemd /run/avahi-daemon /run/linkname",
            sh("mount", "--bind", str(passwd), "/etc/passwd"),
            sh("mount", "--bind", str(group), "/etc/group"),
            sh("mount", "--bind", str(etc_systemd), "/etc/systemd"),
        ]
    )


def wait_for(what: str, path_in_ns: str) -> str:
    return (
        f"i=0; while [ ! -S {path_in_ns} ]; do i=$((i+1)); "
        f'[ $i -lt 100 ] || {{ echo "{what} did not start" >&2; exit 1; }}; '
        "sleep 0.05; done"
    )


def table_file(path: Path, kitchen: Netns, ifindex: int, neighbours: int) -> None:
    """N records from the daemon's writer; kitchen-pi's real addresses last."""
    expiry = int(time.time()) + 3600
    records = [
        HostRecord(
            name=f"host-{i:04d}",
            addresses=(
                f"fe80::{i + 1:x}:1",
                f"2001:db8:2::{i + 1:x}",
                f"10.9.{i // 256}.{i % 256}",
            ),
            expires=expiry,
            ifindex=ifindex,
        )
        for i in range(neighbours - 2)
    ]
    records.append(  # announced only its link-local address (the default)
        HostRecord(
            name="kitchen-ll",
            addresses=(kitchen.link_local("eth0"),),
            expires=expiry,
            ifindex=ifindex,
        )
    )
    records.append(
        HostRecord(
            name="kitchen-pi",
            addresses=(kitchen.link_local("eth0"), "2001:db8:1::7", "192.0.2.7"),
            expires=expiry,
            ifindex=ifindex,
        )
    )
    path.write_bytes(format_table(records))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nss")
    parser.add_argument("--count", type=int, default=5000, help="calls per name")
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="time limit per name"
    )
    parser.add_argument("--neighbours", type=int, default=1000)
    args = parser.parse_args()
    why_not = fetch_anchors()
    if why_not:
        print(f"anchors not available: {why_not}", file=sys.stderr)
    lab = Lab(dad=False)
    procs: list[subprocess.Popen[str]] = []
    results: dict[str, Any] = {"neighbours": args.neighbours, "resolvers": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-nss-") as tmp:
            work = Path(tmp)
            module_dir, gai = build(work)
            local, kitchen = lab.netns("local"), lab.netns("kitchen")
            lab.veth(local, "eth0", kitchen, "eth0")
            kitchen.ip("addr", "add", "2001:db8:1::7/64", "dev", "eth0", "nodad")
            kitchen.ip("addr", "add", "192.0.2.7/24", "dev", "eth0")
            local.ip("addr", "add", "192.0.2.1/24", "dev", "eth0")
            local.link_local("eth0")
            kitchen.link_local("eth0")
            ifindex = local.ifindex("eth0")

            # kitchen: linkname, avahi and systemd-resolved answer for kitchen-pi
            procs.append(
                kitchen.popen(
                    *LINKNAME, "announce", "-i", "eth0", "--name", "kitchen-pi",
                    "--state-file", str(work / "kitchen.state"),
                    "--runtime-dir", str(work / "kitchen-run"),
                )
            )  # fmt: skip
            anchors = why_not is None
            if anchors:
                lib = find("usr/lib/*/libavahi-core.so.7").parent
                nss_lib = find("lib/*/libnss_mdns_minimal.so.2").parent
                resolve_lib = find("usr/lib/*/libnss_resolve.so.2").parent
                avahi = find("usr/sbin/avahi-daemon")
                resolved = find("lib/systemd/systemd-resolved")
                setup = private_etc(work, "kitchen-pi")
                flags = "--no-drop-root --no-chroot --no-rlimits"
                responder = (
                    f"{setup}; "
                    f"{avahi} -f {work}/avahi-kitchen-pi.conf {flags} & "
                    f"{resolved} & wait"
                )
                procs.append(
                    kitchen.popen(
                        "unshare", "-m", "-u", "--propagation", "private",
                        "sh", "-c", responder,
                        env={**os.environ, "LD_LIBRARY_PATH": str(lib)},
                    )
                )  # fmt: skip

            conf_dir = work / "conf"
            conf_dir.mkdir()
            run_dir = work / "local-run"
            run_dir.mkdir()
            table_file(run_dir / "hosts", kitchen, ifindex, args.neighbours)
            time.sleep(3)  # responders up, first announcements heard

            def conf(name: str, line: str) -> str:
                path = conf_dir / name
                path.write_text(f"hosts: {line}\n")
                return sh("mount", "--bind", str(path), "/etc/nsswitch.conf")

            base = private_etc(work, "bench-local")
            timeout = 4 * args.seconds + 60
            plan: list[tuple[str, str, list[str], dict[str, str]]] = [
                (
                    "linkname",
                    f"{base}; {conf('linkname', 'files linkname')}; "
                    + sh("mount", "--bind", str(run_dir), "/run/linkname"),
                    ["kitchen-pi", "kitchen-ll", "nobody-here"],
                    {"LD_LIBRARY_PATH": str(module_dir)},
                ),
            ]
            module = module_dir / "libnss_linkname.so.2"
            if anchors:
                mdns_conf = conf("mdns", "files mdns_minimal [NOTFOUND=return]")
                resolve_conf = conf("resolve", "files resolve [!UNAVAIL=return]")
                plan += [
                    (
                        "nss-mdns + avahi-daemon",
                        f"{base}; {mdns_conf}; "
                        f"{avahi} -f {work}/avahi-bench-local.conf {flags} "
                        f">{work}/avahi-local.log 2>&1 & D=$!; "
                        + wait_for("avahi-daemon", "/run/avahi-daemon/socket")
                        + "; sleep 2",
                        ["kitchen-pi.local", "nobody-here.local"],
                        {"LD_LIBRARY_PATH": f"{nss_lib}:{lib}"},
                    ),
                    (
                        "systemd-resolved LLMNR",
                        f"{base}; {resolve_conf}; "
                        f"{resolved} >{work}/resolved-local.log 2>&1 & D=$!; "
                        + wait_for(
                            "systemd-resolved",
                            "/run/systemd/resolve/io.systemd.Resolve",
                        )
                        + "; sleep 2",
                        ["kitchen-pi", "nobody-here"],
                        {"LD_LIBRARY_PATH": str(resolve_lib)},
                    ),
                ]
            for label, setup, names, env in plan:
                script = lookup_script(setup, gai, names, args.count, args.seconds)
                if label == "linkname":  # and the module's own share
                    script += "; " + "; ".join(
                        sh(str(gai), n, str(args.count), str(args.seconds), str(module))
                        for n in names
                    )
                try:
                    rows = run_lookups(local, script, env, timeout)
                except (RuntimeError, subprocess.TimeoutExpired) as err:
                    print(f"{label}: failed: {err}", file=sys.stderr)
                    results["resolvers"][label] = {"error": str(err)[-500:]}
                    continue
                results["resolvers"][label] = {r["name"]: r for r in rows[: len(names)]}
                if rows[len(names) :]:
                    results["resolvers"]["linkname module alone"] = {
                        r["name"]: r for r in rows[len(names) :]
                    }
    finally:
        for proc in procs:
            lab.stop(proc)
        lab.cleanup()

    print(f"\ngetaddrinfo, AF_UNSPEC, {args.neighbours} neighbours in linkname's table")
    print(
        f"{'resolver':26} {'name':20} {'calls':>6} {'ok':>6} {'p50 µs':>10} "
        f"{'p99 µs':>10} {'max µs':>10}"
    )
    for label, rows in results["resolvers"].items():
        if "error" in rows:
            print(f"{label:26} error: {rows['error'][:60]}")
            continue
        for name, r in rows.items():
            print(
                f"{label:26} {name:20} {r['calls']:>6} {r['answers']:>6} "
                f"{r['p50_us']:>10.1f} {r['p99_us']:>10.1f} {r['max_us']:>10.1f}"
            )
    for label, rows in results["resolvers"].items():
        for name, r in rows.items() if "error" not in rows else ():
            if r["answers"]:
                print(f"{label}: {name} -> {', '.join(r['addresses'])}")
    if why_not:
        results["anchors_missing"] = why_not
    write("nss", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
