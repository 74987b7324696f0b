"""The ``linkname`` command: announce, watch, resolve.

Exit status: 0 success; 1 ``resolve`` found nobody; 2 usage or setup error
(unknown interface, no IPv6 link-local address, port or permission problem,
bad key file, bad state file, bad configuration file), always as one line
on stderr; 3 ``status`` found no daemon.
"""

from __future__ import annotations

from . import _lean  # noqa: F401 - before asyncio, see its docstring

# isort: split
import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from . import __version__, control, hostsfile
from .announcer import validate_attribute
from .auth import BadKeyError, Key, key_ring
from .codec import validate_name
from .config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_RUNTIME_DIR,
    ENV_CONFIG,
    ENV_RUNTIME_DIR,
    ConfigError,
    check_attribute,
    check_interface_name,
    config_path,
    load_config,
    merge,
    runtime_dir,
)
from .const import DEFAULT_INTERVAL, MAX_NAME_BYTES
from .control import ControlError
from .daemon import Daemon, DaemonError, Settings, Views
from .endpoint import EndpointError
from .host import Host
from .state import default_state_path
from .table import (
    AddressChanged,
    Conflict,
    Event,
    Joined,
    Left,
    Neighbour,
    Queried,
    Refreshed,
    Rejected,
    Renamed,
    Updated,
)

_LOGGER = logging.getLogger("linkname")
EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_ERROR = 2
EXIT_NOT_RUNNING = 3  # status: no daemon
FALLBACK_NAME = "linkname-host"


class UsageError(Exception):
    """A one-line error for the user (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2), as promised."""

    def error(self, message: str) -> NoReturn:
        """Print ``linkname: error: MESSAGE (see '... --help')`` and exit 2."""
        text = " ".join(message.split())
        self.exit(EXIT_ERROR, f"linkname: error: {text} (see '{self.prog} --help')\n")


# -- helpers -----------------------------------------------------------------


def valid_name_from(text: str) -> str:
    """Make a valid linkname name of ``text`` (e.g. the host name).

    Keeps the first DNS label, NFC-normalises, drops characters a name may
    not hold and cuts to 63 bytes; falls back to ``linkname-host``.
    """
    label = unicodedata.normalize("NFC", text).split(".", 1)[0]
    label = "".join(ch for ch in label if ch == " " or ch.isprintable())
    label = label.strip()
    while len(label.encode("utf-8")) > MAX_NAME_BYTES:
        label = label[:-1].rstrip()
    try:
        return validate_name(label)
    except ValueError:
        return FALLBACK_NAME


def _load_keys(paths: Sequence[str] | None) -> list[Key]:
    """The keys of ``--key-file`` (repeatable; the first one signs)."""
    keys = []
    warned: set[str] = set()
    for path in paths or ():
        try:
            key, mode = Key.from_file_with_mode(path)
        except BadKeyError as err:
            raise UsageError(f"bad key file {path}: {err}") from None
        keys.append(key)
        real = os.path.realpath(path)
        if mode & 0o044 and real not in warned:
            warned.add(real)
            _LOGGER.warning(
                "key file %s is readable by %s: make it readable only by "
                "linkname (chmod 600, or systemd's LoadCredential=)",
                path,
                "group and others"
                if mode & 0o044 == 0o044
                else ("others" if mode & 0o004 else "group"),
            )
    try:
        key_ring(keys)
    except BadKeyError as err:
        raise UsageError(f"bad key files {', '.join(paths or ())}: {err}") from None
    return keys


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 5 <= value <= 3600:
        raise argparse.ArgumentTypeError("the interval is 5 to 3600 seconds")
    return value


