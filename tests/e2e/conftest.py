"""The end-to-end world: a bridge, Home Assistant's namespace and three peers.

One session-scoped :class:`World` (built on first use, removed at the end,
also on failure): namespaces ``ha`` (a real ``hass`` process), ``a`` and
``b`` (the peers that run ``linkname announce``) and ``x`` (a watcher and
the sender of hostile traffic), all on one bridge (``eth0`` everywhere);
``ha`` also has ``eth1``, a direct link to ``x``.  Setting it up goes
through onboarding and adds the integration through Home Assistant's HTTP
API, as the frontend does.  Tests leave it as they found it: one unsigned
linkname entry on ``eth0`` with default options, no peer running.

At the end the suite prints its measurements (``pytest_terminal_summary``)
and writes them to ``.cache/e2e/measurements.json``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_socket

from tests.e2e.ha import (
    Api,
    HassError,
    HomeAssistant,
    timestamp,
    wait_until,
)
from tests.e2e.procs import Peers
from tests.e2e.report import REPORT
from tests.netns import Lab, Netns, require_netns

HA_NAME = "ha-e2e"
PASSWORD = "e2e-password-not-secret"

_current: HomeAssistant | None = None


@dataclass
class World:
    """The namespaces, Home Assistant, its API and the linkname entry."""

    lab: Lab
    ha: Netns
    a: Netns
    b: Netns
    x: Netns
    hass: HomeAssistant
    api: Api
    tmp: Path
    entry_id: str = ""
    setup: dict[str, Any] = field(default_factory=dict)

    def link_local(self, ns: Netns) -> str:
        """The usable link-local address of ``ns``'s eth0."""
        return ns.link_local("eth0")

    def log(self) -> str:
        """The tail of Home Assistant's log, for failure messages."""
        return self.hass.log_tail()

    def linkname_problems(self) -> list[str]:
        """Errors logged by linkname, and Home Assistant's reports about it
        (deprecated calls), in the log of the running hass."""
        return [
            line
            for line in self.hass.log_text().splitlines()
            if "custom integration 'linkname'" in line
            or ("custom_components.linkname" in line and "ERROR" in line)
        ]

    def wait(self, probe: Any, limit: float, what: str, step: float = 0.02) -> Any:
        """Poll ``probe`` until truthy (the log tail in the failure message)."""
        return wait_until(probe, limit, what, step=step, log=self.log)

    # -- states ------------------------------------------------------------

    def tracker(self, name: str) -> dict[str, Any] | None:
        """The device tracker of the neighbour announcing ``name``."""
        return self.api.trackers().get(name)

    def wait_tracker(self, name: str, state: str, limit: float) -> dict[str, Any]:
        """Wait until the tracker of ``name`` exists and is ``state``."""

        def probe() -> dict[str, Any] | None:
            found = self.tracker(name)
            return found if found and found["state"] == state else None

        result: dict[str, Any] = self.wait(probe, limit, f"tracker {name} {state}")
        return result

    def wait_state(
        self, entity_id: str, state: str, limit: float, **attributes: Any
    ) -> dict[str, Any]:
        """Wait until ``entity_id`` has ``state`` (and the given attributes)."""

        def probe() -> dict[str, Any] | None:
            found = self.api.state(entity_id)
            if found is None or found["state"] != state:
                return None
            attrs = found["attributes"]
            if any(attrs.get(k) != v for k, v in attributes.items()):
                return None
            return found

        result: dict[str, Any] = self.wait(probe, limit, f"{entity_id} {state}")
        return result

    # -- the entry ---------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """The runtime part of the entry's diagnostics."""
        result: dict[str, Any] = self.api.diagnostics(self.entry_id)["runtime"]
        return result

    def settled_diagnostics(self, limit: float = 20.0) -> dict[str, Any]:
        """Diagnostics once Home Assistant has read what reached its socket
        (the received counter holds still for 0.3 s)."""

        def settled() -> dict[str, Any] | None:
            first = self.diagnostics()
            time.sleep(0.3)
            second = self.diagnostics()
            same = first["socket"]["received"] == second["socket"]["received"]
            return second if same else None

        result: dict[str, Any] = self.wait(
            settled, limit, "received counter settles", step=0.0
        )
        return result

    def try_diagnostics(self) -> dict[str, Any] | None:
        """Diagnostics, or None while the entry is (re)loading."""
        try:
            return self.diagnostics()
        except HassError:
            return None

    def rejected(self) -> dict[str, int]:
        """Rejected-datagram counters by reason (since the entry loaded)."""
        result: dict[str, int] = self.diagnostics()["rejected"]
        return result

    def rejected_since(self, before: dict[str, int]) -> Counter[str]:
        """Rejections counted since ``before`` (a :meth:`rejected` result)."""
        now = Counter(self.rejected())
        now.subtract(before)
        return +now

    def wait_rejected(
        self, before: dict[str, int], expected: dict[str, int], limit: float = 5.0
    ) -> Counter[str]:
        """Wait until at least ``expected`` more rejections were counted."""

        def probe() -> Counter[str] | None:
            delta = self.rejected_since(before)
            return delta if all(delta[k] >= v for k, v in expected.items()) else None

        result: Counter[str] = self.wait(
            probe, limit, f"rejections {expected}", step=0.05
        )
        return result

    def neighbour(self, name: str) -> dict[str, Any] | None:
        """What Home Assistant remembers about the neighbour ``name``."""
        for known in self.diagnostics()["neighbours"]:
            if known["name"] == name:
                result: dict[str, Any] = known
                return result
        return None

    def wait_loaded(self, limit: float = 15.0, **runtime: Any) -> dict[str, Any]:
        """Wait until the entry is loaded and its diagnostics match."""

        def probe() -> dict[str, Any] | None:
            if self.api.entry(self.entry_id)["state"] != "loaded":
                return None
            diag = self.try_diagnostics()
            if diag is None or any(diag.get(k) != v for k, v in runtime.items()):
                return None
            return diag

        result: dict[str, Any] = self.wait(probe, limit, f"entry loaded {runtime}")
        return result

    def set_options(self, **changes: Any) -> dict[str, Any]:
        """Change options through the options flow (applied live)."""
        api = self.api
        flow = api.post(
            "/api/config/config_entries/options/flow", {"handler": self.entry_id}
        )
        assert flow["type"] == "form", flow
        current = {f["name"]: f.get("default") for f in flow["data_schema"]}
        result = api.post(
            f"/api/config/config_entries/options/flow/{flow['flow_id']}",
            current | changes,
        )
        assert result["type"] == "create_entry", result
        return self.wait_loaded(table_capacity=(current | changes)["capacity"])

    def reconfigure(self, key: str) -> dict[str, Any]:
        """Set the shared key through the reconfigure flow (applied live)."""
        api = self.api
        flow = api.post(
            "/api/config/config_entries/flow",
            {"handler": "linkname", "entry_id": self.entry_id},
        )
        assert (flow["type"], flow["step_id"]) == ("form", "reconfigure"), flow
        result = api.post(
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"name": HA_NAME, "key": key},
        )
        assert result["type"] == "abort", result
        assert result["reason"] == "reconfigure_successful", result
        return self.wait_loaded(signed_mode=bool(key))


