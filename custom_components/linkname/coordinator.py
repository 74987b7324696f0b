"""The listener coordinator: one per config entry, that is per interface.

It owns the core's :class:`~.protocol.host.Host` (Home Assistant's identity
on the link: host ID, boot ID, sequence numbers, key, name and the name's
defence), which builds the interface's endpoint (socket, neighbour table,
announcer), and it turns the table's events into what Home Assistant shows:
which neighbours exist, whether each is home, and what each is called.
The table is the one expiry engine: a neighbour is away when the table says
it left (goodbye, or silent for its TTL or the "away after" option).  It is
push-based: nothing polls.  Entities subscribe through the dispatcher and
write state only when something a user can see changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import UNDEFINED

from . import repairs
from .const import (
    CONF_ANNOUNCE_DETAILS,
    CONF_AWAY_AFTER,
    CONF_CAPACITY,
    CONF_HOST_ID,
    CONF_INTERFACE,
    CONF_INTERVAL,
    CONF_KEY,
    CONF_NAME,
    CONF_PUBLISH,
    CONF_REMOVE_AFTER_DAYS,
    CONF_TRACK_NEW,
    DEFAULT_CAPACITY,
    DEFAULT_INTERVAL,
    DOMAIN,
    HA_MANUFACTURER,
    STORAGE_VERSION,
    EndpointState,
    IssueKind,
    SetupError,
)
from .device import Known, interface_device_info, neighbour_device_info
from .protocol.announcer import Announcer
from .protocol.auth import Key
from .protocol.endpoint import Endpoint, EndpointError
from .protocol.host import Host
from .protocol.names import name_key
from .protocol.table import (
    AddressChanged,
    Conflict,
    Event,
    Joined,
    Left,
    LeftReason,
    Neighbour,
    NeighbourTable,
    Refreshed,
    Renamed,
    Updated,
)

_LOGGER = logging.getLogger(__name__)

SAVE_DELAY = 30.0
# Neighbours HA tracks per name (compared by name key): the holder and a few
# more.  Conforming hosts never share a name for long (a newcomer takes a free
# NAME-N, spec 6.3), so more is a misconfigured or hostile host; without the
# cap a same-name flood made a device and entities for every host ID.
MAX_PER_NAME = 4
RESTORE_CHUNK = 200  # stored neighbours read and restored per loop step
STALE_CHECK_INTERVAL_S = 6 * 3600
_HEARD = (Joined, Refreshed, Updated, Renamed, AddressChanged)


def signal_new(entry_id: str) -> str:
    """Dispatcher signal: a neighbour to add entities for (host ID hex)."""
    return f"{DOMAIN}_{entry_id}_new"


def signal_update(entry_id: str, host: str) -> str:
    """Dispatcher signal: a neighbour's data or presence changed."""
    return f"{DOMAIN}_{entry_id}_{host}"


def signal_count(entry_id: str) -> str:
    """Dispatcher signal: the number of neighbours home may have changed."""
    return f"{DOMAIN}_{entry_id}_count"


def signal_state(entry_id: str) -> str:
    """Dispatcher signal: the interface went down or came back."""
    return f"{DOMAIN}_{entry_id}_state"


type LinknameConfigEntry = ConfigEntry[LinknameCoordinator]


