"""Diagnostics (key redacted, rejection counters) and the name-conflict repair."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.linkname.const import DOMAIN
from custom_components.linkname.diagnostics import async_get_config_entry_diagnostics
from custom_components.linkname.protocol.auth import Key
from custom_components.linkname.protocol.codec import encode
from tests.conftest import HaLink, add_entry, wait_for

pytestmark = pytest.mark.netns

KEY = "diagnostics-key-0123456789"


async def test_diagnostics_redact_key_and_count_rejections(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Signed mode: unsigned, hop-limit-64 and bad packets are counted by reason."""
    entry = await add_entry(hass, key=KEY)
    coordinator = entry.runtime_data
    good = ha_link.peer(1, "signed", key=Key.from_text(KEY))
    bad = ha_link.peer(2, "unsigned")
    good.announce()
    bad.announce()
    bad.send(b"LN\x01garbage")
    good.send(encode(good.message()), hop_limit=64)  # signed, but off-link
    await wait_for(lambda: sum(coordinator.table.rejected.values()) >= 3)
    await wait_for(lambda: coordinator.known)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["data"]["key"] == "**REDACTED**"
    assert KEY not in repr(diagnostics)
    runtime = diagnostics["runtime"]
    assert runtime["rejected"] == {"unsigned": 1, "truncated": 1, "hop_limit": 1}
    assert runtime["signed_mode"] is True
    assert runtime["socket"]["state"] == "up"
    assert [n["name"] for n in runtime["neighbours"]] == ["signed"]
    assert runtime["neighbours"][0]["signed"] is True
    await hass.config_entries.async_unload(entry.entry_id)


async def test_name_conflict_creates_and_clears_repair_issue(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Another host announcing HA's name raises a repair; renaming clears it."""
    entry = await add_entry(hass, name="ha-test")
    impostor = ha_link.peer(1, "HA-Test")  # names compare by casefold
    impostor.announce()
    issues = ir.async_get(hass)
    issue_id = f"name_conflict_{entry.entry_id}"
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "name_conflict"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["address"] == impostor.address
    # Host IDs: HA's is ee..ee, the impostor's 00..01: HA's is greater, so by
    # the protocol's rule HA would be the one to rename.
    assert issue.translation_placeholders["renames"] == "Home Assistant"
    impostor.name = "someone-else"
    impostor.announce()
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is None)
    await hass.config_entries.async_unload(entry.entry_id)
