"""Fixtures of the protocol core's tests.

Real-network fixtures come from ``tests/netns.py`` (namespaces, veth links,
bridges; see there).  In-process tests that open sockets must request the
``socket_enabled`` fixture (``@pytest.mark.usefixtures("socket_enabled")``):
pytest-socket is active, and Home Assistant's test plugin disables sockets
again after pytest-socket's own hook has honoured an ``enable_socket``
marker, so the marker alone does not work; the fixture does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_socket

from custom_components.linkname.protocol.auth import Key

try:
    from tests.netns import fast_lab, lab, link_pair
except ModuleNotFoundError:  # the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.netns import fast_lab, lab, link_pair

__all__ = ["fast_lab", "lab", "link_pair"]


@pytest.fixture
def unix_sockets(socket_enabled: None) -> Iterator[None]:
    """Sockets on, and ``connect`` to Unix sockets allowed (control socket).

    Home Assistant's plugin allows connecting to 127.0.0.1 only; it sets the
    rule anew before every test, so restoring it afterwards is enough.
    """
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket.socket_allow_hosts(["127.0.0.1"])


@pytest.fixture(scope="session")
def colliding_keys() -> tuple[Key, Key]:
    """Two different keys with the same 16-bit key ID (found by search, once)."""
    seen: dict[int, Key] = {}
    for n in range(100_000):
        key = Key.from_text(f"collision-search-key-{n:06d}")
        if key.key_id in seen:
            return seen[key.key_id], key
        seen[key.key_id] = key
    raise AssertionError("no collision found")
