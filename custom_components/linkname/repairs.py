"""Repair issues of a linkname entry: raised and cleared by the coordinator.

None is fixable from the UI: each clears by itself once the condition is
gone (the interface is back, the port is free, the name is unique, Home
Assistant no longer hears its other entry on the link).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, IssueKind


def issue_id(kind: IssueKind, entry_id: str) -> str:
    """The ID of an entry's issue of ``kind``."""
    return f"{kind}_{entry_id}"


@callback
def async_raise(
    hass: HomeAssistant,
    entry_id: str,
    kind: IssueKind,
    severity: ir.IssueSeverity,
    placeholders: dict[str, str],
) -> None:
    """Create (or update) the entry's issue of ``kind``."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry_id),
        is_fixable=False,
        severity=severity,
        translation_key=kind,
        translation_placeholders=placeholders,
    )


@callback
def async_clear(hass: HomeAssistant, entry_id: str, kind: IssueKind) -> None:
    """Delete the entry's issue of ``kind`` (nothing when there is none)."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


@callback
def async_clear_all(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every issue of the entry (it was removed)."""
    for kind in IssueKind:
        async_clear(hass, entry_id, kind)
