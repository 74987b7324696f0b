"""Helpers of the Home Assistant benches: extra sources, senders, timings."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from custom_components.linkname.const import DOMAIN
from tests.netns import Netns


def add_sources(ns: Netns, addresses: list[str], ifname: str = "eth0") -> None:
    """Give ``ifname`` in ``ns`` extra link-local addresses (no DAD)."""
    batch = "".join(f"address add {a}/64 dev {ifname} nodad\n" for a in addresses)
    subprocess.run(
        ["ip", "-n", ns.name, "-batch", "-"], input=batch, text=True, check=True
    )


def tracker_entity(hass: HomeAssistant, host_id: bytes) -> str | None:
    """The tracker entity of a neighbour (eth0), from the entity registry."""
    return er.async_get(hass).async_get_entity_id(
        "device_tracker", DOMAIN, f"eth0_{host_id.hex()}_tracker"
    )


@dataclass
class StateLog:
    """Every state_changed (and state_reported) event, with its monotonic time."""

    changed: list[tuple[float, str, str | None]] = field(default_factory=list)
    reported: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def attach(self, hass: HomeAssistant) -> Callable[[], None]:
        @callback
        def on_changed(event: Event[Any]) -> None:
            new = event.data.get("new_state")
            self.changed.append(
                (time.monotonic(), event.data["entity_id"], new.state if new else None)
            )
            self.wake.set()

        @callback
        def on_reported(_event: Event[Any]) -> None:
            self.reported += 1

        @callback
        def every(_data: Any) -> bool:
            return True

        unsubs = [
            hass.bus.async_listen(EVENT_STATE_CHANGED, on_changed),
            hass.bus.async_listen(EVENT_STATE_REPORTED, on_reported, every),
        ]

        def detach() -> None:
            for unsub in unsubs:
                unsub()

        return detach

    async def wait(
        self, match: Callable[[str, str | None], bool], after: float, limit: float
    ) -> float:
        """Time of the first event after ``after`` that matches; waits."""
        deadline = time.monotonic() + limit
        while True:
            for stamp, entity_id, state in self.changed:
                if stamp >= after and match(entity_id, state):
                    return stamp
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching state change")
            self.wake.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self.wake.wait()
            except TimeoutError:
                continue
