"""Import asyncio without ssl, for the ``linkname`` command only (issue 10 §7).

asyncio imports :mod:`ssl` at start (``base_events``, ``sslproto``), and ssl
maps OpenSSL's libssl and libcrypto: about 3.5 MiB of the daemon's resident
memory, for TLS that no linkname command uses.  asyncio copes with a missing
ssl module (``ssl = None``; only TLS transports then fail, with "stdlib ssl
module not available").  So, when neither asyncio nor ssl is imported yet,
this module imports asyncio while ``import ssl`` fails, and then removes the
block again: code that imports ssl later still gets it (at its own cost).

Only ``cli`` (the command) imports this, before asyncio; a process that
already has asyncio (Home Assistant, the tests) is left as it is.
``tests/protocol/test_footprint.py`` checks the command's import graph.
"""

from __future__ import annotations

import sys

if "asyncio" not in sys.modules and "ssl" not in sys.modules:
    sys.modules["ssl"] = None  # type: ignore[assignment]  # import ssl: ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
