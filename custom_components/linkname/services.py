"""Actions: linkname.announce and linkname.resolve (registered in async_setup)."""

from __future__ import annotations

import probatio
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType

from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_NAME,
    ATTR_TIMEOUT,
    DEFAULT_RESOLVE_TIMEOUT,
    DOMAIN,
    SERVICE_ANNOUNCE,
    SERVICE_RESOLVE,
)
from .coordinator import LinknameConfigEntry
from .protocol.const import MAX_NAME_BYTES
from .protocol.names import name_problem as core_name_problem


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid linkname name (said once), or None."""
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return (
            f"too long: up to {MAX_NAME_BYTES} characters, fewer when it has "
            "accented or non-Latin letters"
        )
    return core_name_problem(name)


def valid_name(value: object) -> str:
    """Schema validator: a linkname name.

    A wrong name is the caller's mistake: a schema error, which Home
    Assistant reports to the caller without logging it as an error.
    """
    name = cv.string(value)
    if (problem := name_problem(name)) is not None:
        raise probatio.Invalid(f"not a valid linkname name ({problem})")
    return name


ANNOUNCE_SCHEMA = probatio.Schema({probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
RESOLVE_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_NAME): valid_name,
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Optional(ATTR_TIMEOUT, default=DEFAULT_RESOLVE_TIMEOUT): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0.1, max=10)
        ),
    }
)


def _entries(call: ServiceCall) -> list[LinknameConfigEntry]:
    """The loaded entries a call is for: the one named, or all."""
    hass = call.hass
    entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
    if entry_id is not None:
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_found",
                translation_placeholders={"entry_id": entry_id},
            )
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"interface": entry.title},
            )
        return [entry]
    entries: list[LinknameConfigEntry] = hass.config_entries.async_loaded_entries(
        DOMAIN
    )
    if not entries:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_entries"
        )
    return entries


async def _async_announce(call: ServiceCall) -> None:
    """Send an announcement now on the named interface, or on every one.

    Without an entry named, listen-only and unavailable interfaces are
    skipped; it fails only when no interface could announce.
    """
    entries = _entries(call)
    named = ATTR_CONFIG_ENTRY_ID in call.data
    error: HomeAssistantError | None = None
    sent = False
    for entry in entries:
        coordinator = entry.runtime_data
        placeholders = {"interface": coordinator.interface}
        if coordinator.announcer is None:
            error = ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_publishing",
                translation_placeholders=placeholders,
            )
        elif not coordinator.available:
            error = HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="interface_down",
                translation_placeholders=placeholders,
            )
        elif not coordinator.async_announce():
            error = HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders=placeholders,
            )
        else:
            sent = True
    if error is not None and (named or not sent):
        raise error


async def _async_resolve(call: ServiceCall) -> ServiceResponse:
    """Ask the link who has a name; return every answer's addresses."""
    name: str = call.data[ATTR_NAME]  # checked by the schema (valid_name)
    results: list[dict[str, JsonValueType]] = []
    addresses: set[str] = set()
    entries = _entries(call)
    usable = [entry for entry in entries if entry.runtime_data.available]
    if not usable or (ATTR_CONFIG_ENTRY_ID in call.data and len(usable) < len(entries)):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="interface_down",
            translation_placeholders={"interface": entries[0].runtime_data.interface},
        )
    for entry in usable:
        coordinator = entry.runtime_data
        for neighbour in await coordinator.async_resolve(name, call.data[ATTR_TIMEOUT]):
            addresses.update(neighbour.addresses)
            results.append(
                {
                    "interface": coordinator.interface,
                    "host_id": neighbour.host_id.hex(),
                    "name": neighbour.name,
                    "addresses": list(neighbour.addresses),
                }
            )
    return {
        "name": name,
        "found": bool(results),
        "addresses": list[JsonValueType](sorted(addresses)),
        "hosts": list(results),
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_ANNOUNCE, _async_announce, schema=ANNOUNCE_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_RESOLVE,
        _async_resolve,
        schema=RESOLVE_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
