"""Config flow of linkname: one config entry per network interface."""

from __future__ import annotations

import secrets
from ipaddress import IPv6Address
from typing import TYPE_CHECKING, Any

import probatio
from homeassistant.components.network import async_get_adapters
from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.util import slugify

from .const import (
    CONF_ANNOUNCE_DETAILS,
    CONF_AWAY_AFTER,
    CONF_CAPACITY,
    CONF_HOST_ID,
    CONF_INTERFACE,
    CONF_INTERVAL,
    CONF_KEY,
    CONF_NAME,
    CONF_PUBLISH,
    CONF_REMOVE_AFTER_DAYS,
    CONF_TRACK_NEW,
    DEFAULT_CAPACITY,
    DEFAULT_INTERVAL,
    DEFAULT_NAME,
    DOMAIN,
)
from .protocol.auth import BadKeyError, Key
from .protocol.codec import validate_name
from .protocol.const import MAX_INTERVAL, MIN_INTERVAL
from .protocol.endpoint import EndpointError
from .protocol.host import Host

if TYPE_CHECKING:
    from .coordinator import LinknameConfigEntry


async def async_link_local_interfaces(hass: HomeAssistant) -> dict[str, str]:
    """Interface name -> its first IPv6 link-local address, sorted by name."""
    found: dict[str, str] = {}
    for adapter in await async_get_adapters(hass):
        for configured in adapter["ipv6"]:
            if IPv6Address(configured["address"]).is_link_local:
                found.setdefault(adapter["name"], configured["address"])
    return dict(sorted(found.items()))


async def async_default_interface(hass: HomeAssistant, offered: dict[str, str]) -> str:
    """HA's default adapter when it is offered, else the first offered."""
    for adapter in await async_get_adapters(hass):
        if adapter["default"] and adapter["name"] in offered:
            return adapter["name"]
    return next(iter(offered))


# Letters and digits that cannot be mistaken for one another: no 0/O, 1/l/I.
KEY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".replace(
    "L", ""
)
KEY_GROUPS = 8  # of 4 characters: 32 characters, about 185 bits


def generate_key() -> str:
    """A fresh shared key that is easy to read out and type (xxxx-xxxx-...)."""
    return "-".join(
        "".join(secrets.choice(KEY_ALPHABET) for _ in range(4))
        for _ in range(KEY_GROUPS)
    )


def default_name(hass: HomeAssistant) -> str:
    """The name HA publishes by default: derived from its location name."""
    name = slugify(hass.config.location_name or "", separator="-")[:63].strip("-")
    try:
        return validate_name(name)
    except ValueError:
        return DEFAULT_NAME


async def async_probe(interface: str) -> str | None:
    """Open the real sockets on ``interface``; an error code, None when fine.

    A listen-only host that sends nothing: no QUERY, no announcement.
    """
    host = Host()
    endpoint = host.add_interface(interface, query_on_up=False)
    try:
        await endpoint.start()
    except EndpointError as err:
        return err.code
    await host.close()
    return None


def check_name_and_key(user_input: dict[str, Any], errors: dict[str, str]) -> None:
    """Validate the name (protocol rules) and the optional key in place."""
    try:
        validate_name(user_input[CONF_NAME])
    except ValueError:
        errors[CONF_NAME] = "invalid_name"
    key = (user_input.get(CONF_KEY) or "").strip()
    user_input[CONF_KEY] = key
    if key:
        try:
            Key.from_text(key)
        except BadKeyError:
            errors[CONF_KEY] = "invalid_key"


def name_key_schema(defaults: dict[str, Any]) -> dict[Any, Any]:
    """Fields shared by the user and reconfigure steps."""
    return {
        probatio.Required(CONF_NAME, default=defaults[CONF_NAME]): TextSelector(),
        probatio.Optional(
            CONF_KEY, description={"suggested_value": defaults.get(CONF_KEY)}
        ): TextSelector(),
        probatio.Required(
            CONF_PUBLISH, default=defaults.get(CONF_PUBLISH, True)
        ): BooleanSelector(),
    }