def _name(text: str) -> str:
    try:
        return validate_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _attribute(what: str) -> Callable[[str], str]:
    """An argparse type: a valid MODEL, OS or SOFTWARE text (section 4.6)."""

    def check(text: str) -> str:
        try:
            return validate_attribute(what, text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    check.__name__ = what  # argparse names the type in some messages
    return check


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("the timeout is >0 and at most 3600 s")
    return value


def _stop_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def neighbour_json(neighbour: Neighbour) -> dict[str, Any]:
    """The JSON form of a neighbour (``watch --json``)."""
    return {
        "name": neighbour.name,
        "host_id": neighbour.host_id.hex(),
        "addresses": list(neighbour.addresses),
        "model": neighbour.model,
        "os": neighbour.os,
        "software": neighbour.software,
        "manufacturer": neighbour.manufacturer,
        "ttl": neighbour.ttl,
        "signed": neighbour.signed,
    }


def event_json(event: Event) -> dict[str, Any]:
    """The JSON form of a table event (one line of ``watch --json``)."""
    out: dict[str, Any]
    match event:
        case Joined(neighbour):
            out = {"event": "joined", **neighbour_json(neighbour)}
        case Updated(neighbour, changed):
            out = {"event": "updated", **neighbour_json(neighbour)}
            out["changed"] = sorted(changed)
        case Renamed(neighbour, old_name):
            out = {"event": "renamed", **neighbour_json(neighbour)}
            out["old_name"] = old_name
        case AddressChanged(neighbour, old_addresses):
            out = {"event": "address_changed", **neighbour_json(neighbour)}
            out["old_addresses"] = list(old_addresses)
        case Refreshed(neighbour):
            out = {"event": "refreshed", **neighbour_json(neighbour)}
        case Left(neighbour, reason):
            out = {"event": "left", **neighbour_json(neighbour), "reason": reason}
        case Conflict(name, host_ids, holder):
            out = {
                "event": "conflict",
                "name": name,
                "host_ids": [h.hex() for h in host_ids],
                "holder": holder.hex(),
            }
        case Rejected(reason, source, detail):
            out = {
                "event": "rejected",
                "reason": reason.value,
                "source": source,
                "detail": detail,
            }
        case Queried(message, meta):
            out = {
                "event": "queried",
                "source": meta.source,
                "host_id": message.host_id.hex(),
                "query_name": message.query_name,
            }
    out["time"] = round(time.time(), 3)
    return out


def with_zone(address: str, interface: str) -> str:
    """``address%interface`` for an IPv6 link-local address, else ``address``."""
    try:
        packed = socket.inet_pton(socket.AF_INET6, address)
    except OSError:
        return address
    if packed[0] == 0xFE and packed[1] & 0xC0 == 0x80:
        return f"{address}%{interface}"
    return address


def _print_json(stream: TextIO, data: dict[str, Any]) -> None:
    stream.write(json.dumps(data, ensure_ascii=False) + "\n")
    stream.flush()


# -- announce ----------------------------------------------------------------


async def run_announce(args: argparse.Namespace) -> int:
    """``linkname announce``: the daemon (every suitable interface, or those
    named) until SIGINT/SIGTERM, then GOODBYE; SIGHUP reloads the file.

    One :class:`~linkname.host.Host` serves every interface, so the name is
    defended as the spec says (section 6.3, :class:`~linkname.announcer.NameClaim`)
    on all of them at once.
    """
    settings = daemon_settings(args)
    views = Views(event_json, neighbour_json, with_zone)
    agent = Daemon(settings, views)
    stop = _stop_event()
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    async def reload() -> None:
        await started.wait()  # a SIGHUP during the start waits for it
        try:
            await agent.reload()
        except (ConfigError, DaemonError) as err:
            _LOGGER.error("reload failed, settings unchanged: %s", err)

    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = asyncio.ensure_future(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await agent.start()
    except DaemonError as err:
        loop.remove_signal_handler(signal.SIGHUP)
        raise UsageError(str(err)) from None
    started.set()
    runner = asyncio.ensure_future(agent.run())
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        agent.stop()
        await runner
    where = ", ".join(agent.served) or "no interface"
    _LOGGER.info("said goodbye on %s", where)
    return EXIT_OK


def _attribute_flag(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        return check_attribute(value)
    except ValueError as err:
        raise UsageError(f"{flag}: must be {err}") from None


def daemon_settings(args: argparse.Namespace) -> Settings:
    """The daemon's settings: the configuration file, then the flags."""
    path, required = config_path(args.config)
    try:
        file_config = load_config(path, required=required)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    interfaces = args.interface or []
    for interface in interfaces:
        try:
            check_interface_name(interface)
        except ValueError as err:
            raise UsageError(f"--interface {interface!r}: {err}") from None
    overrides: dict[str, Any] = {
        "name": args.name,
        "interfaces": interfaces,
        "exclude": args.exclude or [],
        "interval": args.interval,
        "details": False if args.no_details else None,
        "model": _attribute_flag(args.model, "--model"),
        "manufacturer": _attribute_flag(args.manufacturer, "--manufacturer"),
        "os": _attribute_flag(args.os, "--os"),
    }
    if args.name is not None:
        try:
            validate_name(args.name)
        except ValueError as err:
            raise UsageError(str(err)) from None
    config = merge(file_config, **overrides)
    return Settings(
        config=config,
        config_file=path,
        config_required=required,
        overrides=overrides,
        software=_attribute_flag(args.software, "--software"),
        state_path=Path(args.state_file) if args.state_file else default_state_path(),
        runtime_dir=Path(args.runtime_dir) if args.runtime_dir else None,
        default_name=valid_name_from(socket.gethostname()),
        key_files=tuple(args.key_file or ()),
    )


# -- watch -------------------------------------------------------------------


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def render_table(
    neighbours: Sequence[Neighbour], now: float, interface: str, footer: str = ""
) -> str:
    """The neighbour table as text (``watch`` on a terminal)."""
    header = ("NAME", "LINK-LOCAL", "OTHER ADDRESSES", "HOST ID", "SEEN", "EXPIRES")
    rows = [
        (
            n.name + (" (signed)" if n.signed else ""),
            n.link_local,
            " ".join(n.addresses[1:]) or "-",
            n.host_id.hex()[:12],
            _age(now - n.last_seen) + " ago",
            "in " + _age(n.expires - now),
        )
        for n in sorted(neighbours, key=lambda n: (n.name.casefold(), n.host_id))
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"linkname neighbours on {interface}: {len(rows)}", ""]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    if footer:
        lines += ["", footer]
    return "\n".join(lines) + "\n"


async def run_watch(args: argparse.Namespace) -> int:
    """``linkname watch``: the live neighbour table until SIGINT/SIGTERM.

    Uses the daemon's table when one runs here (and serves the interface
    named, if any), else listens on ``--interface`` itself.
    """
    path = await _daemon_for(args)
    if path is not None:
        return await watch_daemon(args, path)
    keys = _load_keys(args.key_file)
    out = sys.stdout
    as_json = args.json or not out.isatty()
    dirty = asyncio.Event()

    def on_event(_interface: str, event: Event) -> None:
        if as_json:
            _print_json(out, event_json(event))
        elif not isinstance(event, Refreshed | Queried):
            dirty.set()

    def on_state(_interface: str, state: str) -> None:
        if as_json:
            _print_json(
                out, {"event": "state", "state": state, "time": round(time.time(), 3)}
            )
        dirty.set()

    host = Host(keys=keys, on_event=on_event, on_state=on_state)
    endpoint = host.add_interface(args.interface)
    files = hostsfile.follow(endpoint, args.runtime_dir, by_default=False)
    stop = _stop_event()
    try:
        await endpoint.start()
    except EndpointError as err:
        raise UsageError(err.message) from None
    loop = asyncio.get_running_loop()
    if files is not None:
        files.start()
    try:
        while not stop.is_set():
            if not as_json:
                table = endpoint.table
                rejected = sum(table.rejected.values())
                footer = (
                    f"state {endpoint.state}; accepted {table.accepted}, "
                    f"rejected {rejected}; Ctrl-C to quit"
                )
                text = render_table(list(table), loop.time(), args.interface, footer)
                out.write("\x1b[H\x1b[2J" + text)
                out.flush()
            dirty.clear()
            waits = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(dirty.wait()),
            ]
            _done, pending = await asyncio.wait(
                waits, timeout=1.0, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
    finally:
        if files is not None:
            files.close()
        await host.close()
    if as_json:
        table = endpoint.table
        _print_json(
            out,
            {
                "event": "stats",
                "accepted": table.accepted,
                "looped": table.looped,
                "rejected": {r.value: c for r, c in sorted(table.rejected.items())},
                "received": endpoint.counters.received,
                "sent": endpoint.counters.sent,
                "os_errors": endpoint.counters.os_errors,
                "time": round(time.time(), 3),
            },
        )
    return EXIT_OK


# -- resolve -----------------------------------------------------------------


async def run_resolve(args: argparse.Namespace) -> int:
    """``linkname resolve NAME``: print the addresses; 1 when not found."""
    try:
        validate_name(args.name)
    except ValueError as err:
        raise UsageError(str(err)) from None
    path = await _daemon_for(args)
    if path is not None:
        return await resolve_daemon(args, path)
    keys = _load_keys(args.key_file)
    host = Host(keys=keys)
    endpoint = host.add_interface(args.interface, query_on_up=False)
    try:
        await endpoint.start()
    except EndpointError as err:
        raise UsageError(err.message) from None
    try:
        found = await endpoint.resolve(args.name, args.timeout)
    finally:
        await host.close()
    # The table lists the holder of the name first (section 6.3).
    seen: set[str] = set()
    for neighbour in found:
        for address in neighbour.addresses:
            text = with_zone(address, args.interface)
            if text not in seen:
                seen.add(text)
                print(text)
    return EXIT_OK if found else EXIT_NOT_FOUND


# -- the daemon's clients: watch, resolve, status ------------------------------


def _client_runtime_dir(args: argparse.Namespace) -> Path:
    """Flag, $LINKNAME_RUNTIME_DIR, the file's ``runtime_dir``, default."""
    if args.runtime_dir or os.environ.get(ENV_RUNTIME_DIR):
        return runtime_dir(args.runtime_dir)
    path, required = config_path(None)
    try:
        file_config = load_config(path, required=required)
    except ConfigError:
        file_config = None  # the daemon reports a bad file; clients go on
    return runtime_dir(None, file_config)


async def _daemon_for(args: argparse.Namespace) -> Path | None:
    """The control socket to use for ``watch``/``resolve``, or None (then
    the command works on its own, which needs ``--interface``)."""
    path: Path | None = None
    if not args.no_daemon:
        path = control.socket_path(_client_runtime_dir(args))
    if path is not None and not path.exists():
        path = None  # no daemon (and no connect attempt)
    if path is not None:
        try:
            status = (await control.request(path, {"cmd": "status"}, 2.0))["status"]
        except (ControlError, TimeoutError, KeyError):
            path = None
        else:
            names = [i["name"] for i in status.get("interfaces", ())]
            if args.interface is not None and args.interface not in names:
                path = None
            elif args.key_file is not None and not status.get("signed"):
                path = None  # the caller asks for signed-only: the daemon is not
    if path is None and args.interface is None:
        raise UsageError(
            "no linkname daemon is running here; name an interface (--interface IF)"
        )
    return path


async def watch_daemon(args: argparse.Namespace, path: Path) -> int:
    """``watch`` on the daemon's table (its event stream)."""
    out = sys.stdout
    as_json = args.json or not out.isatty()
    stop = _stop_event()
    try:
        stream = await control.open_watch(path)
    except ControlError as err:
        raise UsageError(str(err)) from None

    async def pump() -> None:
        async for item in stream:
            if args.interface is not None and item.get("interface") not in (
                None,
                args.interface,
            ):
                continue
            if as_json:
                _print_json(out, item)

    async def repaint() -> None:
        while True:
            try:
                status = (await control.request(path, {"cmd": "status"}))["status"]
            except ControlError as err:
                raise UsageError(str(err)) from None
            out.write("\x1b[H\x1b[2J" + render_status(status) + "\nCtrl-C to quit\n")
            out.flush()
            await asyncio.sleep(1.0)

    tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(stop.wait())]
    if not as_json:
        tasks.append(asyncio.ensure_future(repaint()))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # UsageError from repaint
    finally:
        for task in tasks:
            task.cancel()
        await stream.aclose()
    if as_json:
        stats: dict[str, Any] = {"event": "stats", "source": "daemon"}
        with contextlib.suppress(ControlError, TimeoutError, KeyError):
            status = (await control.request(path, {"cmd": "status"}, 2.0))["status"]
            chosen = [
                i
                for i in status["interfaces"]
                if args.interface is None or i["name"] == args.interface
            ]
            stats["accepted"] = sum(i["accepted"] for i in chosen)
            stats["looped"] = sum(i["looped"] for i in chosen)
            rejected: dict[str, int] = {}
            for i in chosen:
                for reason, count in i["rejected"].items():
                    rejected[reason] = rejected.get(reason, 0) + count
            stats["rejected"] = rejected
            stats["received"] = sum(i["received"] for i in chosen)
            stats["sent"] = sum(i["sent"] for i in chosen)
            stats["os_errors"] = sum(i["os_errors"] for i in chosen)
        stats["time"] = round(time.time(), 3)
        _print_json(out, stats)
    return EXIT_OK


async def resolve_daemon(args: argparse.Namespace, path: Path) -> int:
    """``resolve`` from the daemon's table (it asks the link only when the
    name is not there)."""
    try:
        answer = await control.request(
            path,
            {"cmd": "resolve", "name": args.name, "timeout": args.timeout},
            args.timeout + 5.0,
        )
    except ControlError as err:
        raise UsageError(str(err)) from None
    seen: set[str] = set()
    for neighbour in answer.get("neighbours", ()):
        for address in neighbour["addresses"]:
            zone = address.partition("%")[2]
            if args.interface is not None and zone and zone != args.interface:
                continue
            if address not in seen:
                seen.add(address)
                print(address)
    return EXIT_OK if seen else EXIT_NOT_FOUND


def render_status(status: dict[str, Any]) -> str:
    """The daemon's status as text (``linkname status``)."""
    signed = ", signed" if status.get("signed") else ""
    lines = [
        f"linkname {status['version']}: {status['name']!r}, host ID "
        f"{status['host_id']}{signed}; pid {status['pid']}, up "
        f"{_age(status['uptime'])}, {status['mode']} interfaces",
    ]
    about = [f"{k} {status[k]}" for k in ("model", "manufacturer", "os") if status[k]]
    if not status.get("details"):
        lines.append("announces name and addresses only (details off)")
    elif about:
        lines.append("announces " + "; ".join(about))
    else:
        lines.append("announces no model or OS (none found)")
    lines.append("")
    interfaces = [
        [
            i["name"],
            i["state"] + ("" if i["state"] == "up" else f" ({i['down_reason']})"),
            i["source"] or "-",
            str(i["neighbours"]),
            str(i["received"]),
            str(i["sent"]),
            str(sum(i["rejected"].values())),
        ]
        for i in status["interfaces"]
    ]
    if interfaces:
        lines += _columns(
            [
                "INTERFACE",
                "STATE",
                "SOURCE",
                "NEIGHBOURS",
                "RECEIVED",
                "SENT",
                "REJECTED",
            ],
            interfaces,
        )
    else:
        lines.append("no interface in use (waiting for one)")
    skipped = status.get("skipped") or []
    if skipped:
        lines.append(
            "skipped: " + ", ".join(f"{s['name']} ({s['reason']})" for s in skipped)
        )
    neighbours = status["neighbours"]
    lines += ["", f"neighbours: {len(neighbours)}"]
    if neighbours:
        rows = [
            [
                n["name"] + (" (signed)" if n.get("signed") else ""),
                " ".join(n["addresses"]),
                n["host_id"][:12],
                _age(n.get("seen_ago", 0)) + " ago",
                "in " + _age(n.get("expires_in", 0)),
            ]
            for n in neighbours
        ]
        lines += _columns(["NAME", "ADDRESSES", "HOST ID", "SEEN", "EXPIRES"], rows)
    rejected = status.get("rejected") or {}
    counts = ", ".join(f"{r} {c}" for r, c in sorted(rejected.items()))
    lines += ["", f"rejected: {counts or 'none'}"]
    return "\n".join(lines) + "\n"


def _columns(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


async def run_status(args: argparse.Namespace) -> int:
    """``linkname status``: the daemon's interfaces, neighbours and counters;
    exit status 3 when no daemon runs here."""
    path = control.socket_path(_client_runtime_dir(args))
    try:
        status = (await control.request(path, {"cmd": "status"}))["status"]
    except ControlError as err:
        print(f"linkname: no daemon running here ({err})", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.json:
        _print_json(sys.stdout, status)
    else:
        sys.stdout.write(render_status(status))
    return EXIT_OK


# -- main --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``linkname`` command."""
    parser = _Parser(
        prog="linkname",
        description="Announce and find hosts by name on the local link "
        "(linkname/1: IPv6 ff02::1:1, UDP 1903).",
    )
    parser.add_argument(
        "--version", action="version", version=f"linkname {__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debugging details"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, *, daemon: bool = False) -> None:
        if daemon:
            p.add_argument(
                "-i",
                "--interface",
                action="append",
                metavar="IF",
                help="network interface (repeatable; default: every suitable one)",
            )
        else:
            p.add_argument(
                "-i",
                "--interface",
                metavar="IF",
                help="network interface (default: the daemon's, when one runs)",
            )
            p.add_argument(
                "--no-daemon",
                action="store_true",
                help="do not use a running daemon: listen on --interface directly",
            )
        runtime_dir_option(p)
        p.add_argument(
            "--key-file",
            action="append",
            metavar="FILE",
            help="shared key: sign what is sent, accept only signed messages "
            "(repeatable for key rotation: all are accepted, the first signs)",
        )

    announce = sub.add_parser(
        "announce", help="announce this host until stopped (SIGINT/SIGTERM)"
    )
    common(announce, daemon=True)
    announce.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="skip interfaces matching this shell pattern (repeatable)",
    )
    announce.add_argument(
        "--config",
        metavar="FILE",
        help=f"configuration file (default {DEFAULT_CONFIG_PATH}, if present; "
        f"or ${ENV_CONFIG})",
    )
    announce.add_argument(
        "--no-details",
        action="store_true",
        help="announce only the name and addresses (no model, OS, software)",
    )
    announce.add_argument(
        "--name",
        type=_name,
        help="name to announce (default: the host name, made valid)",
    )
    announce.add_argument(
        "--interval",
        type=_interval,
        default=None,
        metavar="S",
        help=f"seconds between announcements (default {DEFAULT_INTERVAL:g})",
    )
    announce.add_argument(
        "--state-file",
        metavar="FILE",
        help=f"host ID state file (default {default_state_path()})",
    )
    announce.add_argument(
        "--model", type=_attribute("model"), help="announced model (default: found)"
    )
    announce.add_argument(
        "--os",
        type=_attribute("os"),
        help="announced operating system (default: found)",
    )
    announce.add_argument(
        "--manufacturer",
        type=_attribute("manufacturer"),
        help="announced manufacturer (default: found)",
    )
    announce.add_argument(
        "--software",
        type=_attribute("software"),
        default=f"linkname {__version__}",
        help="announced software text (default: %(default)s)",
    )

    watch = sub.add_parser("watch", help="show the neighbour table live")
    common(watch)
    watch.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per event and line (default when not a terminal)",
    )

    resolve = sub.add_parser("resolve", help="print the addresses of a name")
    resolve.add_argument("name", metavar="NAME", type=_name)
    common(resolve)
    resolve.add_argument(
        "--timeout",
        type=_timeout,
        default=3.0,
        metavar="S",
        help="seconds to wait for an answer (default 3)",
    )
    status = sub.add_parser(
        "status", help="the running daemon: interfaces, neighbours, counters"
    )
    runtime_dir_option(status)
    status.add_argument("--json", action="store_true", help="one JSON object")
    return parser


def runtime_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--runtime-dir DIR``: where the daemon's control socket is."""
    parser.add_argument(
        "--runtime-dir",
        metavar="DIR",
        help=f"runtime directory: the daemon's control socket and the table "
        f"file of the NSS module (default ${ENV_RUNTIME_DIR}, else "
        f"{DEFAULT_RUNTIME_DIR})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linkname`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    default_level = logging.INFO if args.command == "announce" else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else default_level,
        format="linkname: %(message)s",
        stream=sys.stderr,
    )
    runner = {
        "announce": run_announce,
        "watch": run_watch,
        "resolve": run_resolve,
        "status": run_status,
    }[args.command]
    try:
        return asyncio.run(runner(args))
    except UsageError as err:
        print(f"linkname: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
