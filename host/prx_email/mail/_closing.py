"""Closing a connection and waiting until its socket is really released.

``transport.abort()`` only *schedules* the close: the socket is released on a later turn of
the event loop (and through an extra hop for TLS). A coroutine that returns right after
``abort()`` can outlive that turn — the test's loop closes first and the transport is
collected unclosed (``ResourceWarning: unclosed transport``). Every connection we open is
released through :func:`abort_and_wait`, which returns only once the socket is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

_WAIT = 1.0  # seconds; an abort completes within a few loop turns, this is only a backstop


async def abort_and_wait(transport: asyncio.BaseTransport | None, timeout: float = _WAIT) -> None:
    """Abort ``transport`` and wait (at most ``timeout``) until its socket is closed.

    Safe on a transport that is already closing or closed; never raises for the close
    itself. Cancellation while waiting is honoured after the abort has been issued.
    """
    if transport is None:
        return
    # Taken before the abort: a TLS transport forgets its socket once the close completes.
    sock: Any = transport.get_extra_info("socket")
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:  # pragma: no cover - every transport we open is a stream transport
        transport.close()
    if sock is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    turns = 0
    while _is_open(sock) and loop.time() < deadline:
        # The close runs as a loop callback: yielding once or twice is usually enough.
        await asyncio.sleep(0 if turns < 8 else 0.005)
        turns += 1
    # One more turn for the protocol's own connection_lost callback (scheduled after the
    # socket closed on TLS transports).
    await asyncio.sleep(0)


def _is_open(sock: Any) -> bool:
    try:
        return int(sock.fileno()) != -1
    except (OSError, ValueError):
        return False


__all__ = ["abort_and_wait"]
