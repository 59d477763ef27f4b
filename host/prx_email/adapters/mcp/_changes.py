"""Where resource updates come from, and who hears about them.

::

    ChangeSource.changes()  ──Change("account", 1) / Change("outbox")──▶  Subscriptions.pump
    (StoreWatcher today;                                                   │ uris_for(change)
     the durable event log later)                                          ▼
                                                      every session subscribed to those URIs:
                                                      notifications/resources/updated

A source is anything with ``changes() -> AsyncIterator[Change]``. The pump calls it again
after the iterator ends or fails (a "reconnect", with a short backoff); subscriptions live in
``Subscriptions``, not in the source, so they survive that. ``StoreWatcher`` polls the
store's ``data_version`` every ``interval`` seconds on one thread and reads the per-account
and outbox stamps only when it moved: idle cost is one pragma per tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated

from ...errors import EmailError
from ...store.changes import ChangeStamps, change_stamps, data_version
from ...store.db import Database
from ._resources import uris_for

__all__ = ["Change", "ChangeSource", "StoreWatcher", "Subscriptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """What changed: one account's mail, or the outbox."""

    kind: Literal["account", "outbox"]
    account_id: int | None = None


class ChangeSource(Protocol):
    """An async stream of changes; ``changes()`` may be called again to reconnect."""

    def changes(self) -> AsyncIterator[Change]: ...


def diff(old: ChangeStamps, new: ChangeStamps) -> list[Change]:
    """The changes between two stamps (accounts in id order, then the outbox)."""
    out = [
        Change("account", account)
        for account in sorted(old.accounts.keys() | new.accounts.keys())
        if old.accounts.get(account) != new.accounts.get(account)
    ]
    if old.outbox != new.outbox:
        out.append(Change("outbox"))
    return out


class StoreWatcher:
    """A ``ChangeSource`` that polls the store cheaply (``PRAGMA data_version``)."""

    def __init__(self, db: Database, *, interval: float = 0.25) -> None:
        self._db = db
        self.interval = interval
        # One thread, so data_version is always asked on the same connection.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prx-mcp-watch")
        #: What was last reported: a reconnection diffs against it, so nothing that changed
        #: while the source was down goes unreported.
        self._stamps: ChangeStamps | None = None

    def _read_sync(self, last: int | None) -> tuple[int, ChangeStamps | None]:
        version = data_version(self._db)
        return version, (change_stamps(self._db) if version != last else None)

    async def changes(self) -> AsyncIterator[Change]:
        """Changes since the last one reported (on the first call: from now on).

        :raises StorageError: the store cannot be read (the pump reconnects).
        """
        loop = asyncio.get_running_loop()
        version: int | None = None
        while True:
            version, new = await loop.run_in_executor(self._thread, self._read_sync, version)
            if new is not None:
                if self._stamps is not None:
                    for change in diff(self._stamps, new):
                        yield change
                self._stamps = new
            await asyncio.sleep(self.interval)

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


class _Session(Protocol):
    async def send_resource_updated(self, uri: str) -> None: ...


class Subscriptions:
    """Which session watches which URI; ``pump`` turns changes into notifications.

    Two eras of the protocol: 2025-11-25 sessions ``resources/subscribe`` (kept here, one
    ``notifications/resources/updated`` per subscribed URI); 2026-07-28 clients open a
    ``subscriptions/listen`` stream, served by the SDK's ``ListenHandler`` over ``bus``
    (every changed URI is published there; the handler filters per stream).
    """

    def __init__(self, *, retry_delay: float = 0.5) -> None:
        self._by_session: dict[_Session, set[str]] = {}
        self.bus = InMemorySubscriptionBus()
        self.retry_delay = retry_delay
        #: How often the source was (re)connected: 1 after the first start.
        self.connects = 0

    def subscribe(self, session: _Session, uri: str) -> None:
        self._by_session.setdefault(session, set()).add(uri)

    def unsubscribe(self, session: _Session, uri: str) -> None:
        uris = self._by_session.get(session)
        if uris is not None:
            uris.discard(uri)
            if not uris:
                del self._by_session[session]

    def subscribed(self) -> set[str]:
        return set().union(*self._by_session.values()) if self._by_session else set()

    async def publish(self, uris: Iterable[str]) -> None:
        """Notify every session subscribed to one of ``uris``; a dead session is dropped."""
        wanted = set(uris)
        for uri in sorted(wanted):
            await self.bus.publish(ResourceUpdated(uri=uri))
        for session, theirs in list(self._by_session.items()):
            for uri in sorted(wanted & theirs):
                try:
                    await session.send_resource_updated(uri)
                except Exception as exc:  # a closed transport: forget that session
                    log.info("dropping a resource subscriber: %s", type(exc).__name__)
                    self._by_session.pop(session, None)
                    break

    async def pump(self, source: ChangeSource) -> None:
        """Forward ``source``'s changes forever, reconnecting when it ends or fails."""
        while True:
            self.connects += 1
            try:
                async for change in source.changes():
                    await self.publish(uris_for(change.kind, change.account_id))
            except asyncio.CancelledError:
                raise
            except EmailError as exc:
                log.warning("change source failed (%s); reconnecting", exc.code.envelope)
            except Exception as exc:
                log.warning("change source failed (%s); reconnecting", type(exc).__name__)
            await asyncio.sleep(self.retry_delay)
