"""The ``linkname announce`` daemon: every suitable interface, one identity.

* Interfaces: those named (``--interface``, ``interfaces``), else every
  interface :mod:`ifselect` finds suitable, re-scanned when rtnetlink
  reports a link or address change (and every ``rescan_interval`` seconds
  in any case).  An endpoint, once made, follows its interface by itself
  (down/up, address changes, re-creation: the endpoint's own recovery); it
  is closed only when the interface is gone or no longer allowed.  With no
  suitable interface the daemon logs that once and waits.
* Identity: one :class:`~linkname.host.Host` (host ID from the state file,
  one boot ID and one sequence space, the keys, the name and its defence)
  builds the endpoint of every interface, so receivers see one host.
* Control socket (:mod:`control`): ``status``, ``resolve`` and ``watch``
  for anyone, ``announce`` and ``reload`` for root.
* Table file (:mod:`hostsfile`, for the NSS module): ``RUNTIME_DIR/hosts``,
  the host's own name and every interface's neighbours, kept up to date
  and removed at the end.
* SIGHUP (:meth:`Daemon.reload`): re-reads the configuration file and
  applies what changed; a bad file is logged and the old settings stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import __version__, control, hostsfile, ifselect
from .announcer import validate_attribute
from .auth import BadKeyError, Key, key_ring
from .codec import validate_name
from .config import Config, ConfigError, load_config, merge, runtime_dir
from .const import DEFAULT_INTERVAL
from .endpoint import CHECK_INTERVAL, UP, Endpoint, EndpointError
from .host import Host
from .hostinfo import HostInfo, describe
from .state import StateError, default_state_path, load_or_create_host_id
from .table import (
    Event,
    Joined,
    Neighbour,
)

_LOGGER = logging.getLogger("linkname")

RESCAN_INTERVAL = 30.0  # seconds between scans without netlink news
# With rtnetlink telling of every change, an endpoint checks its interface
# this seldom by itself (else every CHECK_INTERVAL, 1 s: the poll was most
# of an idle daemon's CPU time).
FOLLOW_INTERVAL = 30.0
RESCAN_DEBOUNCE = 0.2  # gather a burst of netlink messages into one scan
MAX_RESOLVE_TIMEOUT = 10.0
FALLBACK_NAME = "linkname-host"


def _carriable(text: str | None) -> str | None:
    """``text`` if an attribute TLV may carry it (section 4.6), else None."""
    if text is None:
        return None
    try:
        return validate_attribute("attribute", text)
    except ValueError:
        _LOGGER.debug("not announced (not valid attribute text): %r", text)
        return None


class DaemonError(Exception):
    """The daemon cannot start (one line for the user, exit status 2)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the daemon needs; ``overrides`` (the command line) win over
    the file at start and at every reload."""

    config: Config = field(default_factory=Config)
    config_file: Path | None = None
    config_required: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    software: str | None = f"linkname {__version__}"
    state_path: Path | None = None
    runtime_dir: Path | None = None
    hostinfo_root: Path = Path("/")
    rescan_interval: float = RESCAN_INTERVAL
    default_name: str = FALLBACK_NAME  # used when no name is configured
    # --key-file (repeatable: all accepted, the first signs); given, they
    # replace the file's key_file
    key_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Views:
    """How the command shows things (its JSON forms), shared with ``watch``."""

    event_json: Callable[[Event], dict[str, Any]]
    neighbour_json: Callable[[Neighbour], dict[str, Any]]
    with_zone: Callable[[str, str], str]


class Daemon:
    """Runs until :meth:`stop`; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        views: Views,
    ) -> None:
        self.settings = settings
        self.config = settings.config
        self.views = views
        self.keys: list[Key] = []
        self.host: Host | None = None
        self.info = HostInfo()
        self.served: list[str] = []  # the interfaces at the end (goodbye)
        self.skipped: list[ifselect.Choice] = []
        self.control: control.ControlServer | None = None
        self.files: hostsfile.HostsFileWriter | None = None
        self.started_at = time.time()
        self.reloads = 0
        self._monitor: ifselect.LinkMonitor | None = None
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._waiting_logged = False
        self._open_errors: dict[str, str] = {}
        self._scan_lock = asyncio.Lock()

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        """The endpoints by interface (empty before :meth:`start`)."""
        return {} if self.host is None else self.host.endpoints

    @property
    def name(self) -> str:
        """The name announced now (``NAME-N`` while another host holds it)."""
        return "" if self.host is None else self.host.name or ""

    # -- settings ------------------------------------------------------------

    @property
    def explicit(self) -> tuple[str, ...]:
        """Interfaces named by the user (empty: choose automatically)."""
        return self.config.interfaces

    def _load_keys(self, config: Config) -> list[Key]:
        paths = self.settings.key_files
        if not paths and config.key_file is not None:
            paths = (config.key_file,)
        keys = []
        for path in paths:
            try:
                keys.append(Key.from_file(path))
            except BadKeyError as err:
                raise DaemonError(f"bad key file {path}: {err}") from None
        try:
            key_ring(keys)
        except BadKeyError as err:
            raise DaemonError(f"bad key files: {err}") from None
        return keys

    def _describe(self, config: Config) -> HostInfo:
        info = describe(
            details=config.details,
            model=config.model,
            manufacturer=config.manufacturer,
            os=config.os,
            root=self.settings.hostinfo_root,
        )
        # What the host's files hold is dropped, not fatal, if the protocol
        # cannot carry it (overrides were checked at start already).
        return HostInfo(
            model=_carriable(info.model),
            manufacturer=_carriable(info.manufacturer),
            os=_carriable(info.os),
        )

    def _software(self, config: Config) -> str | None:
        return self.settings.software if config.details else None

    # -- wiring --------------------------------------------------------------

    def make_endpoint(self, interface: str) -> Endpoint:
        """The endpoint of ``interface``, built by the host (its identity,
        keys, name and interval; not started)."""
        assert self.host is not None
        every = CHECK_INTERVAL if self._monitor is None else FOLLOW_INTERVAL
        return self.host.add_interface(interface, check_interval=every)

    @property
    def interval(self) -> float:
        """Seconds between announcements (configured, else the default)."""
        return self.config.interval or DEFAULT_INTERVAL

    # -- life cycle ----------------------------------------------------------

    async def start(self) -> None:
        """Identity, endpoints, control socket; raises :class:`DaemonError`."""
        config = self.config
        self.keys = self._load_keys(config)
        state_path = self.settings.state_path or default_state_path()
        try:
            host_id = load_or_create_host_id(state_path)
        except (StateError, OSError) as err:
            raise DaemonError(str(err)) from None
        self.info = self._describe(config)
        try:
            self.host = Host(
                host_id=host_id,
                name=config.name or self.settings.default_name,
                keys=self.keys,
                interval=self.interval,
                model=self.info.model,
                os=self.info.os,
                software=self._software(config),
                manufacturer=self.info.manufacturer,
                on_event=self._on_event,
                on_state=self._on_state,
            )
        except (ValueError, BadKeyError) as err:
            raise DaemonError(str(err)) from None
        if self.explicit:
            for interface in self.explicit:
                endpoint = self.make_endpoint(interface)
                try:
                    await endpoint.start()
                except EndpointError as err:
                    await self._close_all()
                    raise DaemonError(err.message) from None
            # Netlink only once the named interfaces proved to exist.
            self._ensure_monitor()
            if self._monitor is not None:
                for endpoint in self.endpoints.values():
                    endpoint.check_interval = FOLLOW_INTERVAL
        else:
            self._ensure_monitor()
            await self.rescan()
        await self._start_control()
        self._start_files()
        where = ", ".join(self.endpoints) or "no interface yet"
        _LOGGER.info(
            "announcing %r on %s (host ID %s)", self.name, where, host_id.hex()
        )

    async def run(self) -> None:
        """Follow the interfaces until :meth:`stop`, then say goodbye."""
        try:
            while not self._stop.is_set():
                changed = asyncio.ensure_future(self._changed.wait())
                stopped = asyncio.ensure_future(self._stop.wait())
                await asyncio.wait(
                    [changed, stopped],
                    timeout=self.settings.rescan_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                changed.cancel()
                stopped.cancel()
                if self._stop.is_set():
                    break
                if self._changed.is_set():
                    await asyncio.sleep(RESCAN_DEBOUNCE)
                    self._changed.clear()
                if not self.explicit:
                    await self.rescan()
        finally:
            await self.close()

    def stop(self) -> None:
        """Ask :meth:`run` to end (goodbye on every interface)."""
        self._stop.set()

    async def close(self) -> None:
        """Goodbye everywhere, close the control socket and the monitor."""
        if self._monitor is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._monitor.fileno())
            self._monitor.close()
            self._monitor = None
        if self.control is not None:
            await self.control.close()
            self.control = None
        if self.files is not None:
            self.files.close()
            self.files = None
        self.served = list(self.endpoints)
        await self._close_all()

    async def _close_all(self) -> None:
        if self.host is not None:
            await self.host.close()
        self._sync_files()

    def _on_netlink(self) -> None:
        if self._monitor is not None and self._monitor.drain():
            self._changed.set()  # re-scan (automatic mode)
            for endpoint in self.endpoints.values():
                endpoint.check_now()

    # -- interfaces ----------------------------------------------------------

    async def rescan(self) -> None:
        """Open endpoints on new suitable interfaces, close those gone."""
        async with self._scan_lock:
            await self._rescan()

    def _ensure_monitor(self) -> None:
        if self._monitor is not None:
            return
        with contextlib.suppress(OSError):
            self._monitor = ifselect.LinkMonitor()
        if self._monitor is not None:
            asyncio.get_running_loop().add_reader(
                self._monitor.fileno(), self._on_netlink
            )

    async def _rescan(self) -> None:
        try:
            choices = ifselect.suitable_interfaces(self.config.exclude)
        except OSError as err:
            _LOGGER.debug("interface scan failed: %s", err)
            return
        self.skipped = [c for c in choices if not c.selected]
        keep = {
            c.name
            for c in choices
            if c.selected or (c.waiting and c.name in self.endpoints)
        }
        for name in [n for n in self.endpoints if n not in keep]:
            _LOGGER.info("%s: no longer used (%s)", name, self._why(choices, name))
            await self._remove(name)
        for choice in choices:
            if choice.selected and choice.name not in self.endpoints:
                await self._open(choice.name)
        if self.endpoints:
            if self._waiting_logged:
                _LOGGER.info("interfaces: %s", ", ".join(self.endpoints))
            self._waiting_logged = False
        elif not self._waiting_logged:
            self._waiting_logged = True
            _LOGGER.warning(
                "no suitable interface (up, multicast, IPv6 link-local); waiting"
            )

    @staticmethod
    def _why(choices: list[ifselect.Choice], name: str) -> str:
        for choice in choices:
            if choice.name == name:
                return choice.reason
        return "gone"

    async def _remove(self, interface: str) -> None:
        if self.host is not None and interface in self.host.endpoints:
            await self.host.remove_interface(interface)
        self._sync_files()

    async def _open(self, interface: str) -> None:
        endpoint = self.make_endpoint(interface)
        try:
            await endpoint.start()
        except EndpointError as err:
            await self._remove(interface)
            if self._open_errors.get(interface) != err.message:
                self._open_errors[interface] = err.message
                _LOGGER.warning("%s: cannot use it: %s", interface, err.message)
            return
        self._open_errors.pop(interface, None)
        self._sync_files()
        _LOGGER.info("%s: using it", interface)

    # -- events --------------------------------------------------------------

    def _on_event(self, interface: str, event: Event) -> None:
        if self.files is not None:
            self.files.on_event(event)
        if self.control is not None and self.control.watchers:
            data = self.views.event_json(event)
            data["interface"] = interface
            self.control.publish(data)

    def _on_state(self, interface: str, state: str) -> None:
        if self.files is not None:
            self.files.request()
        if self.control is not None and self.control.watchers:
            self.control.publish(
                {
                    "event": "state",
                    "state": state,
                    "interface": interface,
                    "time": round(time.time(), 3),
                }
            )

    # -- reload --------------------------------------------------------------

    async def reload(self) -> list[str]:
        """Re-read the file, apply what changed; the changed keys.

        Raises :class:`ConfigError` or :class:`DaemonError` (nothing is
        changed then).
        """
        settings = self.settings
        if settings.config_file is None:
            base = Config()
        else:
            base = load_config(settings.config_file, required=settings.config_required)
        new = merge(base, **settings.overrides)
        old = self.config
        changed = [
            f.name
            for f in fields(Config)
            if getattr(new, f.name) != getattr(old, f.name)
        ]
        keys = self._load_keys(new) if "key_file" in changed else self.keys
        self.reloads += 1
        self.config = new
        if not changed:
            return []
        host = self.host
        assert host is not None
        if "key_file" in changed or "interfaces" in changed:
            # New tables (verification keys) or another set of interfaces:
            # start over on every interface with the same identity.
            await host.close()
            self.keys = keys
            host.keys = key_ring(keys)
            host.signing_key = keys[0] if keys else None
        if "name" in changed:
            host.set_name(new.name or settings.default_name)
        if {"details", "model", "manufacturer", "os"} & set(changed):
            self.info = self._describe(new)
            host.set_attributes(
                model=self.info.model,
                os=self.info.os,
                software=self._software(new),
                manufacturer=self.info.manufacturer,
            )
        host.set_interval(self.interval)
        if {"interval", "details", "model", "manufacturer", "os"} & set(changed):
            for endpoint in host.endpoints.values():
                endpoint.announce_now()
        path = control.socket_path(self.runtime_dir())
        if self.control is None or self.control.path != path:
            await self._restart_control()
        if self.files is None or self.files.path.parent != self.runtime_dir():
            if self.files is not None:
                self.files.close()
            self._start_files()
        if self.explicit:
            for interface in self.explicit:
                if interface not in self.endpoints:
                    await self._open(interface)
        else:
            await self.rescan()
        _LOGGER.info("configuration reloaded: %s changed", ", ".join(changed))
        return changed

    # -- control socket ------------------------------------------------------

    def runtime_dir(self) -> Path:
        """Flag, environment, file, default (see :func:`config.runtime_dir`)."""
        explicit = self.settings.runtime_dir
        return runtime_dir(None if explicit is None else str(explicit), self.config)

    async def _start_control(self) -> None:
        server = control.ControlServer(
            control.socket_path(self.runtime_dir()),
            commands={
                "status": control.Command(self._cmd_status),
                "resolve": control.Command(self._cmd_resolve),
                "announce": control.Command(self._cmd_announce, privileged=True),
                "reload": control.Command(self._cmd_reload, privileged=True),
            },
            snapshot=self.snapshot,
        )
        try:
            await server.start()
        except (OSError, control.ControlError) as err:
            _LOGGER.warning(
                "no control socket (status, watch and resolve will not find this "
                "daemon): %s",
                err,
            )
            return
        self.control = server
        _LOGGER.debug("control socket %s", server.path)

    def _start_files(self) -> None:
        """Begin writing the table file of the NSS module."""
        writer = hostsfile.HostsFileWriter(self.runtime_dir() / hostsfile.FILE_NAME)

        def own() -> list[hostsfile.HostRecord]:
            return [
                record
                for endpoint in self.endpoints.values()
                for record in hostsfile.own_records(endpoint, writer.clock)
            ]

        writer.own = own
        writer.sources = list(self.endpoints.values())
        self.files = writer
        writer.start()

    def _sync_files(self) -> None:
        """The interfaces changed: the table file follows."""
        if self.files is not None:
            self.files.sources = list(self.endpoints.values())
            self.files.request()

    async def _restart_control(self) -> None:
        if self.control is not None:
            await self.control.close()
            self.control = None
        await self._start_control()

    async def _cmd_status(self, request: dict[str, Any]) -> dict[str, Any]:
        del request
        return {"status": self.status()}

    async def _cmd_resolve(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["name"]
        if not isinstance(name, str):
            raise TypeError("name must be a string")
        validate_name(name)
        timeout = request.get("timeout", 0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError("timeout must be a number")
        timeout = min(max(float(timeout), 0.0), MAX_RESOLVE_TIMEOUT)
        found = self.find(name)
        if not found and timeout > 0:  # ask the link, as the host itself
            up = [e for e in self.endpoints.values() if e.state == UP]
            if up:
                await asyncio.gather(
                    *(e.resolve(name, timeout) for e in up), return_exceptions=True
                )
            found = self.find(name)
        return {"neighbours": found}

    async def _cmd_announce(self, request: dict[str, Any]) -> dict[str, Any]:
        del request
        sent = [n for n, e in self.endpoints.items() if e.announce_now()]
        return {"announced": sent}

    async def _cmd_reload(self, request: dict[str, Any]) -> dict[str, Any]:
        del request
        try:
            changed = await self.reload()
        except (ConfigError, DaemonError) as err:
            raise ValueError(str(err)) from None
        return {"changed": changed}

    # -- views ---------------------------------------------------------------

    def find(self, name: str) -> list[dict[str, Any]]:
        """Neighbours called ``name`` on any interface, one per host, with
        zoned addresses (``fe80::1%eth0``)."""
        merged: dict[bytes, dict[str, Any]] = {}
        if self.host is not None:
            for interface, neighbour in self.host.find(name):  # holder first
                self._merge(merged, interface, neighbour, 0.0)
        return list(merged.values())

    def _merge(
        self,
        merged: dict[bytes, dict[str, Any]],
        interface: str,
        neighbour: Neighbour,
        now: float,
    ) -> None:
        zoned = [self.views.with_zone(a, interface) for a in neighbour.addresses]
        entry = merged.get(neighbour.host_id)
        if entry is None:
            entry = self.views.neighbour_json(neighbour)
            entry["addresses"] = []
            entry["interfaces"] = []
            if now:
                entry["seen_ago"] = round(now - neighbour.last_seen, 1)
                entry["expires_in"] = round(neighbour.expires - now, 1)
            merged[neighbour.host_id] = entry
        entry["interfaces"].append(interface)
        entry["addresses"] += [a for a in zoned if a not in entry["addresses"]]

    def snapshot(self) -> list[dict[str, Any]]:
        """What a new watcher gets first: interface states, then neighbours."""
        out: list[dict[str, Any]] = []
        stamp = round(time.time(), 3)
        for interface, endpoint in self.endpoints.items():
            out.append(
                {
                    "event": "state",
                    "state": endpoint.state,
                    "interface": interface,
                    "time": stamp,
                }
            )
        for interface, endpoint in self.endpoints.items():
            for neighbour in endpoint.table:
                data = self.views.event_json(Joined(neighbour))
                data["interface"] = interface
                data["snapshot"] = True
                out.append(data)
        return out

    def status(self) -> dict[str, Any]:
        """Everything ``linkname status`` shows."""
        now = asyncio.get_running_loop().time()
        host = self.host
        interfaces = []
        merged: dict[bytes, dict[str, Any]] = {}
        rejected: dict[str, int] = {}
        for interface, endpoint in self.endpoints.items():
            table = endpoint.table
            counts = {r.value: c for r, c in sorted(table.rejected.items())}
            for reason, count in counts.items():
                rejected[reason] = rejected.get(reason, 0) + count
            interfaces.append(
                {
                    "name": interface,
                    "state": endpoint.state,
                    "down_reason": endpoint.down_reason,
                    "source": endpoint.source,
                    "addresses": list(endpoint.addresses),
                    "neighbours": len(table),
                    "accepted": table.accepted,
                    "looped": table.looped,
                    "rejected": counts,
                    "received": endpoint.counters.received,
                    "sent": endpoint.counters.sent,
                    "os_errors": endpoint.counters.os_errors,
                }
            )
            for neighbour in table:
                self._merge(merged, interface, neighbour, now)
        counters = self.control.counters if self.control is not None else None
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started_at, 1),
            "name": self.name,
            "host_id": host.host_id.hex() if host else None,
            "boot_id": host.boot_id if host else None,
            "configured_name": host.configured_name if host else None,
            "signed": bool(self.keys),
            "details": self.config.details,
            "model": self.info.model,
            "manufacturer": self.info.manufacturer,
            "os": self.info.os,
            "interval": self.interval,
            "config_file": (
                None
                if self.settings.config_file is None
                else str(self.settings.config_file)
            ),
            "reloads": self.reloads,
            "mode": "named" if self.explicit else "automatic",
            "interfaces": interfaces,
            "skipped": [{"name": c.name, "reason": c.reason} for c in self.skipped],
            "neighbours": sorted(
                merged.values(), key=lambda n: (n["name"].casefold(), n["host_id"])
            ),
            "rejected": rejected,
            "control": None
            if counters is None
            else {
                "connections": counters.connections,
                "requests": counters.requests,
                "bad_requests": counters.bad_requests,
                "refused": counters.refused,
                "dropped": counters.dropped,
            },
        }
