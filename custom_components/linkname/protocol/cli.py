"""The ``linkname`` command: announce, watch, resolve.

Exit status: 0 success; 1 ``resolve`` found nobody; 2 usage or setup error
(unknown interface, no IPv6 link-local address, port or permission problem,
bad key file, bad state file), always as one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
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

from . import __version__
from .announcer import validate_attribute
from .auth import BadKeyError, Key, key_ring
from .codec import validate_name
from .const import DEFAULT_INTERVAL, MAX_NAME_BYTES
from .endpoint import EndpointError
from .host import Host
from .state import StateError, default_state_path, load_or_create_host_id
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
    """``linkname announce``: announce until SIGINT/SIGTERM, then GOODBYE.

    The name is defended as the spec says (section 6.3, implemented by
    :class:`~linkname.announcer.NameClaim`): probed before the first
    announcement, kept against newcomers, ``NAME-N`` only while another
    host held it first.
    """
    keys = _load_keys(args.key_file)
    state_path = Path(args.state_file) if args.state_file else default_state_path()
    try:
        host_id = load_or_create_host_id(state_path)
    except StateError as err:
        raise UsageError(str(err)) from None
    name = args.name if args.name is not None else valid_name_from(socket.gethostname())
    try:
        host = Host(
            host_id=host_id,
            name=name,
            keys=keys,
            interval=args.interval,
            model=args.model,
            os=args.os,
            software=args.software,
            manufacturer=args.manufacturer,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    endpoint = host.add_interface(args.interface)
    stop = _stop_event()
    try:
        await endpoint.start()
    except EndpointError as err:
        raise UsageError(err.message) from None
    _LOGGER.info(
        "announcing %r on %s (host ID %s)", name, args.interface, host_id.hex()
    )
    try:
        await stop.wait()
    finally:
        await host.close()
    _LOGGER.info("said goodbye on %s", args.interface)
    return EXIT_OK


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
    """``linkname watch``: the live neighbour table until SIGINT/SIGTERM."""
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
    stop = _stop_event()
    try:
        await endpoint.start()
    except EndpointError as err:
        raise UsageError(err.message) from None
    loop = asyncio.get_running_loop()
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

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-i", "--interface", required=True, metavar="IF", help="network interface"
        )
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
    common(announce)
    announce.add_argument(
        "--name",
        type=_name,
        help="name to announce (default: the host name, made valid)",
    )
    announce.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL,
        metavar="S",
        help=f"seconds between announcements (default {DEFAULT_INTERVAL:g})",
    )
    announce.add_argument(
        "--state-file",
        metavar="FILE",
        help=f"host ID state file (default {default_state_path()})",
    )
    announce.add_argument(
        "--model", type=_attribute("model"), help="announced model text"
    )
    announce.add_argument(
        "--os", type=_attribute("os"), help="announced operating system text"
    )
    announce.add_argument(
        "--manufacturer",
        type=_attribute("manufacturer"),
        help="announced manufacturer text (revision 2 MANUFACTURER TLV)",
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
    return parser


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
    runner = {"announce": run_announce, "watch": run_watch, "resolve": run_resolve}[
        args.command
    ]
    try:
        return asyncio.run(runner(args))
    except UsageError as err:
        print(f"linkname: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
