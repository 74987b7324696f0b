"""Fixtures for the Home Assistant benches (run explicitly: bench/ha.py).

The normal test run never collects bench/ (pyproject's testpaths is tests/).
These benches reuse the test suite's real-link fixtures: Home Assistant in
namespace "ha", peers across a veth link in namespace "peer".
"""

from __future__ import annotations

import asyncio
import os

import pytest

import custom_components.linkname  # noqa: F401  (bind the namespace first)
from tests.conftest import (  # noqa: F401  (fixtures)
    auto_enable_custom_integrations,
    ha_link,
)
from tests.netns import fast_lab  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
async def enable_event_loop_debug() -> None:
    """Production-like: HA's harness turns asyncio debug mode on; not here.

    Debug mode records a traceback for every callback scheduled, which
    multiplies the cost of callbacks that schedule many (entity adds).
    BENCH_LOOP_DEBUG=1 keeps it on, as the harness has it.
    """
    asyncio.get_running_loop().set_debug(os.environ.get("BENCH_LOOP_DEBUG") == "1")
