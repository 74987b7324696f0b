"""Config flow of linkname: one config entry per network interface."""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import Any

import probatio
from homeassistant.components.network import async_get_adapters
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .const import CONF_INTERFACE, DOMAIN


async def async_link_local_interfaces(hass: HomeAssistant) -> dict[str, str]:
    """Interface name -> its first IPv6 link-local address, sorted by name."""
    found: dict[str, str] = {}
    for adapter in await async_get_adapters(hass):
        for configured in adapter["ipv6"]:
            if IPv6Address(configured["address"]).is_link_local:
                found.setdefault(adapter["name"], configured["address"])
    return dict(sorted(found.items()))


class LinknameConfigFlow(ConfigFlow, domain=DOMAIN):
    """Pick the network interface on which linkname listens and announces."""

    VERSION = 1

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user choose an interface that has an IPv6 link-local address."""
        if user_input is not None:
            interface: str = user_input[CONF_INTERFACE]
            await self.async_set_unique_id(interface)
            self._abort_if_unique_id_configured()
            return self.async_create_entry(
                title=interface, data={CONF_INTERFACE: interface}
            )

        interfaces = await async_link_local_interfaces(self.hass)
        if not interfaces:
            return self.async_abort(reason="no_interfaces")
        options = [
            SelectOptionDict(value=name, label=f"{name} ({address})")
            for name, address in interfaces.items()
        ]
        schema = probatio.Schema(
            {
                probatio.Required(CONF_INTERFACE): SelectSelector(
                    SelectSelectorConfig(
                        options=options, mode=SelectSelectorMode.DROPDOWN
                    )
                )
            }
        )
        return self.async_show_form(step_id="user", data_schema=schema)
