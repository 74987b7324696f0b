"""Shared fixtures for the tests of the Home Assistant integration.

HA's test harness puts its own ``testing_config`` (whose ``custom_components``
is a regular package) ahead of this repository on ``sys.path`` when the
``hass`` fixture starts. Importing the integration here, first, binds the
``custom_components`` namespace to this repository, so HA finds ``linkname``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from ifaddr._posix import get_adapters as real_get_adapters
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
)
from syrupy.assertion import SnapshotAssertion

import custom_components.linkname  # noqa: F401
from custom_components.linkname.const import (
    CONF_HOST_ID,
    CONF_INTERFACE,
    CONF_KEY,
    CONF_NAME,
    CONF_PUBLISH,
    DOMAIN,
)
from tests.fake import FakeEndpoint
from tests.netns import Lab, Netns, fast_lab  # noqa: F401
from tests.peer import Peer


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let HA load custom integrations in every test that runs a ``hass``.

    Only tests that use ``hass`` get it: the protocol core's tests are plain
    (and use hypothesis, which rejects per-test fixtures it does not need).
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots as Home Assistant core writes them (tests/snapshots/)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


# -- a real IPv6 link for Home Assistant --------------------------------------
# Home Assistant (this process's main thread) lives in namespace "ha"; the
# peers in namespace "peer"; one veth link, eth0 on both sides.  The thread
# enters "ha" before the hass fixture starts, so HA's network integration,
# its executor threads and the linkname sockets all see that namespace.

HA_HOST_ID = bytes.fromhex("ee" * 16)


@dataclass
class HaLink:
    """The link between Home Assistant and its peers."""

    lab: Lab
    ha: Netns
    other: Netns
    peers: list[Peer] = field(default_factory=list)

    def peer(self, n: int, name: str, **kw: Any) -> Peer:
        """A scripted peer with host ID ``n`` (16 bytes, big-endian)."""
        peer = Peer(self.other, n.to_bytes(16, "big"), name, **kw)
        self.peers.append(peer)
        return peer


@pytest.fixture
def ha_link(fast_lab: Lab, socket_enabled: None) -> Iterator[HaLink]:  # noqa: F811
    """Enter HA's namespace for the test; peers live across a veth link."""
    ha, other = fast_lab.netns("ha"), fast_lab.netns("peer")
    fast_lab.veth(ha, "eth0", other, "eth0")
    ha.link_local("eth0")
    other.link_local("eth0")
    link = HaLink(fast_lab, ha, other)
    try:
        # The harness fakes the OS's adapter list; here HA sees the real one
        # (of namespace "ha"), as a user's HA does.
        with (
            ha.entered(),
            patch(
                "homeassistant.components.network.util.ifaddr.get_adapters",
                real_get_adapters,
            ),
        ):
            yield link
    finally:
        for peer in link.peers:
            peer.close()


def make_entry(
    *,
    name: str = "ha-test",
    key: str = "",
    publish: bool = True,
    options: dict[str, Any] | None = None,
    interface: str = "eth0",
    host_id: bytes = HA_HOST_ID,
) -> MockConfigEntry:
    """A linkname config entry as the config flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=interface,
        unique_id=interface,
        data={
            CONF_INTERFACE: interface,
            CONF_NAME: name,
            CONF_PUBLISH: publish,
            CONF_KEY: key,
            CONF_HOST_ID: host_id.hex(),
        },
        options=options or {},
    )


async def add_entry(hass: HomeAssistant, **kw: Any) -> MockConfigEntry:
    """Add a linkname entry (see :func:`make_entry`) and set it up.

    Setup may fail (a test then checks the entry's state); tasks it started
    are done when this returns.
    """
    entry = make_entry(**kw)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def wait_for(
    condition: Callable[[], object], limit: float = 3.0, step: float = 0.005
) -> float:
    """Wait until ``condition()`` is true; return how long it took (s)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(step)
    return time.monotonic() - start


@pytest.fixture(autouse=True, scope="session")
def private_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The ``linkname`` processes of the tests write their table file (for the
    NSS module) into a private directory, never into the machine's
    /run/linkname; tests that read it pass ``--runtime-dir`` of their own."""
    old = os.environ.get("LINKNAME_RUNTIME_DIR")
    os.environ["LINKNAME_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("linkname-run"))
    yield
    if old is None:
        del os.environ["LINKNAME_RUNTIME_DIR"]
    else:
        os.environ["LINKNAME_RUNTIME_DIR"] = old


# -- the test seam: a fake endpoint, the real table and coordinator -----------


def adapter(name: str, *addresses: str, default: bool = False) -> dict[str, Any]:
    """A network adapter as ``homeassistant.components.network`` lists it."""
    return {
        "name": name,
        "index": None,
        "enabled": True,
        "auto": True,
        "default": default,
        "ipv4": [],
        "ipv6": [
            {"address": a, "flowinfo": 0, "scope_id": 2, "network_prefix": 64}
            for a in addresses
        ],
    }


@dataclass
class Fake:
    """The fake endpoints of the test and the adapters the flow sees."""

    adapters: list[dict[str, Any]]

    @property
    def endpoint(self) -> FakeEndpoint:
        """The endpoint created last (the running entry's, usually)."""
        return FakeEndpoint.instances[-1]

    @property
    def endpoints(self) -> list[FakeEndpoint]:
        """Every endpoint created in the test, in order (probes too)."""
        return FakeEndpoint.instances

    @staticmethod
    def fail_start(error: Exception | None) -> None:
        """Make the next endpoints' start() raise ``error`` (None: succeed)."""
        FakeEndpoint.start_error = error  # type: ignore[assignment]

    @staticmethod
    def start_down() -> None:
        """Make the next endpoints start with the interface down."""
        FakeEndpoint.start_state = "down"


@pytest.fixture
def fake() -> Iterator[Fake]:
    """No sockets: the coordinator and the config flow use a fake endpoint."""
    state = Fake(
        [
            adapter("eth0", "fe80::ee:1", default=True),
            adapter("eth1", "fe80::ee:2"),
            adapter("wlan0", "2001:db8::1"),
        ]
    )

    async def adapters(_: HomeAssistant) -> list[dict[str, Any]]:
        return state.adapters

    reset = FakeEndpoint.reset()
    next(reset)
    with (
        patch("custom_components.linkname.protocol.host.Endpoint", FakeEndpoint),
        patch("custom_components.linkname.config_flow.async_get_adapters", adapters),
    ):
        yield state
    next(reset, None)
