"""Config flow, reconfigure and options, with the fake endpoint (no root)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_HOME, STATE_NOT_HOME
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.translation import async_get_translations

import custom_components.linkname
from custom_components.linkname.config_flow import KEY_ALPHABET
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
from custom_components.linkname.protocol.endpoint import EndpointError
from tests.conftest import Fake, adapter, add_entry

USER_INPUT = {CONF_NAME: "ha-test", CONF_KEY: "", CONF_PUBLISH: True}
OPTIONS = {
    CONF_INTERVAL: 30,
    CONF_AWAY_AFTER: 45,
    CONF_TRACK_NEW: False,
    CONF_REMOVE_AFTER_DAYS: 7,
    CONF_CAPACITY: 64,
    CONF_ANNOUNCE_DETAILS: False,
}


async def start_flow(hass: HomeAssistant) -> dict[str, object]:
    """The first result of a user flow."""
    return dict(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
    )


async def test_user_step_offers_link_local_interfaces(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Only link-local interfaces, sorted; a name and a fresh key suggested."""
    hass.config.location_name = "Sea View"
    result = await start_flow(hass)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"].schema  # type: ignore[attr-defined]
    assert schema[CONF_INTERFACE].config["options"] == [
        {"value": "eth0", "label": "eth0 (fe80::ee:1)"},
        {"value": "eth1", "label": "eth1 (fe80::ee:2)"},
    ]
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults[CONF_INTERFACE] == "eth0"  # HA's default adapter
    assert defaults[CONF_NAME] == "sea-view"
    assert defaults[CONF_PUBLISH] is True
    # Signed mode is opt-in: the key starts empty, a generated one is offered.
    suggested = next(k for k in schema if str(k) == CONF_KEY).description
    assert not suggested["suggested_value"]


async def test_offered_key_is_stable_and_unambiguous(
    fake: Fake, hass: HomeAssistant
) -> None:
    """The same key on every redraw of the form; no 0/O/1/l/I; a valid key."""
    result = await start_flow(hass)
    key = result["description_placeholders"]["generated_key"]  # type: ignore[index]
    assert re.fullmatch(r"[^\W_]{4}(-[^\W_]{4}){7}", key)
    assert not set(key) & set("0O1lI")
    assert set(key.replace("-", "")) <= set(KEY_ALPHABET)
    Key.from_text(key)
    again = await hass.config_entries.flow.async_configure(
        result["flow_id"],  # type: ignore[arg-type]
        {CONF_INTERFACE: "eth0", **USER_INPUT, CONF_NAME: "bad.name"},
    )
    assert again["errors"] == {CONF_NAME: "invalid_name"}
    assert again["description_placeholders"] == {"generated_key": key}
    other = await start_flow(hass)
    assert other["description_placeholders"] != {"generated_key": key}


async def test_user_step_creates_entry_after_probing(
    fake: Fake, hass: HomeAssistant
) -> None:
    """The endpoint is started on the interface before the entry is created."""
    result = await start_flow(hass)
    key = "flow-test-key-0123456789"
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"],  # type: ignore[arg-type]
            {CONF_INTERFACE: "eth1", CONF_NAME: "kitchen ha", CONF_KEY: key},
        )
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "eth1"
    data = result["data"]
    assert isinstance(data, dict)
    assert data[CONF_INTERFACE] == "eth1"
    assert data[CONF_NAME] == "kitchen ha"
    assert data[CONF_KEY] == key
    assert data[CONF_PUBLISH] is True
    assert len(bytes.fromhex(data[CONF_HOST_ID])) == 16
    probe, running = fake.endpoints[:2]
    assert probe.interface == "eth1"
    assert probe.closed == 1  # the probe let go of the port
    assert result["result"].state is ConfigEntryState.LOADED  # type: ignore[attr-defined]
    assert running.running


