"""Config flow: user step (tested on a real link), reconfigure, options."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import ifaddr
import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.translation import async_get_translations

import custom_components.linkname
from custom_components.linkname.const import (
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
    DOMAIN,
)
from custom_components.linkname.protocol.auth import Key
from custom_components.linkname.protocol.const import ANNOUNCE
from tests.conftest import HaLink, add_entry, wait_for

USER_INPUT = {CONF_NAME: "ha-test", CONF_KEY: "", CONF_PUBLISH: True}

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
            result["flow_id"], {CONF_INTERFACE: "tun0", **USER_INPUT}
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


@pytest.mark.usefixtures("system_adapters")
async def test_user_step_offers_link_local_interfaces(hass: HomeAssistant) -> None:
    """Only link-local interfaces, sorted; a name and a fresh key suggested."""
    hass.config.location_name = "Sea View"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"].schema
    selector = schema[CONF_INTERFACE]
    assert selector.config["options"] == [
        {"value": "eth0", "label": "eth0 (fe80::1)"},
        {"value": "wlan0", "label": "wlan0 (fe80::2)"},
    ]
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults[CONF_INTERFACE] in {"eth0", "wlan0"}
    assert defaults[CONF_NAME] == "sea-view"
    assert defaults[CONF_PUBLISH] is True
    # Signed mode is opt-in: the key starts empty, a generated one is offered.
    suggested = next(k for k in schema if str(k) == CONF_KEY).description
    assert not suggested["suggested_value"]
    Key.from_text(result["description_placeholders"]["generated_key"])


@pytest.mark.netns
async def test_user_step_creates_entry_on_a_real_link(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """The sockets are opened on the interface before the entry is created."""
    key = "flow-test-key-0123456789"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_INTERFACE: "eth0", CONF_NAME: "kitchen ha", CONF_KEY: key},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "eth0"
    data = result["data"]
    assert data[CONF_INTERFACE] == "eth0"
    assert data[CONF_NAME] == "kitchen ha"
    assert data[CONF_KEY] == key
    assert data[CONF_PUBLISH] is True
    assert len(bytes.fromhex(data[CONF_HOST_ID])) == 16
    entry = result["result"]
    assert entry.unique_id == "eth0"
    assert entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.netns
@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_NAME: "bad.name"}, {CONF_NAME: "invalid_name"}),
        ({CONF_NAME: "x\u202eevil"}, {CONF_NAME: "invalid_name"}),
        ({CONF_KEY: "short"}, {CONF_KEY: "invalid_key"}),
        ({CONF_KEY: "has spaces in the key 123"}, {CONF_KEY: "invalid_key"}),
    ],
)
async def test_user_step_validates_name_and_key(
    ha_link: HaLink,
    hass: HomeAssistant,
    user_input: dict[str, str],
    errors: dict[str, str],
) -> None:
    """Bad names and keys are refused with a translated error, then fixed."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_INTERFACE: "eth0", **USER_INPUT, **user_input}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_INTERFACE: "eth0", **USER_INPUT}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.config_entries.async_unload(result["result"].entry_id)


@pytest.mark.netns
async def test_user_step_reports_port_in_use(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Port 1903 held without SO_REUSEADDR: an error on the form, no entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    blocker = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    blocker.bind(("::", 1903))
    try:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_INTERFACE: "eth0", **USER_INPUT}
        )
    finally:
        blocker.close()
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "port_in_use"}
    assert hass.config_entries.async_entries(DOMAIN) == []


@pytest.mark.netns
async def test_reconfigure_changes_name_and_key(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """The new name is announced after the reload; the key is stored."""
    peer = ha_link.peer(1, "pi")
    entry = await add_entry(hass, name="old-name")
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "bad.name", CONF_KEY: "", CONF_PUBLISH: True}
    )
    assert result["errors"] == {CONF_NAME: "invalid_name"}
    key = "reconfigured-key-0123456789"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "new-name", CONF_KEY: key, CONF_PUBLISH: True}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_NAME] == "new-name"
    assert entry.data[CONF_KEY] == key
    assert entry.runtime_data.table.signed_mode

    async def heard_new_name() -> None:
        while True:
            message, _, _ = await peer.recv_type(ANNOUNCE)
            if message.name == "new-name":
                assert message.auth is not None  # signed with the new key
                return

    await heard_new_name()
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.netns
async def test_options_flow_reloads_with_new_options(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Options are stored and the entry reloads to apply them."""
    entry = await add_entry(hass)
    first = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_INTERVAL: 30,
            CONF_AWAY_AFTER: 45,
            CONF_TRACK_NEW: False,
            CONF_REMOVE_AFTER_DAYS: 7,
            CONF_CAPACITY: 64,
            CONF_ANNOUNCE_DETAILS: False,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await wait_for(lambda: entry.runtime_data is not first)
    coordinator = entry.runtime_data
    assert coordinator.interval == 30
    assert coordinator.away_after == 45
    assert coordinator.track_new is False
    assert coordinator.remove_after_days == 7
    assert coordinator.table.capacity == 64
    assert coordinator.announcer is not None
    assert coordinator.announcer.ttl == 90
    # Model and version kept private: only the name and addresses go out.
    assert coordinator.announcer.model is None
    assert coordinator.announcer.software is None
    await hass.config_entries.async_unload(entry.entry_id)
