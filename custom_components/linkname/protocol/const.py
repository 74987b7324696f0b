"""Protocol constants of linkname/1 (see docs/PROTOCOL.md)."""

from __future__ import annotations

from typing import Final

PORT: Final = 1903
GROUP: Final = "ff02::1:1"
HOP_LIMIT: Final = 255
MAX_DATAGRAM: Final = 1232  # IPv6 minimum MTU 1280 - 40 (IPv6) - 8 (UDP)

MAGIC: Final = b"LN"
VERSION: Final = 1
HEADER_LEN: Final = 32
TLV_HEADER_LEN: Final = 3

# Message types
ANNOUNCE: Final = 1
GOODBYE: Final = 2
QUERY: Final = 3

# Header flags
FLAG_RESPONSE: Final = 0x80  # an ANNOUNCE sent by unicast in answer to a QUERY

# TLV types.  Bit 0x80 of the type marks a TLV "critical": a receiver that
# does not know a critical type MUST drop the message; an unknown type without
# the bit is skipped.  Every v1 receiver knows all types below.
TLV_NAME: Final = 0x01
TLV_ADDRESSES: Final = 0x02
TLV_QUERY_NAME: Final = 0x03
TLV_MODEL: Final = 0x10
TLV_OS: Final = 0x11
TLV_SOFTWARE: Final = 0x12
TLV_MANUFACTURER: Final = 0x13  # revision 2
TLV_AUTH: Final = 0x20
CRITICAL: Final = 0x80

MAX_NAME_BYTES: Final = 63
MAX_ATTRIBUTE_BYTES: Final = 64
MAX_ADDRESSES: Final = 16

FAMILY_IPV6: Final = 6
FAMILY_IPV4: Final = 4

AUTH_MAC_LEN: Final = 32  # HMAC-SHA256, untruncated
AUTH_BODY_LEN: Final = 2 + 8 + AUTH_MAC_LEN  # key id, timestamp (ms), MAC

# Timing defaults (seconds)
DEFAULT_INTERVAL: Final = 60.0
TTL_FACTOR: Final = 3
MIN_INTERVAL: Final = 5.0
MAX_INTERVAL: Final = 3600.0
