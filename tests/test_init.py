"""The integration's config entries set up and unload in Home Assistant."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.linkname.const import CONF_INTERFACE, DOMAIN


async def test_integration_is_the_custom_one(hass: HomeAssistant) -> None:
    """HA resolves the domain to this repository's custom integration."""
    integration = await async_get_integration(hass, DOMAIN)

    assert not integration.is_built_in
    assert integration.config_flow
    assert integration.dependencies == ["network"]
    assert integration.has_branding


async def test_setup_and_unload_entry(hass: HomeAssistant) -> None:
    """A config entry goes LOADED on setup and NOT_LOADED on unload."""
    entry = MockConfigEntry(
        domain=DOMAIN, data={CONF_INTERFACE: "eth0"}, unique_id="eth0", title="eth0"
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert "network" in hass.config.components

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
