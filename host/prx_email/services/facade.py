"""``Services``: the synchronous façade the host functions call (``bridge.HostServices``).

Host functions run on the thread that called into the guest and must return a value
synchronously. The local store services are plain functions and run right there; the
async ones (sync, outbox) run on a private event-loop thread owned by this façade —
never on the embedding application's loop, which may be the very thread blocked on
the guest call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..errors import EmailError, InternalError, OperationTimeout
from ..types import (
    Account,
    ListQuery,
    Message,
    MessagePage,
    OutboxEntry,
    OutboxPage,
    OutboxQuery,
    OutgoingMessage,
    ReplyRequest,
    SearchQuery,
    SyncReport,
    SyncRequest,
)
from .context import ServiceContext

T = TypeVar("T")

#: Upper bound for one async service call (sync of a large folder, SMTP delivery).
DEFAULT_TIMEOUT = 600.0


class _LoopThread:
    """An event loop running forever on a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="prx-email-services", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise OperationTimeout(
                f"the operation did not finish within {timeout:g} s",
                hint="try again later or with a smaller request (max_messages, fewer folders)",
            ) from None
        except BaseException:  # e.g. KeyboardInterrupt while waiting: stop the work too
            future.cancel()
            raise

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()


class Services:
    """``HostServices`` over one ``ServiceContext``."""

    def __init__(self, ctx: ServiceContext, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.ctx = ctx
        self.timeout = timeout
        self._loop = _LoopThread()

    def close(self) -> None:
        """Stop the private event loop (pending calls are abandoned)."""
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._loop.run(coro, self.timeout)
        except EmailError:
            raise
        except asyncio.CancelledError:
            raise InternalError("the operation was cancelled") from None

    # -- accounts and local store --------------------------------------------------

    def accounts(self) -> list[Account]:
        return [
            Account(
                id=acc.id,
                name=acc.name,
                address=acc.address,
                has_imap=acc.imap is not None,
                has_smtp=acc.smtp is not None,
                folders=tuple(acc.sync.folders),
            )
            for acc in self.ctx.config.accounts
        ]

    # Service modules are imported on first use: the network ones pull in aioimaplib,
    # aiosmtplib and ssl, which a plugin that only reads the store never needs, and
    # start-up time is what an agent runtime waits for.

    def list_messages(self, query: ListQuery) -> MessagePage:
        from . import mailbox

        self.ctx.account(query.account_id)
        return mailbox.list_messages(self.ctx.db, query)

    def get_message(self, account_id: int, key: int) -> Message | None:
        from . import mailbox

        self.ctx.account(account_id)
        return mailbox.get_message(self.ctx.db, account_id, key)

    def search(self, query: SearchQuery) -> MessagePage:
        self.ctx.account(query.account_id)
        if query.remote:
            from . import sync as sync_service

            return self._run(sync_service.search_remote(self.ctx, query))
        from . import mailbox

        return mailbox.search_local(self.ctx.db, query)

    # -- network ---------------------------------------------------------------------

    def sync(self, req: SyncRequest) -> SyncReport:
        from . import sync as sync_service

        self.ctx.account(req.account_id)
        return self._run(sync_service.sync(self.ctx, req))

    def send(self, msg: OutgoingMessage) -> OutboxEntry:
        from . import outbox as outbox_service

        # The service looks the account up (once) and raises AccountNotFound itself.
        return self._run(outbox_service.send(self.ctx, msg))

    def reply(self, req: ReplyRequest) -> OutboxEntry:
        from . import outbox as outbox_service

        return self._run(outbox_service.reply(self.ctx, req))

    def retry(self, outbox_id: int, *, now: bool = False) -> OutboxEntry:
        from . import outbox as outbox_service

        return self._run(outbox_service.retry(self.ctx, outbox_id, now=now))

    def list_outbox(self, query: OutboxQuery) -> OutboxPage:
        from . import outbox as outbox_service

        if query.account_id is not None:
            self.ctx.account(query.account_id)
        return outbox_service.list_outbox(self.ctx, query)
