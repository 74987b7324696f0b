"""The user step offers the interfaces with an IPv6 link-local address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import ifaddr
import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.linkname
from custom_components.linkname.const import CONF_INTERFACE, DOMAIN

# What the operating system reports, fed to HA's real network integration.
SYSTEM_ADAPTERS = [
    ifaddr.Adapter(
        "lo",
        "lo",
        [ifaddr.IP("127.0.0.1", 8, "lo"), ifaddr.IP(("::1", 0, 0), 128, "lo")],
        index=1,
    ),
    ifaddr.Adapter(
        "wlan0",
        "wlan0",
        [
            ifaddr.IP("192.168.1.5", 24, "wlan0"),
            ifaddr.IP(("fe80::2", 0, 3), 64, "wlan0"),
        ],
        index=3,
    ),
    ifaddr.Adapter(
        "eth0",
        "eth0",
        [
            ifaddr.IP("10.10.10.10", 24, "eth0"),
            ifaddr.IP(("2001:db8::1", 0, 0), 64, "eth0"),
            ifaddr.IP(("fe80::1", 0, 2), 64, "eth0"),
        ],
        index=2,
    ),
    ifaddr.Adapter(
        "tun0", "tun0", [ifaddr.IP(("2001:db8:1::1", 0, 0), 64, "tun0")], index=4
    ),
]


@pytest.fixture
def system_adapters() -> Iterator[None]:
    """Interfaces lo, wlan0, eth0 (both with link-local) and tun0 (without)."""
    with patch(
        "homeassistant.components.network.util.ifaddr.get_adapters",
        return_value=SYSTEM_ADAPTERS,
    ):
        yield


@pytest.mark.usefixtures("system_adapters")
async def test_user_step_creates_entry(hass: HomeAssistant) -> None:
    """Only link-local interfaces are offered; picking one creates its entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    selector = result["data_schema"].schema[CONF_INTERFACE]
    assert selector.config["options"] == [
        {"value": "eth0", "label": "eth0 (fe80::1)"},
        {"value": "wlan0", "label": "wlan0 (fe80::2)"},
    ]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_INTERFACE: "wlan0"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "wlan0"
    assert result["data"] == {CONF_INTERFACE: "wlan0"}
    entry = result["result"]
    assert entry.unique_id == "wlan0"
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("system_adapters")
async def test_user_step_aborts_duplicate(hass: HomeAssistant) -> None:
    """An interface that already has an entry is not set up twice."""
    MockConfigEntry(
        domain=DOMAIN, data={CONF_INTERFACE: "eth0"}, unique_id="eth0", title="eth0"
    ).add_to_hass(hass)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_INTERFACE: "eth0"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_user_step_rejects_unknown_interface(hass: HomeAssistant) -> None:
    """A name that is not among the offered interfaces is refused."""
    with patch(
        "homeassistant.components.network.util.ifaddr.get_adapters",
        return_value=SYSTEM_ADAPTERS,
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
    with pytest.raises(InvalidData) as refused:
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_INTERFACE: "tun0"}
        )
    assert list(refused.value.schema_errors) == [CONF_INTERFACE]
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_user_step_aborts_without_link_local(hass: HomeAssistant) -> None:
    """With only IPv4 (the harness's default eth0), there is nothing to offer."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_interfaces"


async def test_texts_of_the_flow(hass: HomeAssistant) -> None:
    """HA loads the English texts, and strings.json matches them."""
    texts = await async_get_translations(hass, "en", "config", [DOMAIN])

    prefix = f"component.{DOMAIN}.config"
    for key in (
        "step.user.title",
        "step.user.data.interface",
        "abort.already_configured",
        "abort.no_interfaces",
    ):
        assert texts.get(f"{prefix}.{key}"), key
    package = Path(custom_components.linkname.__file__).parent
    strings = json.loads((package / "strings.json").read_text(encoding="utf-8"))
    english = json.loads((package / "translations/en.json").read_text(encoding="utf-8"))
    assert strings == english
