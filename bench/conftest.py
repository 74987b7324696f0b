"""Fixtures for the Home Assistant benches (run explicitly: bench/ha.py).

The normal test run never collects bench/ (pyproject's testpaths is tests/).
These benches reuse the test suite's real-link fixtures: Home Assistant in
namespace "ha", peers across a veth link in namespace "peer".
"""

from __future__ import annotations

import custom_components.linkname  # noqa: F401  (bind the namespace first)
from tests.conftest import (  # noqa: F401  (fixtures)
    auto_enable_custom_integrations,
    ha_link,
)
from tests.netns import fast_lab  # noqa: F401  (fixture)