async def test_configured_interfaces_are_left_out(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Set-up interfaces are not offered; none left: abort at once."""
    await add_entry(hass, interface="eth0")
    result = await start_flow(hass)
    schema = result["data_schema"].schema  # type: ignore[attr-defined]
    assert [o["value"] for o in schema[CONF_INTERFACE].config["options"]] == ["eth1"]
    with pytest.raises(InvalidData) as refused:
        await hass.config_entries.flow.async_configure(
            result["flow_id"],  # type: ignore[arg-type]
            {CONF_INTERFACE: "eth0", **USER_INPUT},
        )
    assert list(refused.value.schema_errors) == [CONF_INTERFACE]
    await add_entry(hass, interface="eth1")
    result = await start_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "all_configured"


async def test_user_step_aborts_without_link_local(
    fake: Fake, hass: HomeAssistant
) -> None:
    """No interface with a link-local address: nothing to offer."""
    fake.adapters[:] = [adapter("wlan0", "2001:db8::1")]
    result = await start_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_interfaces"


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
    fake: Fake,
    hass: HomeAssistant,
    user_input: dict[str, str],
    errors: dict[str, str],
) -> None:
    """Bad names and keys are refused with a translated error, then fixed."""
    result = await start_flow(hass)
    flow_id: str = result["flow_id"]  # type: ignore[assignment]
    result = dict(
        await hass.config_entries.flow.async_configure(
            flow_id, {CONF_INTERFACE: "eth0", **USER_INPUT, **user_input}
        )
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert fake.endpoints == []  # nothing probed with bad input
    result = dict(
        await hass.config_entries.flow.async_configure(
            flow_id, {CONF_INTERFACE: "eth0", **USER_INPUT}
        )
    )
    # The entry's setup (and device_tracker's) ends before the test: a setup
    # still running at teardown left device_tracker's timer behind (flaky).
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].state is ConfigEntryState.LOADED  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", ["port_in_use", "permission_denied", "no_interface"])
async def test_user_step_reports_endpoint_errors(
    fake: Fake, hass: HomeAssistant, code: str
) -> None:
    """The probe fails: a translated error on the form, no entry."""
    result = await start_flow(hass)
    fake.fail_start(EndpointError(code, "refused"))
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"],  # type: ignore[arg-type]
            {CONF_INTERFACE: "eth0", **USER_INPUT},
        )
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": code}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_texts_of_the_flow(hass: HomeAssistant) -> None:
    """HA loads the English texts, and strings.json matches them."""
    texts = await async_get_translations(hass, "en", "config", [DOMAIN])
    prefix = f"component.{DOMAIN}.config"
    for key in (
        "step.user.title",
        "step.user.data.interface",
        "abort.already_configured",
        "abort.all_configured",
        "abort.no_interfaces",
    ):
        assert texts.get(f"{prefix}.{key}"), key
    package = Path(custom_components.linkname.__file__).parent
    strings = json.loads((package / "strings.json").read_text(encoding="utf-8"))
    english = json.loads((package / "translations/en.json").read_text(encoding="utf-8"))
    assert strings == english
    # The offered key is shown as a code block, easy to copy.
    key_help = strings["config"]["step"]["user"]["data_description"]["key"]
    assert "```\n{generated_key}\n```" in key_help
    assert not key_help.startswith("Optional")


async def home_neighbour(fake: Fake, hass: HomeAssistant) -> str:
    """One neighbour home; its tracker's entity ID."""
    fake.endpoint.peer(7, "stays").announce()
    await hass.async_block_till_done()
    assert hass.states.get("device_tracker.stays").state == STATE_HOME  # type: ignore[union-attr]
    return "device_tracker.stays"


async def test_options_apply_live_without_state_changes(
    fake: Fake, hass: HomeAssistant
) -> None:
    """Saving options changes the running entry; no tracker state is written."""
    entry = await add_entry(hass)
    tracker = await home_neighbour(fake, hass)
    coordinator, endpoint = entry.runtime_data, fake.endpoint
    changes: list[Event] = []
    hass.bus.async_listen(EVENT_STATE_CHANGED, changes.append)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], OPTIONS
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == OPTIONS
    assert entry.runtime_data is coordinator  # no reload
    assert fake.endpoint is endpoint  # not even a new socket
    assert [e for e in changes if e.data["entity_id"] == tracker] == []
    assert hass.states.get(tracker).state == STATE_HOME  # type: ignore[union-attr]
    assert coordinator.away_after == 45
    assert coordinator.track_new is False
    assert coordinator.remove_after_days == 7
    assert coordinator.table.capacity == 64
    announcer = coordinator.announcer
    assert announcer is not None
    assert announcer.interval == 30
    assert announcer.ttl == 90
    # Model and version kept private: only the name and addresses go out.
    assert announcer.model is None
    assert announcer.software is None
    assert announcer.manufacturer is None
    # The away time is the table's: it applies at once to the neighbour.
    assert coordinator.table.away_after == 45
    endpoint.advance(44)
    await hass.async_block_till_done()
    assert hass.states.get(tracker).state == STATE_HOME  # type: ignore[union-attr]
    endpoint.advance(2)
    await hass.async_block_till_done()
    assert hass.states.get(tracker).state == STATE_NOT_HOME  # type: ignore[union-attr]


async def test_reconfigure_applies_live_without_state_changes(
    fake: Fake, hass: HomeAssistant
) -> None:
    """A new name is announced at once; a new key re-opens the endpoint only."""
    entry = await add_entry(hass, name="old-name")
    tracker = await home_neighbour(fake, hass)
    coordinator, first = entry.runtime_data, fake.endpoint
    changes: list[Event] = []
    hass.bus.async_listen(EVENT_STATE_CHANGED, changes.append)

    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "bad.name", CONF_KEY: "", CONF_PUBLISH: True}
    )
    assert result["errors"] == {CONF_NAME: "invalid_name"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "new-name", CONF_KEY: "", CONF_PUBLISH: True}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_NAME] == "new-name"
    assert first.names == ["new-name"]  # announced under the new name at once
    assert fake.endpoint is first
    assert coordinator.own_name == "new-name"

    key = "reconfigured-key-0123456789"
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "new-name", CONF_KEY: key, CONF_PUBLISH: True}
    )
    await hass.async_block_till_done()
    assert entry.data[CONF_KEY] == key
    assert entry.runtime_data is coordinator  # no reload
    assert first.closed == 1
    assert fake.endpoint is not first
    assert fake.endpoint.running
    assert fake.endpoint.table is coordinator.table  # the neighbours are kept
    assert coordinator.table.signed_mode
    assert [e for e in changes if e.data["entity_id"] == tracker] == []
    assert hass.states.get(tracker).state == STATE_HOME  # type: ignore[union-attr]


async def test_reconfigure_reloads_when_the_sockets_cannot_reopen(
    fake: Fake, hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """A new key re-opens the sockets; when that fails, the entry reloads."""
    entry = await add_entry(hass)
    fake.fail_start(EndpointError("no_interface", "no interface 'eth0'"))
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_NAME: "ha-test", CONF_KEY: "a-new-key-0123456789", CONF_PUBLISH: True},
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert "could not restart" in caplog.text
    # The reload's setup fails the same way: Home Assistant retries it.
    assert entry.state is ConfigEntryState.SETUP_RETRY
    fake.fail_start(None)
