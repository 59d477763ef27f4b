"""IMAP IDLE (RFC 2177) on our own client: wait for the server to push a mailbox change.

:func:`idle` sends ``IDLE``, waits for the ``+`` continuation, then for the first untagged
change push (``EXISTS``, ``EXPUNGE``, ``FETCH``, and ``VANISHED`` once QRESYNC is enabled)
or the re-issue limit, sends ``DONE`` and waits for the tagged ``OK``. Keep-alives such as
Dovecot's ``* OK Still here`` do not wake it. Changes the server reported while no command
was pending (kept by the reader as unsolicited) count as pushes too, so nothing reported
between two IDLEs is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from dataclasses import dataclass
from typing import Any

from ._client import CommandFailed, ImapClient
from ._response import Response, Tagged

__all__ = ["IdleEnd", "IdleResult", "idle", "is_change", "supports_idle"]

_CHANGE = re.compile(rb"\* (?:\d+ (?:EXISTS|EXPUNGE|FETCH)|VANISHED)\b")


class IdleEnd(enum.StrEnum):
    """Why an IDLE ended."""

    PUSH = "push"  # the server reported a change
    LIMIT = "limit"  # the re-issue limit passed
    SERVER = "server"  # the server ended the IDLE itself (a tagged response)


@dataclass(frozen=True, slots=True)
class IdleResult:
    reason: IdleEnd
    pushes: tuple[bytes, ...] = ()  # the change lines seen, in order


def supports_idle(client: ImapClient) -> bool:
    return "IDLE" in client.capabilities


def is_change(line: bytes) -> bool:
    """An untagged response that means the selected mailbox changed."""
    return _CHANGE.match(line) is not None


async def idle(client: ImapClient, *, max_seconds: float, settle: float = 0.0) -> IdleResult:
    """One IDLE on the selected mailbox, ended by a push, by ``max_seconds`` or by the server.

    ``settle``: after the first push, seconds to keep listening so a burst (an APPEND's
    EXISTS and RECENT, a multi-message EXPUNGE) ends the IDLE once.

    :raises CommandFailed: the server refused IDLE (NO/BAD).
    :raises ConnectionError, TimeoutError: the connection dropped or stopped answering
        (map with ``mail.errors.map_imap_errors``).
    """
    pending = [r.line for r in client.take_unsolicited() if is_change(r.line)]
    if pending:
        return IdleResult(IdleEnd.PUSH, tuple(pending))
    loop = asyncio.get_running_loop()
    started: asyncio.Future[None] = loop.create_future()
    woke = asyncio.Event()
    pushes: list[bytes] = []

    def on_untagged(resp: Response) -> None:
        if is_change(resp.line):
            pushes.append(resp.line)
            woke.set()

    def on_continuation(_text: bytes) -> None:
        if not started.done():
            started.set_result(None)

    done = await client.send([b"IDLE"], on_untagged=on_untagged, on_continuation=on_continuation)
    try:
        await _until_idling(client, started, done)
        waiter: asyncio.Future[Any] = asyncio.ensure_future(woke.wait())
        either: set[asyncio.Future[Any]] = {waiter, done}
        try:
            await asyncio.wait(either, timeout=max_seconds, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()
        if pushes and settle > 0 and not done.done():
            await asyncio.wait({done}, timeout=settle)
        if done.done():
            done.result()  # a dropped connection raises here
            return IdleResult(IdleEnd.PUSH if pushes else IdleEnd.SERVER, tuple(pushes))
        client.write_raw(b"DONE\r\n")
        await client.wait_ok(done, "IDLE")
    except BaseException:
        # Cancelled (shutdown) or failed: leave IDLE if we still can, so a LOGOUT works.
        if not done.done():
            with contextlib.suppress(ConnectionError, OSError):
                client.write_raw(b"DONE\r\n")
        raise
    return IdleResult(IdleEnd.PUSH if pushes else IdleEnd.LIMIT, tuple(pushes))


async def _until_idling(
    client: ImapClient, started: asyncio.Future[None], done: asyncio.Future[Tagged]
) -> None:
    """Wait for the ``+ idling`` continuation; a tagged answer first is a refusal."""
    either: set[asyncio.Future[Any]] = {started, done}
    finished, _ = await asyncio.wait(either, timeout=client.timeout, return_when="FIRST_COMPLETED")
    if started in finished:
        return
    if done in finished:
        tagged = done.result()
        raise CommandFailed("IDLE", tagged)
    raise TimeoutError(f"the server did not accept IDLE within {client.timeout:g} s")
