"""Consumers of the durable event log (issue 13): pages, long-polls, followers, retention.

Every way to consume (``email.events``, ``prx-email events``, ``Plugin.events``) is
at-least-once with a cursor: a reader passes the id of the last event it processed as
``after`` and gets everything newer, oldest first. Named consumers store that cursor in
the store (``ack``), so one restarted later resumes where it stopped::

    cursor ──read(after=cursor)──▶ events ──process──▶ ack(name, last id) ──▶ cursor

Waiting happens in the calling thread (``EventLog.wait``), never on an event loop: the
async follower runs each wait in a worker thread. The local store answers with the
network off.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence

from ..errors import InvalidArgument
from ..store.events import EventLog
from ..types import Event, EventPage
from .context import ServiceContext

__all__ = ["follow", "page", "prune"]

_DAY = 86_400.0
#: Seconds one wait of a follower lasts before it looks again (and notices a stop).
FOLLOW_WAIT = 1.0


def _log(ctx: ServiceContext) -> EventLog:
    return EventLog(ctx.db)


def page(
    ctx: ServiceContext,
    *,
    after: int = 0,
    limit: int = 100,
    types: Sequence[str] = (),
    account_id: int | None = None,
    wait_ms: int = 0,
) -> EventPage:
    """Events after ``after``; with ``wait_ms``, waits until one exists (at most 30 s).

    :raises InvalidArgument: a bad cursor, limit, type or wait.
    :raises AccountNotFound, StorageError:
    """
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, int) or wait_ms < 0:
        raise InvalidArgument("wait_ms must be between 0 and 30000", hint="0 answers at once")
    if account_id is not None:
        ctx.account(account_id)
    return _log(ctx).page(
        after, limit=limit, types=types or None, account_id=account_id, wait=wait_ms / 1000
    )


async def follow(
    ctx: ServiceContext,
    *,
    after: int = 0,
    types: Sequence[str] = (),
    account_id: int | None = None,
    consumer: str | None = None,
    batch: int = 100,
) -> AsyncIterator[Event]:
    """Every event after ``after`` (or after ``consumer``'s stored cursor), then each new one
    as it is committed, forever.

    With ``consumer``, each event is acknowledged once the caller asks for the next one
    (it has processed this one): a consumer stopped mid-way gets the unacknowledged event
    again (at-least-once). A new consumer starts at ``after``.

    :raises InvalidArgument, StorageError:
    """
    log = _log(ctx)
    cursor = after
    if consumer is not None:
        cursor = log.register(consumer, at=after)
    stop = threading.Event()
    try:
        while True:
            found = await asyncio.to_thread(
                log.wait,
                cursor,
                timeout=FOLLOW_WAIT,
                limit=batch,
                types=types or None,
                account_id=account_id,
                stop=stop,
            )
            for event in found:
                yield event
                cursor = event.id
                if consumer is not None:
                    await asyncio.to_thread(log.ack, consumer, cursor)
    finally:
        stop.set()


def prune(ctx: ServiceContext, *, now: float | None = None) -> int:
    """Apply ``[events]`` retention; returns events deleted. :raises StorageError:"""
    settings = ctx.config.events
    return _log(ctx).prune(
        max_age_seconds=settings.max_age_days * _DAY if settings.max_age_days else None,
        max_count=settings.max_count or None,
        now=now,
        drop_unacked=settings.prune_unacked,
    )