class LinknameCoordinator:
    """Listens, announces and tracks neighbours on one interface."""

    def __init__(self, hass: HomeAssistant, entry: LinknameConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.interface: str = entry.data[CONF_INTERFACE]
        self.host_id = bytes.fromhex(entry.data[CONF_HOST_ID])
        self.away_after = 0.0
        self.track_new = True
        self.remove_after_days = 0
        # One table for the entry's lifetime, kept when the host restarts;
        # the host gives it its ID and keys (Host.add_interface).
        self.table = NeighbourTable()
        self._data: dict[str, Any] = {}
        self.host = self._make_host()
        self._apply_options()
        self.endpoint: Endpoint = self.host.add_interface(
            self.interface, table=self.table
        )
        self.known: dict[str, Known] = {}
        self.available = True  # until the endpoint says otherwise
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
        )
        self._stale_timer: Callable[[], None] | None = None
        self._conflicting: set[str] = set()
        # Since when Home Assistant announces its current name (restored from
        # the store when the name is unchanged): who holds a contested name.
        self.own_name_since = time.time()
        self.interface_device_id: str | None = None  # set up in async_setup
        self.online = 0  # neighbours home (kept, not counted per update)
        # Announcements of new hosts not tracked: HA already keeps as many
        # neighbours as the table may hold (memory stays bounded in a flood).
        self.not_tracked = 0
        # Announcements of new hosts not tracked because MAX_PER_NAME already
        # share their name; and how many tracked neighbours share each name.
        self.not_tracked_same_name = 0
        self._per_name: Counter[str] = Counter()
        # Host IDs of Home Assistant's other linkname entries heard on this
        # interface (their interfaces are on this link), and those interfaces.
        self._siblings: dict[str, str] = {}

    # -- configuration, applied live -----------------------------------------

    def _make_host(self) -> Host:
        """Home Assistant's identity from the entry's data: key, name and
        publishing (set at setup and reconfigure; a change needs a new host).

        Home Assistant keeps the configured name in a conflict (``rename``
        False): the user chose it, and the repair issue tells them.
        """
        data = self.entry.data
        key_text: str = data.get(CONF_KEY) or ""
        self._data = dict(data)
        return Host(
            host_id=self.host_id,
            name=data[CONF_NAME] if data.get(CONF_PUBLISH, True) else None,
            keys=[Key.from_text(key_text)] if key_text else [],
            on_event=self._on_event,
            on_state=self._on_state,
            rename=False,
        )

    def _apply_options(self) -> None:
        """Interval, details, away time, tracking, table size: no restart."""
        options = self.entry.options
        self.away_after = float(options.get(CONF_AWAY_AFTER, 0))
        self.table.away_after = self.away_after or None
        self.track_new = bool(options.get(CONF_TRACK_NEW, True))
        self.remove_after_days = int(options.get(CONF_REMOVE_AFTER_DAYS, 0))
        self.table.capacity = int(options.get(CONF_CAPACITY, DEFAULT_CAPACITY))
        self.host.capacity = self.table.capacity
        self.host.set_interval(float(options.get(CONF_INTERVAL, DEFAULT_INTERVAL)))
        # What it runs is an inventory for anyone on the link: the user may
        # keep it to themselves (spec section 11).
        details = bool(options.get(CONF_ANNOUNCE_DETAILS, True))
        self.host.set_attributes(
            model=HA_MANUFACTURER if details else None,
            os=None,
            software=f"Home Assistant {HA_VERSION}" if details else None,
            manufacturer=HA_MANUFACTURER if details else None,
        )

    @property
    def key(self) -> Key | None:
        """The key that signs (and, in the table, verifies), or None."""
        return self.host.signing_key

    @property
    def announcer(self) -> Announcer | None:
        """The interface's announcer (None when not publishing)."""
        return self.endpoint.announcer

    async def async_apply_entry(self) -> None:
        """The entry's data or options changed: apply them without a reload.

        Presence is kept: the table (and what HA knows) stays as it is, so
        no tracker becomes unavailable or away.  A new name is announced at
        once; a new key or a change of publishing re-opens the sockets.
        """
        data = self.entry.data
        if data[CONF_NAME] != self._data.get(CONF_NAME):
            self.own_name_since = time.time()  # a new name: held from now
            self._store.async_delay_save(self._data_to_store, SAVE_DELAY)
        restart = any(
            data.get(conf) != self._data.get(conf) for conf in (CONF_KEY, CONF_PUBLISH)
        )
        if restart:
            # A new key or publishing is a new host on the link (GOODBYE,
            # new boot ID); the table and so what HA shows stay.
            await self.host.close()
            self.host = self._make_host()
            self._apply_options()
            self.endpoint = self.host.add_interface(self.interface, table=self.table)
            try:
                await self.endpoint.start()
            except EndpointError as err:
                _LOGGER.warning(
                    "linkname on %s could not restart (%s); reloading the entry",
                    self.interface,
                    err,
                )
                self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
                return
        else:
            if self.own_name is not None and data[CONF_NAME] != self.own_name:
                self.host.set_name(data[CONF_NAME])
            self._data = dict(data)
            self._apply_options()
        self._arm_stale_check()
        self._update_interface_device()
        self._recheck_conflicts()

    # -- lifecycle ---------------------------------------------------------

    @property
    def own_name(self) -> str | None:
        """The name Home Assistant announces (None when not publishing)."""
        return self.host.name

    def away_time(self, known: Known) -> float:
        """Seconds after the last announcement until a silent one is away."""
        return self.away_after or float(known.ttl)

    async def async_setup(self) -> None:
        """Restore what was known, then open the socket and start."""
        stored = await self._store.async_load() or {}
        for count, (host, data) in enumerate(stored.get("neighbours", {}).items(), 1):
            try:
                self.known[host] = Known(**data)
            except TypeError:
                _LOGGER.debug("Dropping unreadable stored neighbour %s", host)
            if count % RESTORE_CHUNK == 0:
                await asyncio.sleep(0)
        # Not away just because Home Assistant restarted: present neighbours
        # go back into the table for a full away time from now; the start
        # QUERY makes them answer well before.
        own = stored.get("own", {})
        if own.get("name") == self.own_name and isinstance(own.get("since"), float):
            self.own_name_since = min(own["since"], self.own_name_since)
        now, wall = self.hass.loop.time(), time.time()
        for count, (host, known) in enumerate(list(self.known.items()), 1):
            try:
                if known.present and not self.table.restore(
                    known.to_neighbour(now, now + self.away_time(known), wall)
                ):
                    known.present = False  # the table is full
            except ValueError as err:
                # Not what any valid announcement gives: edited or corrupt.
                _LOGGER.debug("Dropping invalid stored neighbour %s: %s", host, err)
                del self.known[host]
            if count % RESTORE_CHUNK == 0:
                await asyncio.sleep(0)  # 1,000 in one go held the loop ~10 ms
        self.online = sum(1 for known in self.known.values() if known.present)
        self._per_name = Counter(name_key(known.name) for known in self.known.values())
        self._update_interface_device()
        try:
            await self.endpoint.start()
        except EndpointError as err:
            if err.code == SetupError.PORT_IN_USE:
                self._raise_issue(IssueKind.PORT_IN_USE, ir.IssueSeverity.ERROR)
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key=f"setup_{err.code}",
                translation_placeholders={
                    "interface": self.interface,
                    "error": str(err),
                },
            ) from err
        self._clear_issue(IssueKind.PORT_IN_USE)
        self._on_state(self.interface, self.endpoint.state)  # down at start
        self._arm_stale_check()
        self._recheck_conflicts()

    def _arm_stale_check(self) -> None:
        if self._stale_timer is not None:
            self._stale_timer()
            self._stale_timer = None
        if self.remove_after_days:
            self._stale_timer = async_track_time_interval(
                self.hass,
                self._async_remove_stale,
                timedelta(seconds=STALE_CHECK_INTERVAL_S),
            )
            self._async_remove_stale()

    async def async_shutdown(self) -> None:
        """Send the goodbye, close the socket, save, stop every timer."""
        if self._stale_timer is not None:
            self._stale_timer()
            self._stale_timer = None
        await self.host.close()
        await self._store.async_save(self._data_to_store())
        # Runtime conditions are re-evaluated by the next setup.
        self._clear_issue(IssueKind.INTERFACE_DOWN)
        self._clear_issue(IssueKind.NAME_CONFLICT)
        self._clear_issue(IssueKind.SAME_LINK)

    # -- repair issues -------------------------------------------------------

    def _raise_issue(
        self, kind: IssueKind, severity: ir.IssueSeverity, **placeholders: str
    ) -> None:
        repairs.async_raise(
            self.hass,
            self.entry.entry_id,
            kind,
            severity,
            {"interface": self.interface, **placeholders},
        )

    def _clear_issue(self, kind: IssueKind) -> None:
        repairs.async_clear(self.hass, self.entry.entry_id, kind)

    # -- table events --------------------------------------------------------

    @callback
    def _on_event(self, interface: str, event: Event) -> None:
        if isinstance(event, _HEARD):
            self._heard(event.neighbour)
        elif isinstance(event, Left):
            if self._siblings.pop(event.neighbour.host_id.hex(), None) is not None:
                self._update_same_link_issue()
            if event.reason is not LeftReason.REMOVED:  # removed: see forget()
                self._gone(
                    event.neighbour.host_id.hex(),
                    heard=event.reason is LeftReason.GOODBYE,
                )
        elif isinstance(event, Conflict):
            # The other of the pair: a newcomer, or the holder that left.
            other = next(h for h in (*event.host_ids, b"") if h != event.holder)
            _LOGGER.info(
                "Two hosts announce the name %s on %s: %s holds it (the other: %s)",
                event.name,
                self.interface,
                event.holder.hex(),
                other.hex() or "-",
            )

    def _heard(self, neighbour: Neighbour) -> None:
        """An announcement was accepted: update what HA knows and shows."""
        host = neighbour.host_id.hex()
        now = time.time()
        known = self.known.get(host)
        is_new = known is None
        if known is None:
            if host in self._siblings or self._is_sibling(host):
                return  # Home Assistant itself, from its other interface
            if len(self.known) >= self.table.capacity:
                self._not_tracked(neighbour)
                return
            key = name_key(neighbour.name)
            if self._per_name[key] >= MAX_PER_NAME:
                self._not_tracked_same_name(neighbour)
                return
            self._per_name[key] += 1
            known = Known(
                host,
                neighbour.name,
                list(neighbour.addresses),
                since=now,
                named_since=now,
            )
            self.known[host] = known
        elif known.name != neighbour.name:
            known.named_since = now
            self._renamed(known.name, neighbour.name)
        changed = known.update_from(neighbour) or is_new
        if changed and not is_new:
            self._update_device(known)
        arrived = not known.present
        if arrived:
            known.present = True
            known.since = now
            self.online += 1
        known.last_heard = now
        if changed or arrived:
            self._check_own_name(known)
        self._store.async_delay_save(self._data_to_store, SAVE_DELAY)
        entry_id = self.entry.entry_id
        if is_new:
            async_dispatcher_send(self.hass, signal_new(entry_id), host)
        elif changed or arrived:
            async_dispatcher_send(self.hass, signal_update(entry_id, host))
        if arrived:
            async_dispatcher_send(self.hass, signal_count(entry_id))

    def _is_sibling(self, host: str) -> bool:
        """Is ``host`` the host ID of another linkname entry of this Home
        Assistant?  Then its interface is on this link: a repair, no device."""
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            if entry.entry_id != self.entry.entry_id and (
                entry.data.get(CONF_HOST_ID) == host
            ):
                self._siblings[host] = entry.data[CONF_INTERFACE]
                self._update_same_link_issue()
                return True
        return False

    def _update_same_link_issue(self) -> None:
        if not self._siblings:
            self._clear_issue(IssueKind.SAME_LINK)
            return
        self._raise_issue(
            IssueKind.SAME_LINK,
            ir.IssueSeverity.WARNING,
            other_interface=", ".join(sorted(self._siblings.values())),
        )

    def _not_tracked(self, neighbour: Neighbour) -> None:
        """The table entries expire, HA's neighbours stay: keep them bounded.

        Without this, a flood of new names with short TTLs would create a
        device and entities for every table's worth, again and again.
        """
        self.not_tracked += 1
        if self.not_tracked == 1:
            _LOGGER.warning(
                "Home Assistant already keeps %d neighbours on %s (the table "
                "size): new ones such as %s (%s) are not tracked until devices "
                "are removed or the table size is raised",
                len(self.known),
                self.interface,
                neighbour.name,
                neighbour.link_local,
            )

    def _not_tracked_same_name(self, neighbour: Neighbour) -> None:
        """More hosts announce one name than HA gives devices to."""
        self.not_tracked_same_name += 1
        if self.not_tracked_same_name == 1:
            _LOGGER.warning(
                "More than %d hosts announce the name %s on %s: further ones "
                "(such as %s) are not tracked; set a shared key to keep "
                "unknown hosts out",
                MAX_PER_NAME,
                neighbour.name,
                self.interface,
                neighbour.link_local,
            )

    def _renamed(self, old: str, new: str) -> None:
        """Keep the per-name count of a tracked neighbour that renamed."""
        if name_key(old) != name_key(new):
            self._uncount(old)
            self._per_name[name_key(new)] += 1

    def _uncount(self, name: str) -> None:
        """A tracked neighbour no longer announces ``name`` to HA."""
        key = name_key(name)
        self._per_name[key] -= 1
        if self._per_name[key] <= 0:
            del self._per_name[key]

    def _update_device(self, known: Known) -> None:
        """Renames and new addresses update the same device, never a new one."""
        registry = dr.async_get(self.hass)
        device = registry.async_get_device_by_identifier(
            (DOMAIN, known.host), self.entry.entry_id
        )
        if device is None:
            return
        info = neighbour_device_info(known, self.interface_device_id)
        # The full set (merge_connections is deprecated, gone in HA 2027.9).
        connections = device.connections | info.get("connections", set())
        registry.async_update_device(
            device.id,
            name=info.get("name"),
            manufacturer=info.get("manufacturer"),
            model=info.get("model"),
            sw_version=info.get("sw_version"),
            new_connections=(
                connections if connections != device.connections else UNDEFINED
            ),
        )

    def _update_interface_device(self) -> None:
        """Home Assistant's own device: the name it announces, its version."""
        info = interface_device_info(
            self.entry.unique_id, self.interface, self.own_name
        )
        device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id, **info
        )
        self.interface_device_id = device.id

    def _gone(self, host: str, *, heard: bool) -> None:
        """The table let a neighbour go; ``heard``: it said goodbye (now)."""
        known = self.known.get(host)
        if known is None or not known.present:
            return
        known.present = False
        if heard:
            known.last_heard = time.time()
        self.online -= 1
        self._conflicting.discard(host)
        self._update_conflict_issue()
        self._store.async_delay_save(self._data_to_store, SAVE_DELAY)
        async_dispatcher_send(self.hass, signal_update(self.entry.entry_id, host))
        async_dispatcher_send(self.hass, signal_count(self.entry.entry_id))

    # -- interface state ---------------------------------------------------

    @callback
    def _on_state(self, interface: str, state: str) -> None:
        # The endpoint logs the outage (one WARNING) and the recovery (INFO).
        available = state == EndpointState.UP
        if available == self.available:
            return
        self.available = available
        if available:
            self._clear_issue(IssueKind.INTERFACE_DOWN)
        else:
            self._raise_issue(IssueKind.INTERFACE_DOWN, ir.IssueSeverity.WARNING)
        async_dispatcher_send(self.hass, signal_state(self.entry.entry_id))

    # -- name conflicts ------------------------------------------------------

    def _check_own_name(self, known: Known) -> None:
        own = self.own_name
        clash = own is not None and name_key(known.name) == name_key(own)
        if clash == (known.host in self._conflicting):
            return
        if clash:
            self._conflicting.add(known.host)
        else:
            self._conflicting.discard(known.host)
        self._update_conflict_issue()

    def _recheck_conflicts(self) -> None:
        """Every present neighbour that announces HA's name (after a restart,
        a rename of Home Assistant, a change of publishing)."""
        own = self.own_name
        key = name_key(own) if own is not None else None
        self._conflicting = {
            host
            for host, known in self.known.items()
            if known.present and name_key(known.name) == key
        }
        self._update_conflict_issue()

    def _update_conflict_issue(self) -> None:
        own = self.own_name
        if own is not None:
            self._conflicting = {
                host
                for host in self._conflicting
                if host in self.known
                and name_key(self.known[host].name) == name_key(own)
            }
        else:
            self._conflicting.clear()
        if not self._conflicting:
            self._clear_issue(IssueKind.NAME_CONFLICT)
            return
        host = sorted(self._conflicting)[0]
        other = self.known[host]
        # The established holder keeps the name (the one that announced it
        # first; ties: the lower host ID); the newcomer renames.
        ha_holds = (self.own_name_since, self.host_id) <= (
            other.named_since,
            bytes.fromhex(host),
        )
        self._raise_issue(
            IssueKind.NAME_CONFLICT,
            ir.IssueSeverity.WARNING,
            name=own or "",
            address=other.link_local,
            host_id=host,
            holder="Home Assistant" if ha_holds else other.name,
        )

    # -- actions -------------------------------------------------------------

    @callback
    def async_announce(self) -> bool:
        """Announce now; False when rate-limited or not publishing."""
        return self.endpoint.announce_now()

    async def async_resolve(self, name: str, wait: float) -> list[Neighbour]:
        """Ask the link who has ``name``."""
        return await self.endpoint.resolve(name, wait)

    @callback
    def _async_remove_stale(self, *_: Any) -> None:
        """Remove devices of neighbours unseen for the configured days."""
        cutoff = time.time() - self.remove_after_days * 86400
        registry = dr.async_get(self.hass)
        for host, known in list(self.known.items()):
            if known.present or known.last_heard >= cutoff:
                continue
            device = registry.async_get_device_by_identifier(
                (DOMAIN, host), self.entry.entry_id
            )
            if device is not None:
                registry.async_update_device(
                    device.id, remove_config_entry_id=self.entry.entry_id
                )
            self.forget(host)

    @callback
    def forget(self, host: str) -> None:
        """Forget a neighbour (its device was deleted); it rejoins if heard."""
        known = self.known.pop(host, None)
        if known is not None:
            self._uncount(known.name)
        try:
            host_id = bytes.fromhex(host)
        except ValueError:
            return
        self.endpoint.forget(host_id)
        self._conflicting.discard(host)
        self._update_conflict_issue()
        self._store.async_delay_save(self._data_to_store, SAVE_DELAY)
        if known is not None and known.present:
            self.online -= 1
            async_dispatcher_send(self.hass, signal_count(self.entry.entry_id))

    def _data_to_store(self) -> dict[str, Any]:
        return {
            "own": {"name": self.own_name, "since": self.own_name_since},
            "neighbours": {h: asdict(k) for h, k in self.known.items()},
        }

    def diagnostics(self) -> dict[str, Any]:
        """Socket state, counters and the neighbour table, for diagnostics."""
        return {
            "interface": self.interface,
            "available": self.available,
            "announced_name": self.own_name,
            "socket": {
                "state": self.endpoint.state,
                "ifindex": self.endpoint.ifindex,
                "source": self.endpoint.source,
                "addresses": list(self.endpoint.addresses),
                **asdict(self.endpoint.counters),
            },
            "rejected": {r.value: n for r, n in self.table.rejected.items()},
            "accepted": self.table.accepted,
            "looped": self.table.looped,
            "table_size": len(self.table),
            "table_capacity": self.table.capacity,
            "not_tracked": self.not_tracked,
            "not_tracked_same_name": self.not_tracked_same_name,
            "signed_mode": self.table.signed_mode,
            "neighbours": [asdict(k) for k in self.known.values()],
        }

    def neighbour_diagnostics(self, host: str) -> dict[str, Any]:
        """One neighbour: what HA knows and what the table holds now."""
        known = self.known.get(host)
        entry = self.table.get(bytes.fromhex(host))
        return {
            "known": asdict(known) if known else None,
            "in_table": entry is not None,
            "table": None
            if entry is None
            else {
                "boot_id": entry.boot_id,
                "seq": entry.seq,
                "ttl": entry.ttl,
                "signed": entry.signed,
                "expires_in": round(entry.expires - self.hass.loop.time(), 3),
            },
        }

    def online_count(self) -> int:
        """How many neighbours are home."""
        return self.online
