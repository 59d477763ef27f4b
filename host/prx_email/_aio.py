"""asyncio helpers the long-lived loops share (watchers, the outbox loop, the MCP pump)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(*tasks: asyncio.Task[Any], every: float = 0.5) -> None:
    """Cancel ``tasks`` and return once every one has ended, cancelling again any that runs on.

    One ``cancel()`` is not always enough on Python 3.11: ``asyncio.wait_for`` (the timeouts
    of aiosmtplib and of our IMAP reader) drops a cancellation that lands just as the awaited
    reply arrives, and the task carries on — seen as a watcher's outbox loop that went back to
    sleep for its interval instead of ending, so SIGTERM never finished the watcher. Results
    and exceptions stay on the tasks for the caller.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
