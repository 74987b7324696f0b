"""Diagnostics of the entry and of a neighbour's device: redacted (no root)."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.linkname.diagnostics import (
    async_get_config_entry_diagnostics,
    async_get_device_diagnostics,
)
from custom_components.linkname.protocol.auth import Key
from tests.conftest import HA_HOST_ID, Fake, add_entry

KEY = "diagnostics-key-0123456789"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
PRIVATE = ("fe80:", "fd00:", "192.0.2.", "00:11:22", "ha-test")


async def test_diagnostics_redacted_with_counters(
    fake: Fake,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """Signed mode: rejections counted by reason; nothing private in it."""
    freezer.move_to(START)
    entry = await add_entry(hass, key=KEY)
    endpoint = fake.endpoint
    good = endpoint.peer(
        0x0211_22FF_FE33_4455,
        "kitchen-pi",
        key=Key.from_text(KEY),
        extra=("fd00::5", "192.0.2.5"),
    )
    bad = endpoint.peer(2, "unsigned")
    good.announce()
    bad.announce()
    endpoint.receive(bad.message()._replace(name="x"), "not-an-address")
    coordinator = entry.runtime_data

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = repr(diagnostics)
    assert KEY not in text
    assert HA_HOST_ID.hex() not in text
    assert good.host_id.hex() not in text
    for private in PRIVATE:
        assert private not in text, private
    runtime = diagnostics["runtime"]
    assert runtime["rejected"] == {"unsigned": 1, "not_link_local": 1}
    assert runtime["signed_mode"] is True
    assert runtime["socket"]["state"] == "up"
    assert runtime["neighbours"][0]["signed"] is True
    assert runtime["accepted"] == coordinator.table.accepted == 1
    assert diagnostics == snapshot(exclude=props("expires_in"))


async def test_device_diagnostics_are_about_that_neighbour(
    fake: Fake,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """A neighbour's device: what HA knows of it (last heard too), redacted."""
    freezer.move_to(START)
    entry = await add_entry(hass)
    one = fake.endpoint.peer(1, "one", attributes={"model": "NAS"})
    fake.endpoint.peer(2, "two").announce()
    one.announce()
    await hass.async_block_till_done()
    registry = dr.async_get(hass)
    device = registry.async_get_device_by_identifier(
        ("linkname", one.host_id.hex()), entry.entry_id
    )
    assert device is not None
    diagnostics = await async_get_device_diagnostics(hass, entry, device)
    neighbour = diagnostics["neighbour"]
    assert neighbour["known"]["model"] == "NAS"
    assert neighbour["known"]["last_heard"] == START.timestamp()
    assert neighbour["in_table"] is True
    assert neighbour["table"]["seq"] == 1
    assert neighbour["known"]["name"] == "one"
    assert "two" not in repr(diagnostics)
    assert one.address not in repr(diagnostics)
    assert diagnostics == snapshot(exclude=props("expires_in"))
    # The interface's device: the entry's diagnostics.
    own = registry.async_get_device_by_identifier(
        ("linkname", "interface_eth0"), entry.entry_id
    )
    assert own is not None
    whole = await async_get_device_diagnostics(hass, entry, own)
    assert set(whole) == {"entry", "runtime"}
