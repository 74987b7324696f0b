"""What-if patches for the HA benches, chosen by ``BENCH_WHATIF`` (comma list).

To measure a change before anyone makes it, or to reproduce the numbers
from before one was made:

* ``defer`` (proposed, coordinator.py): dispatch "new neighbour" (entity
  creation) in a callback of its own per neighbour.  HA adds entities with
  eager tasks, so they otherwise run inside the endpoint's reader callback.
* ``no-batch-time`` (before 5e61c8c): the endpoint reads up to 256
  datagrams per wake-up, however long that takes.
* ``kernel-buffer`` (before 5e61c8c): the group socket keeps the kernel's
  default receive buffer.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest.mock import patch

from custom_components.linkname import coordinator as coordinator_module

# The integration's copy of the core (not the `linkname` package: the same
# files, but other module objects).
from custom_components.linkname.protocol import endpoint as endpoint_module

KNOWN = ("defer", "no-batch-time", "kernel-buffer")


def active() -> list[str]:
    names = [w for w in os.environ.get("BENCH_WHATIF", "").split(",") if w]
    unknown = set(names) - set(KNOWN)
    if unknown:
        raise ValueError(f"unknown BENCH_WHATIF {sorted(unknown)}; known: {KNOWN}")
    return names


_ORIGINAL_SEND = coordinator_module.async_dispatcher_send


def _deferred_send(hass: Any, signal: str, *args: Any) -> None:
    if signal.endswith("_new"):
        hass.loop.call_soon(_ORIGINAL_SEND, hass, signal, *args)
    else:
        _ORIGINAL_SEND(hass, signal, *args)


def _kernel_buffer(_sock: socket.socket, _size: int) -> None:
    return


@contextmanager
def applied() -> Iterator[list[str]]:
    """Apply the patches named in BENCH_WHATIF for the duration."""
    names = active()
    with ExitStack() as stack:
        if "defer" in names:
            stack.enter_context(
                patch.object(
                    coordinator_module, "async_dispatcher_send", _deferred_send
                )
            )
        if "no-batch-time" in names:
            stack.enter_context(patch.object(endpoint_module, "BATCH_TIME", 1e9))
        if "kernel-buffer" in names:
            stack.enter_context(
                patch.object(endpoint_module, "_enlarge_receive_buffer", _kernel_buffer)
            )
        yield names
