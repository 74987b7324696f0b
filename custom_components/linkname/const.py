"""Constants of the linkname integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "linkname"

CONF_INTERFACE: Final = "interface"
