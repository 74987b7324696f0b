"""The listener coordinator: one per config entry, that is per interface.

It owns the protocol endpoint (socket, neighbour table, announcer) and turns
the table's events into what Home Assistant shows: which neighbours exist,
whether each is home, and what each is called.  It is push-based: nothing
polls.  Entities subscribe through the dispatcher and write state only when
something a user can see changes.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import UNDEFINED

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
    STORAGE_VERSION,
)
from .device import Known, neighbour_device_info
from .protocol.announcer import Announcer
from .protocol.auth import Key
from .protocol.endpoint import Endpoint, EndpointError
from .protocol.table import (
    AddressChanged,
    Conflict,
    Event,
    Joined,
    Left,
    Neighbour,
    NeighbourTable,
    Refreshed,
    Renamed,
    Updated,
)

_LOGGER = logging.getLogger(__name__)

SAVE_DELAY = 30.0
STALE_CHECK_INTERVAL_S = 6 * 3600


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
        options = entry.options
        self.interval = float(options.get(CONF_INTERVAL, DEFAULT_INTERVAL))
        self.away_after: float = float(options.get(CONF_AWAY_AFTER, 0))
        self.track_new: bool = options.get(CONF_TRACK_NEW, True)
        self.remove_after_days: int = int(options.get(CONF_REMOVE_AFTER_DAYS, 0))
        key_text: str = entry.data.get(CONF_KEY) or ""
        self.key = Key.from_text(key_text) if key_text else None
        self.table = NeighbourTable(
            own_host_id=self.host_id,
            keys=[self.key] if self.key else [],
            capacity=int(options.get(CONF_CAPACITY, DEFAULT_CAPACITY)),
        )
        self.announcer: Announcer | None = None
        if entry.data.get(CONF_PUBLISH, True):
            # What it runs is an inventory for anyone on the link: the user
            # may keep it to themselves (spec section 11).
            details = bool(options.get(CONF_ANNOUNCE_DETAILS, True))
            self.announcer = Announcer(
                host_id=self.host_id,
                name=entry.data[CONF_NAME],
                interval=self.interval,
                model="Home Assistant" if details else None,
                software=f"Home Assistant {HA_VERSION}" if details else None,
            )
        self.endpoint = Endpoint(
            self.interface,
            table=self.table,
            announcer=self.announcer,
            key=self.key,
            on_event=self._on_event,
            on_state=self._on_state,
        )
        self.known: dict[str, Known] = {}
        self.available = True  # until the endpoint says otherwise
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
        )
        self._deadlines: list[tuple[float, str]] = []
        self._timer: CALLBACK_TYPE | None = None
        self._timer_at: float | None = None
        self._unsubs: list[Callable[[], None]] = []
        self._conflicting: set[str] = set()
        # Announcements of new hosts not tracked: HA already keeps as many
        # neighbours as the table may hold (memory stays bounded in a flood).
        self.not_tracked = 0

    # -- lifecycle ---------------------------------------------------------

    @property
    def own_name(self) -> str | None:
        """The name Home Assistant announces (None when not publishing)."""
        return self.announcer.name if self.announcer else None

    def away_time(self, known: Known) -> float:
        """Seconds after the last announcement until a silent one is away."""
        return self.away_after or float(known.ttl)

    async def async_setup(self) -> None:
        """Restore what was known, then open the socket and start."""
        stored = await self._store.async_load() or {}
        for host, data in stored.get("neighbours", {}).items():
            try:
                self.known[host] = Known(**data)
            except TypeError:
                _LOGGER.debug("Dropping unreadable stored neighbour %s", host)
        try:
            await self.endpoint.start()
        except EndpointError as err:
            if err.code == "port_in_use":
                self._raise_issue("port_in_use", ir.IssueSeverity.ERROR)
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key=f"setup_{err.code}",
                translation_placeholders={
                    "interface": self.interface,
                    "error": str(err),
                },
            ) from err
        self._clear_issue("port_in_use")
        # Not away just because Home Assistant restarted: a full away time
        # from now; the start QUERY makes neighbours answer well before.
        now = time.time()
        for host, known in self.known.items():
            if known.present:
                self._push_deadline(host, now + self.away_time(known))
        self._on_state(self.endpoint.state)  # down at start: log and repair
        if self.remove_after_days:
            self._unsubs.append(
                async_track_time_interval(
                    self.hass,
                    self._async_remove_stale,
                    timedelta(seconds=STALE_CHECK_INTERVAL_S),
                )
            )
            self._async_remove_stale()

    async def async_shutdown(self) -> None:
        """Send the goodbye, close the socket, save, stop every timer."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        if self._timer:
            self._timer()
            self._timer = None
        await self.endpoint.close()
        await self._store.async_save(self._data_to_store())
        # Runtime conditions are re-evaluated by the next setup.
        self._clear_issue("interface_down")
        self._clear_issue("name_conflict")

    # -- repair issues -------------------------------------------------------

    def _raise_issue(
        self, kind: str, severity: ir.IssueSeverity, **placeholders: str
    ) -> None:
        """Create (or update) this entry's repair issue of ``kind``."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{kind}_{self.entry.entry_id}",
            is_fixable=False,
            severity=severity,
            translation_key=kind,
            translation_placeholders={"interface": self.interface, **placeholders},
        )

    def _clear_issue(self, kind: str) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, f"{kind}_{self.entry.entry_id}")

    # -- table events --------------------------------------------------------

    @callback
    def _on_event(self, event: Event) -> None:
        if isinstance(event, (Joined, Refreshed, Updated, Renamed, AddressChanged)):
            self._heard(event.neighbour)
        elif isinstance(event, Left):
            if event.reason == "goodbye":
                self._gone(event.neighbour.host_id.hex(), time.time())
        elif isinstance(event, Conflict):
            _LOGGER.info(
                "Two hosts announce the name %s on %s: %s",
                event.name,
                self.interface,
                ", ".join(h.hex() for h in event.host_ids),
            )

    def _heard(self, neighbour: Neighbour) -> None:
        """An announcement was accepted: update what HA knows and shows."""
        host = neighbour.host_id.hex()
        now = time.time()
        known = self.known.get(host)
        is_new = known is None
        if known is None:
            if len(self.known) >= self.table.capacity:
                self._not_tracked(neighbour)
                return
            known = Known(host, neighbour.name, list(neighbour.addresses), since=now)
            self.known[host] = known
        changed = known.update_from(neighbour) or is_new
        if changed and not is_new:
            self._update_device(known)
        arrived = not known.present
        if arrived:
            known.present = True
            known.since = now
        known.last_heard = now
        self._push_deadline(host, now + self.away_time(known))
        self._check_own_name(known)
        self._store.async_delay_save(self._data_to_store, SAVE_DELAY)
        entry_id = self.entry.entry_id
        if is_new:
            async_dispatcher_send(self.hass, signal_new(entry_id), host)
        elif changed or arrived:
            async_dispatcher_send(self.hass, signal_update(entry_id, host))
        if arrived:
            async_dispatcher_send(self.hass, signal_count(entry_id))

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

    def _update_device(self, known: Known) -> None:
        """Renames and new addresses update the same device, never a new one."""
        registry = dr.async_get(self.hass)
        device = registry.async_get_device_by_identifier(
            (DOMAIN, known.host), self.entry.entry_id
        )
        if device is None:
            return
        info = neighbour_device_info(known)
        # The full set (merge_connections is deprecated, gone in HA 2027.9).
        connections = device.connections | info.get("connections", set())
        registry.async_update_device(
            device.id,
            name=info.get("name"),
            model=info.get("model"),
            sw_version=info.get("sw_version"),
            new_connections=(
                connections if connections != device.connections else UNDEFINED
            ),
        )

    def _gone(self, host: str, now: float) -> None:
        known = self.known.get(host)
        if known is None or not known.present:
            return
        known.present = False
        known.since = known.last_heard or now
        self._conflicting.discard(host)
        self._update_conflict_issue()
        self._store.async_delay_save(self._data_to_store, SAVE_DELAY)
        async_dispatcher_send(self.hass, signal_update(self.entry.entry_id, host))
        async_dispatcher_send(self.hass, signal_count(self.entry.entry_id))

    # -- away timer --------------------------------------------------------

    def _push_deadline(self, host: str, deadline: float) -> None:
        heapq.heappush(self._deadlines, (deadline, host))
        if self._timer_at is None or deadline < self._timer_at:
            self._schedule()

    @callback
    def _schedule(self) -> None:
        """Arm one timer at the earliest away deadline still current."""
        heap = self._deadlines
        while heap:
            deadline, host = heap[0]
            known = self.known.get(host)
            if (
                known is not None
                and known.present
                and deadline >= known.last_heard + self.away_time(known) - 1e-6
            ):
                break
            heapq.heappop(heap)  # superseded by a later announcement
        if self._timer:
            self._timer()
            self._timer = None
        self._timer_at = None
        if heap:
            self._timer_at = heap[0][0]
            delay = max(0.0, self._timer_at - time.time())
            handle = self.hass.loop.call_later(delay, self._on_timer)
            self._timer = handle.cancel

    @callback
    def _on_timer(self) -> None:
        self._timer = None
        now = time.time()
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, host = heapq.heappop(heap)
            known = self.known.get(host)
            if (
                known is not None
                and known.present
                and known.last_heard + self.away_time(known) <= deadline + 1e-6
            ):
                self._gone(host, now)
        self._schedule()

    # -- interface state ---------------------------------------------------

    @callback
    def _on_state(self, state: str) -> None:
        available = state == "up"
        if available == self.available:
            return
        self.available = available
        if available:
            _LOGGER.info("Interface %s is back; linkname resumed", self.interface)
            self._clear_issue("interface_down")
        else:
            _LOGGER.warning(
                "Interface %s is down or lost its IPv6 link-local address; "
                "linkname neighbours are unavailable until it is back",
                self.interface,
            )
            self._raise_issue("interface_down", ir.IssueSeverity.WARNING)
        async_dispatcher_send(self.hass, signal_state(self.entry.entry_id))

    # -- name conflicts ------------------------------------------------------

    def _check_own_name(self, known: Known) -> None:
        own = self.own_name
        clash = own is not None and known.name.casefold() == own.casefold()
        if clash == (known.host in self._conflicting):
            return
        if clash:
            self._conflicting.add(known.host)
        else:
            self._conflicting.discard(known.host)
        self._update_conflict_issue()

    def _update_conflict_issue(self) -> None:
        if not self._conflicting:
            self._clear_issue("name_conflict")
            return
        host = sorted(self._conflicting)[0]
        other = self.known[host]
        renames = "Home Assistant" if self.host_id.hex() > host else other.name
        self._raise_issue(
            "name_conflict",
            ir.IssueSeverity.WARNING,
            name=self.own_name or "",
            address=other.link_local,
            host_id=host,
            renames=renames,
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
        """Forget a neighbour (its device was deleted)."""
        self.known.pop(host, None)
        try:
            self.table.remove(bytes.fromhex(host))
        except ValueError:
            return
        self._store.async_delay_save(self._data_to_store, SAVE_DELAY)

    def _data_to_store(self) -> dict[str, Any]:
        return {"neighbours": {h: asdict(k) for h, k in self.known.items()}}

    def diagnostics(self) -> dict[str, Any]:
        """Socket state, counters and the neighbour table, for diagnostics."""
        return {
            "interface": self.interface,
            "available": self.available,
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
            "signed_mode": self.table.signed_mode,
            "neighbours": [asdict(k) for k in self.known.values()],
        }

    def online_count(self) -> int:
        """How many neighbours are home."""
        return sum(1 for k in self.known.values() if k.present)
