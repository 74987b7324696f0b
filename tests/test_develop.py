"""scripts/develop's Home Assistant has every package it needs, installed.

At its first start Home Assistant installs the requirements of the
integrations it sets up (those of config/configuration.yaml, its default
ones and their dependencies) and of its auth modules.  Without the internet
that fails: recovery mode, a broken Actions page.  scripts/setup installs
them (the ``develop`` group of pyproject.toml); this test finds them the way
Home Assistant's bootstrap does and checks that each is installed at the
version required.  (tests/e2e/test_develop.py starts scripts/develop
offline.)
"""

from __future__ import annotations

from pathlib import Path

import yaml
from homeassistant import bootstrap, loader
from homeassistant.auth.mfa_modules import notify, totp
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.util import package as pkg_util

CONFIG = Path(__file__).resolve().parents[1] / "config" / "configuration.yaml"


async def develop_requirements(hass: HomeAssistant) -> dict[str, set[str]]:
    """Requirement -> the integrations (or auth modules) that need it."""
    config = yaml.safe_load(CONFIG.read_text())
    wanted = (
        {cv.domain_key(key) for key in config}
        | bootstrap.DEFAULT_INTEGRATIONS
        | bootstrap.CORE_INTEGRATIONS
    )
    found: dict[str, loader.Integration] = {}
    while wanted:
        integrations = await loader.async_get_integrations(hass, wanted)
        wanted = set()
        for domain, integration in integrations.items():
            assert isinstance(integration, loader.Integration), (domain, integration)
            found[domain] = integration
            wanted |= set(integration.dependencies) - set(found)
    needs: dict[str, set[str]] = {}
    for domain, integration in found.items():
        for requirement in integration.requirements:
            needs.setdefault(requirement, set()).add(domain)
    for module in (totp, notify):
        for requirement in module.REQUIREMENTS:
            needs.setdefault(requirement, set()).add(f"auth {module.__name__}")
    return needs


async def test_everything_scripts_develop_needs_is_installed(
    hass: HomeAssistant,
) -> None:
    """Every requirement is installed at its version: nothing to download."""
    needs = await develop_requirements(hass)
    assert "pyotp==2.10.0" in needs  # the auth modules are looked at
    assert any(r.startswith("home-assistant-frontend==") for r in needs)
    missing = {
        requirement: sorted(domains)
        for requirement, domains in needs.items()
        if not pkg_util.is_installed(requirement)
    }
    assert not missing, f"add to the develop group of pyproject.toml: {missing}"
