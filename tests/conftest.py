"""Shared fixtures for the tests of the Home Assistant integration.

HA's test harness puts its own ``testing_config`` (whose ``custom_components``
is a regular package) ahead of this repository on ``sys.path`` when the
``hass`` fixture starts. Importing the integration here, first, binds the
``custom_components`` namespace to this repository, so HA finds ``linkname``.
"""

from __future__ import annotations

import pytest

import custom_components.linkname  # noqa: F401


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let HA load custom integrations in every test that runs a ``hass``.

    Only tests that use ``hass`` get it: the protocol core's tests are plain
    (and use hypothesis, which rejects per-test fixtures it does not need).
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")
