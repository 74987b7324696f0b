"""scripts/develop starts a fully working Home Assistant without the internet.

Home Assistant installs the requirements of what it loads at its first
start; without network access that fails, and it starts in recovery mode
(auth and onboarding need pyotp and PyQRCode) or the Actions page breaks
(listing the services loads the voice integrations: mutagen, pymicro-vad).
scripts/setup installs them (the ``develop`` group of pyproject.toml).  Here
``scripts/develop`` (with a fresh copy of its configuration) runs in a
namespace that has only ``lo``: no route anywhere, so any download fails.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.ha import REPO, Api, HassError, HomeAssistant, wait_until
from tests.netns import Lab

pytestmark = pytest.mark.netns

DEVELOP_CONFIG = REPO / "config" / "configuration.yaml"
# What Home Assistant logs when it needs a package it cannot install.
INSTALL_FAILURES = (
    "Attempting install of",
    "Unable to install package",
    "Requirements for",
    "RequirementsNotFound",
    "recovery mode",
)


@pytest.fixture
def dev_lab(socket_enabled: None) -> Iterator[Lab]:
    """A lab (one namespace, only loopback), removed also on failure."""
    lab = Lab(dad=False)
    try:
        yield lab
    finally:
        lab.cleanup()


def test_develop_starts_offline_not_in_recovery_mode(
    dev_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Onboarding works, no recovery mode, the service list loads; offline."""
    lab = dev_lab
    ns = lab.netns("dev")
    # A LAN without internet: one link to an empty namespace, IPv4 on it (so
    # that zeroconf, and analytics with it, start), no route anywhere else.
    lab.veth(ns, "eth0", lab.netns("lan"), "eth0")
    ns.ip("address", "add", "192.0.2.10/24", "dev", "eth0")
    routes = ns.ip("-6", "route", "show").stdout + ns.ip("route", "show").stdout
    assert "default" not in routes, routes
    config = tmp_path / "config"
    hass = HomeAssistant(lab, ns, config, DEVELOP_CONFIG.read_text())
    lab.add_finalizer(lambda: hass.stop(limit=30.0))
    api = Api(hass)
    started = time.monotonic()
    # scripts/develop runs scripts/setup first: with the interpreter this
    # venv was made from, it has nothing to do (and needs no network).
    if "LINKNAME_PYTHON" not in os.environ:
        monkeypatch.setenv("LINKNAME_PYTHON", os.path.realpath(sys.executable))
    hass.start(str(REPO / "scripts" / "develop"), "--config", str(config))

    def up() -> bool:
        if not hass.alive():
            raise HassError(f"scripts/develop exited:\n{hass.log_tail()}")
        return api.up()

    wait_until(up, 180.0, "scripts/develop: HTTP server", step=0.2, log=hass.log_tail)
    api.onboard("dev", "develop-password-not-secret")
    wait_until(
        lambda: api.get("/api/config")["state"] == "RUNNING",
        120.0,
        "Home Assistant running",
        step=0.1,
        log=hass.log_tail,
    )
    core = api.get("/api/config")
    assert core["recovery_mode"] is False, hass.log_tail()
    assert "frontend" in core["components"]
    # The Actions page: the service list with every description.
    status, services = api.request("GET", "/api/services", timeout=60.0)
    assert status == 200, services
    domains = {entry["domain"]: entry["services"] for entry in services}
    assert "homeassistant" in domains
    assert "restart" in domains["homeassistant"]
    log = hass.log_text()
    problems = [
        line
        for line in log.splitlines()
        if any(failure in line for failure in INSTALL_FAILURES) or " ERROR " in line
    ]
    assert not problems, "\n".join(problems)
    print(
        f"\nscripts/develop offline: running and onboarded after "
        f"{time.monotonic() - started:.0f} s; {len(domains)} service domains"
    )