# -- building the world -----------------------------------------------------------


def _require_frontend() -> None:
    """Home Assistant without its frontend package starts in recovery mode."""
    if importlib.util.find_spec("hass_frontend") is not None:
        return
    reason = "home-assistant-frontend is not installed (run scripts/setup)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def onboard(world: World) -> None:
    """Onboarding as the frontend does it; leaves ``api.token`` set."""
    api = world.api
    steps = api.get("/api/onboarding")
    world.setup["onboarding_before"] = steps
    started = time.monotonic()
    tokens = api.onboard("e2e", PASSWORD)
    world.setup["onboarding_after"] = api.get("/api/onboarding")
    world.setup["token_type"] = tokens["token_type"]
    REPORT.step(
        "onboarding (user, token, analytics, integration)", time.monotonic() - started
    )


def wait_running(world: World, limit: float = 60.0) -> None:
    """Wait until Home Assistant reports it is running."""
    world.wait(
        lambda: world.api.get("/api/config")["state"] == "RUNNING",
        limit,
        "Home Assistant running",
        step=0.05,
    )


def add_integration(world: World) -> None:
    """The config flow, as the frontend drives it."""
    api = world.api
    started = time.monotonic()
    form = api.post(
        "/api/config/config_entries/flow",
        {"handler": "linkname", "show_advanced_options": False},
    )
    world.setup["form"] = form
    result = api.post(
        f"/api/config/config_entries/flow/{form['flow_id']}",
        {"interface": "eth0", "name": HA_NAME, "key": "", "publish": True},
    )
    world.setup["result"] = result
    assert result["type"] == "create_entry", result
    world.entry_id = result["result"]["entry_id"]
    world.wait_loaded(signed_mode=False)
    REPORT.step(
        "integration added (config flow -> entry loaded)", time.monotonic() - started
    )


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Build the world once; tear everything down at the end of the session."""
    global _current
    require_netns()
    _require_frontend()
    REPORT.started = time.monotonic()
    pytest_socket.enable_socket()  # (session fixtures run before socket_enabled)
    lab = Lab(dad=False)
    try:
        ha, a, b, x = (lab.netns(tag) for tag in ("ha", "a", "b", "x"))
        lab.bridge([ha, a, b, x])
        # A second interface of Home Assistant (a direct link to x), offered
        # by the config flow; the port test sets up a new entry on it.
        lab.veth(ha, "eth1", x, "eth1")
        for ns, ifname in ((ha, "eth0"), (a, "eth0"), (b, "eth0"), (x, "eth0")):
            ns.link_local(ifname)
        ha.link_local("eth1")
        tmp = tmp_path_factory.mktemp("e2e")
        hass = HomeAssistant(lab, ha, tmp / "config")
        lab.add_finalizer(lambda: hass.stop(limit=10.0))  # a clean stop first
        _current = hass
        world = World(lab, ha, a, b, x, hass, Api(hass), tmp)
        spawned = time.monotonic()
        hass.start()
        world.wait(world.api.up, 90.0, "Home Assistant's HTTP server", step=0.1)
        REPORT.step("hass spawn -> HTTP up", time.monotonic() - spawned)
        onboard(world)
        wait_running(world)
        REPORT.step("hass spawn -> running (onboarded)", time.monotonic() - spawned)
        add_integration(world)
        yield world
    finally:
        _current = None
        lab.cleanup()


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """The e2e tests open real sockets (in their namespaces)."""


@pytest.fixture
def peers(world: World) -> Iterator[Peers]:
    """Start ``linkname`` processes; all are stopped (GOODBYE) afterwards."""
    state_dir = world.tmp / "peers"
    state_dir.mkdir(exist_ok=True)
    started = Peers(world.lab, state_dir)
    try:
        yield started
    finally:
        started.stop_all()


def changed_at(state: dict[str, Any]) -> float:
    """When an entity's state last changed (Unix time, Home Assistant's clock)."""
    return timestamp(state["last_changed"])


# -- reporting --------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the tail of Home Assistant's log to the report."""
    report = yield
    if report.failed and _current is not None:
        report.sections.append(("home-assistant.log (tail)", _current.log_tail(80)))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the measurements and write them as JSON."""
    if REPORT.empty:
        return
    terminalreporter.section("linkname end-to-end measurements")
    for line in REPORT.lines():
        terminalreporter.write_line(line)
    path = REPORT.write_json()
    terminalreporter.write_line(f"(written to {path.relative_to(path.parents[2])})")