class LinknameConfigFlow(ConfigFlow, domain=DOMAIN):
    """Pick the interface, HA's published name and an optional shared key."""

    VERSION = 1

    def __init__(self) -> None:
        """Start a flow; the key it offers stays the same while it runs."""
        self._generated_key = generate_key()

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: LinknameConfigEntry,
    ) -> LinknameOptionsFlow:
        """The options of an entry (timing, tracking, table size)."""
        return LinknameOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Interface, name, whether to publish it, and an optional key."""
        found = await async_link_local_interfaces(self.hass)
        configured = {entry.unique_id for entry in self._async_current_entries()}
        interfaces = {
            name: address for name, address in found.items() if name not in configured
        }
        if not found:
            return self.async_abort(reason="no_interfaces")
        if not interfaces:
            return self.async_abort(reason="all_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            interface: str = user_input[CONF_INTERFACE]
            await self.async_set_unique_id(interface)
            self._abort_if_unique_id_configured()
            if interface not in interfaces:
                errors[CONF_INTERFACE] = "no_link_local"
            check_name_and_key(user_input, errors)
            if not errors and (code := await async_probe(interface)):
                errors["base"] = code
            if not errors:
                return self.async_create_entry(
                    title=interface,
                    data={
                        CONF_INTERFACE: interface,
                        CONF_NAME: user_input[CONF_NAME],
                        CONF_PUBLISH: user_input[CONF_PUBLISH],
                        CONF_KEY: user_input[CONF_KEY],
                        CONF_HOST_ID: secrets.token_hex(16),
                    },
                )
        defaults = user_input or {
            CONF_INTERFACE: await async_default_interface(self.hass, interfaces),
            CONF_NAME: default_name(self.hass),
            CONF_PUBLISH: True,
            CONF_KEY: "",
        }
        options = [
            SelectOptionDict(value=name, label=f"{name} ({address})")
            for name, address in interfaces.items()
        ]
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_INTERFACE, default=defaults[CONF_INTERFACE]
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=options, mode=SelectSelectorMode.DROPDOWN
                    )
                ),
                **name_key_schema(defaults),
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=schema,
            errors=errors,
            # Signed mode is opt-in: a fresh key is offered in the help text,
            # the field starts empty so that plain hosts are not refused.
            description_placeholders={"generated_key": self._generated_key},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the published name and the shared key."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            check_name_and_key(user_input, errors)
            if not errors:
                # Applied live by the entry's update listener: no reload.
                return self.async_update_and_abort(
                    entry,
                    data_updates={
                        CONF_NAME: user_input[CONF_NAME],
                        CONF_KEY: user_input[CONF_KEY],
                        CONF_PUBLISH: user_input[CONF_PUBLISH],
                    },
                )
        defaults = user_input or dict(entry.data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=probatio.Schema(name_key_schema(defaults)),
            errors=errors,
            description_placeholders={
                "interface": entry.data[CONF_INTERFACE],
                "generated_key": self._generated_key,
            },
        )


def _number(minimum: float, maximum: float, unit: str | None = None) -> NumberSelector:
    config = NumberSelectorConfig(
        min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX
    )
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


class LinknameOptionsFlow(OptionsFlow):
    """Announce interval, away time, tracking of new neighbours, table size."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One form; the running entry applies the new options live."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_INTERVAL: int(user_input[CONF_INTERVAL]),
                    CONF_AWAY_AFTER: int(user_input[CONF_AWAY_AFTER]),
                    CONF_TRACK_NEW: user_input[CONF_TRACK_NEW],
                    CONF_REMOVE_AFTER_DAYS: int(user_input[CONF_REMOVE_AFTER_DAYS]),
                    CONF_CAPACITY: int(user_input[CONF_CAPACITY]),
                    CONF_ANNOUNCE_DETAILS: user_input[CONF_ANNOUNCE_DETAILS],
                }
            )
        options = self.config_entry.options
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_INTERVAL, default=options.get(CONF_INTERVAL, DEFAULT_INTERVAL)
                ): _number(MIN_INTERVAL, MAX_INTERVAL, "s"),
                probatio.Required(
                    CONF_AWAY_AFTER, default=options.get(CONF_AWAY_AFTER, 0)
                ): _number(0, 86400, "s"),
                probatio.Required(
                    CONF_TRACK_NEW, default=options.get(CONF_TRACK_NEW, True)
                ): BooleanSelector(),
                probatio.Required(
                    CONF_REMOVE_AFTER_DAYS,
                    default=options.get(CONF_REMOVE_AFTER_DAYS, 0),
                ): _number(0, 3650, "d"),
                probatio.Required(
                    CONF_CAPACITY, default=options.get(CONF_CAPACITY, DEFAULT_CAPACITY)
                ): _number(16, 65536),
                probatio.Required(
                    CONF_ANNOUNCE_DETAILS,
                    default=options.get(CONF_ANNOUNCE_DETAILS, True),
                ): BooleanSelector(),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
