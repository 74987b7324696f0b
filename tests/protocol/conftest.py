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
from pathlib import Path

try:
    from tests.netns import fast_lab, lab, link_pair
except ModuleNotFoundError:  # the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.netns import fast_lab, lab, link_pair

__all__ = ["fast_lab", "lab", "link_pair"]
