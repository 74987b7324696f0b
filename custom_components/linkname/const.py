"""Constants of the linkname integration."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from .protocol.const import DEFAULT_INTERVAL as PROTOCOL_DEFAULT_INTERVAL
from .protocol.table import DEFAULT_CAPACITY as PROTOCOL_DEFAULT_CAPACITY

DOMAIN: Final = "linkname"
STORAGE_VERSION: Final = 1

# Config entry data
CONF_INTERFACE: Final = "interface"
CONF_NAME: Final = "name"
CONF_PUBLISH: Final = "publish"
CONF_KEY: Final = "key"
CONF_HOST_ID: Final = "host_id"

# Options
CONF_INTERVAL: Final = "interval"
CONF_AWAY_AFTER: Final = "away_after"
CONF_TRACK_NEW: Final = "track_new"
CONF_REMOVE_AFTER_DAYS: Final = "remove_after_days"
CONF_CAPACITY: Final = "capacity"
CONF_ANNOUNCE_DETAILS: Final = "announce_details"

DEFAULT_INTERVAL: Final = PROTOCOL_DEFAULT_INTERVAL
DEFAULT_CAPACITY: Final = PROTOCOL_DEFAULT_CAPACITY
DEFAULT_NAME: Final = "home-assistant"
DEFAULT_RESOLVE_TIMEOUT: Final = 1.0
HA_MANUFACTURER: Final = "Home Assistant"

# Actions
SERVICE_ANNOUNCE: Final = "announce"
SERVICE_RESOLVE: Final = "resolve"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_NAME: Final = "name"
ATTR_TIMEOUT: Final = "timeout"


class IssueKind(StrEnum):
    """The repair issues of an entry (their translation keys)."""

    INTERFACE_DOWN = "interface_down"
    NAME_CONFLICT = "name_conflict"
    PORT_IN_USE = "port_in_use"
    SAME_LINK = "same_link"


class EndpointState(StrEnum):
    """The endpoint's state as the protocol core reports it."""

    UP = "up"
    DOWN = "down"


class SetupError(StrEnum):
    """Error codes of the endpoint that the config flow and setup translate."""

    NO_INTERFACE = "no_interface"
    NO_LINK_LOCAL = "no_link_local"
    PORT_IN_USE = "port_in_use"
    PERMISSION_DENIED = "permission_denied"
