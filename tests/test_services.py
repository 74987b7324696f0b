"""Actions linkname.announce and linkname.resolve (fake endpoint, no root)."""

from __future__ import annotations

import logging

import probatio
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component

from custom_components.linkname.const import DOMAIN
from tests.conftest import Fake, add_entry


async def test_resolve_returns_what_the_table_knows(
    fake: Fake, hass: HomeAssistant
) -> None:
    """resolve answers with every host of that name and its addresses."""
    entry = await add_entry(hass)
    peer = fake.endpoint.peer(9, "printer", extra=("fd00::9",))
    peer.announce()
    response = await hass.services.async_call(
        DOMAIN,
        "resolve",
        {"name": "Printer", "config_entry_id": entry.entry_id, "timeout": 2},
        blocking=True,
        return_response=True,
    )
    assert response == {
        "name": "Printer",
        "found": True,
        "addresses": sorted([peer.address, "fd00::9"]),
        "hosts": [
            {
                "interface": "eth0",
                "host_id": peer.host_id.hex(),
                "name": "printer",
                "addresses": [peer.address, "fd00::9"],
            }
        ],
    }


async def test_resolve_unknown_and_invalid_names(
    fake: Fake, hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody: found is false; an invalid name is refused, its reason said once."""
    await add_entry(hass)
    response = await hass.services.async_call(
        DOMAIN,
        "resolve",
        {"name": "nobody", "timeout": 0.3},
        blocking=True,
        return_response=True,
    )
    assert response == {"name": "nobody", "found": False, "addresses": [], "hosts": []}
    caplog.clear()
    with pytest.raises(probatio.Invalid) as err:
        await hass.services.async_call(
            DOMAIN, "resolve", {"name": "a.b"}, blocking=True, return_response=True
        )
    message = str(err.value)
    assert "not a valid linkname name" in message
    assert message.count("'.'") == 1
    assert "a.b" not in message.replace("['name']", "")  # said once, no echo
    with pytest.raises(probatio.Invalid, match="too long: up to 63 characters"):
        await hass.services.async_call(
            DOMAIN, "resolve", {"name": "ä" * 32}, blocking=True, return_response=True
        )
    # A caller's mistake is not an error of Home Assistant's.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_announce_is_rate_limited(fake: Fake, hass: HomeAssistant) -> None:
    """announce sends at once; a second call within a second is refused."""
    await add_entry(hass)
    await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert fake.endpoint.announced == 1
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert err.value.translation_key == "rate_limited"


async def test_announce_on_a_down_interface(fake: Fake, hass: HomeAssistant) -> None:
    """The interface is down: a translated error names it."""
    entry = await add_entry(hass)
    fake.endpoint.set_state("down")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "announce", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert err.value.translation_key == "interface_down"
    assert err.value.translation_placeholders == {"interface": "eth0"}
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "resolve", {"name": "x"}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "interface_down"


async def test_action_errors(fake: Fake, hass: HomeAssistant) -> None:
    """Unknown entry, listen-only entry, no entries: translated errors."""
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert err.value.translation_key == "no_entries"
    entry = await add_entry(hass, publish=False)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert err.value.translation_key == "not_publishing"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "announce", {"config_entry_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "entry_not_found"
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "announce", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert err.value.translation_key == "entry_not_loaded"
