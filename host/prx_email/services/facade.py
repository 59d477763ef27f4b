"""``Services``: the synchronous façade the host functions call (``bridge.HostServices``).

Host functions run on the thread that called into the guest and must return a value
synchronously. The local store services are plain functions and run right there; the
async ones (sync, outbox) run on a private event-loop thread owned by this façade —
never on the embedding application's loop, which may be the very thread blocked on
the guest call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import AccountConfig, Config
from ..errors import EmailError, InternalError, OperationTimeout
from ..types import (
    Account,
    ActionResult,
    AttachmentDownload,
    DraftInfo,
    DraftRequest,
    DraftStatus,
    EventPage,
    FolderInfo,
    FolderList,
    ForwardRequest,
    HealthReport,
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
    Thread,
    ToolLimits,
    check_dates,
)
from .context import ServiceContext

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

#: Upper bound for one async service call (sync of a large folder, SMTP delivery).
DEFAULT_TIMEOUT = 600.0


class _LoopThread:
    """An event loop running forever on a daemon thread, started on first use.

    asyncio is imported here, on first use: a process that only reads the store (one TA
    request, a CLI call) does not pay its ~15-30 ms import.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                import asyncio

                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="prx-email-services", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str, hint: str) -> T:
        import asyncio
        import concurrent.futures

        future = asyncio.run_coroutine_threadsafe(coro, self.loop())
        try:
            return future.result(timeout)
        except EmailError:
            raise  # OperationTimeout is a TimeoutError too: its own message names its timeout
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise OperationTimeout(
                f"{what} was stopped by the host's {timeout:g} s limit for one service call",
                hint=hint,
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


_RETRY_LATER = "Retry later; the embedding sets this limit (Services(timeout=…))."


def tool_limits(config: Config) -> ToolLimits:
    """The argument bounds in force for ``config`` (``[limits]`` and each account's send cap)."""
    lim = config.limits
    caps = [acc.send.max_recipients for acc in config.accounts]
    bulk = [acc.actions.bulk_limit for acc in config.accounts]
    defaults = ToolLimits()
    return ToolLimits(
        list_page_max=lim.page_max,
        list_page_default=lim.page_default,
        search_page_max=lim.page_max,
        search_page_default=lim.page_default,
        outbox_page_max=lim.page_max,
        outbox_page_default=lim.page_default,
        max_recipients=max(caps) if caps else defaults.max_recipients,
        max_attachments=lim.max_attachments,
        max_body_chars=lim.max_body_chars,
        max_attachment_base64_chars=lim.max_attachment_base64_chars,
        bulk_limit=max(bulk) if bulk else defaults.bulk_limit,
        get_many_max=defaults.get_many_max,
        attachment_inline_max_bytes=config.attachments.inline_max_bytes,
    )


class Services:
    """``HostServices`` over one ``ServiceContext``.

    ``timeout`` bounds one async service call (sync, delivery, remote search), in seconds.
    """

    def __init__(self, ctx: ServiceContext, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.ctx = ctx
        self.timeout = timeout
        self._loop = _LoopThread()
        self._limits: tuple[Config, ToolLimits] | None = None
        self._pool: Any = None  # the SessionPool this façade put on ctx (first action call)

    def close(self) -> None:
        """Log out the kept IMAP sessions, stop the private event loop (pending calls are
        abandoned)."""
        pool, self._pool = self._pool, None
        if pool is not None and self._loop.running:
            # Best effort: the loop stops below anyway.
            with contextlib.suppress(Exception):
                self._loop.run(pool.aclose(), 5.0, "closing IMAP sessions", _RETRY_LATER)
        self._loop.close()

    def _keep_sessions(self) -> None:
        """Mailbox actions lease kept IMAP sessions from now on (one login per account,
        not per call); imported here, on the first action, not at start-up."""
        if self.ctx.imap_sessions is None:
            from .actions import SessionPool

            self._pool = self.ctx.imap_sessions = SessionPool()

    def _run(self, coro: Coroutine[Any, Any, T], what: str, hint: str = _RETRY_LATER) -> T:
        import asyncio

        try:
            return self._loop.run(coro, self.timeout, what, hint)
        except EmailError:
            raise
        except asyncio.CancelledError:
            raise InternalError("the operation was cancelled") from None

    def limits(self) -> ToolLimits:
        """The bounds in force; recomputed when the config was reloaded."""
        config = self.ctx.config
        cached = self._limits
        if cached is None or cached[0] is not config:
            cached = self._limits = (config, tool_limits(config))
        return cached[1]

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

    def health(self, account_id: int | None, *, network: bool) -> HealthReport:
        """The doctor's checks as a summary; offline checks only when ``network`` is off."""
        from . import doctor

        if account_id is not None:
            self.ctx.account(account_id)
        return self._run(doctor.health(self.ctx, account_id, network=network), "the health checks")

    # Service modules are imported on first use: the network ones pull in aioimaplib,
    # aiosmtplib and ssl, which a plugin that only reads the store never needs, and
    # start-up time is what an agent runtime waits for.

    def list_messages(self, query: ListQuery) -> MessagePage:
        from . import mailbox

        self.ctx.account(query.account_id)
        self.limits().check_page("list", query.limit)
        return mailbox.list_messages(self.ctx.db, query)

    def get_message(self, account_id: int, key: int) -> Message | None:
        from . import mailbox

        self.ctx.account(account_id)
        return mailbox.get_message(self.ctx.db, account_id, key)

    def search(self, query: SearchQuery) -> MessagePage:
        self.ctx.account(query.account_id)
        self.limits().check_page("search", query.limit)
        check_dates(query.since, query.before)
        if query.remote:
            from . import sync as sync_service

            return self._run(sync_service.search_remote(self.ctx, query), "the remote search")
        from . import mailbox

        return mailbox.search_local(self.ctx.db, query)

    # -- network ---------------------------------------------------------------------

    def check_send(self, msg: OutgoingMessage) -> AccountConfig:
        """The bounds ``send`` enforces before anything is queued (the account's own cap).

        :returns: the account, looked up once and passed down to the outbox.
        :raises AccountNotFound, InvalidArgument:
        """
        account = self.ctx.account(msg.account_id)
        self.limits().check_outgoing(msg, account.send.max_recipients)
        return account

    def check_reply(self, req: ReplyRequest) -> AccountConfig:
        """The bounds ``reply`` enforces before anything is queued.

        :returns: the account, looked up once and passed down to the outbox.
        :raises AccountNotFound, InvalidArgument:
        """
        account = self.ctx.account(req.account_id)
        self.limits().check_bodies(req.body_text, req.body_html)
        return account

    def sync(self, req: SyncRequest) -> SyncReport:
        from . import sync as sync_service

        self.ctx.account(req.account_id)
        return self._run(
            sync_service.sync(self.ctx, req),
            "the sync",
            "Run it again: it resumes where it stopped; max_messages makes each run shorter.",
        )

    def send(self, msg: OutgoingMessage) -> OutboxEntry:
        from . import outbox as outbox_service

        account = self.check_send(msg)
        return self._run(outbox_service.send(self.ctx, msg, account=account), "the delivery")

    def reply(self, req: ReplyRequest) -> OutboxEntry:
        from . import outbox as outbox_service

        account = self.check_reply(req)
        return self._run(outbox_service.reply(self.ctx, req, account=account), "the delivery")

    # -- email.forward (issue 11) -----------------------------------------------------------

    def check_forward(self, req: ForwardRequest) -> AccountConfig:
        """The bounds ``forward`` enforces before the server is asked (as ``send``'s).

        :returns: the account, looked up once and passed down to the outbox.
        :raises AccountNotFound, InvalidArgument:
        """
        account = self.ctx.account(req.account_id)
        as_message = OutgoingMessage(
            account_id=req.account_id,
            to=req.to,
            subject="",
            cc=req.cc,
            bcc=req.bcc,
            body_text=req.body_text,
            body_html=req.body_html,
        )
        self.limits().check_outgoing(as_message, account.send.max_recipients)
        return account

    def forward(self, req: ForwardRequest) -> OutboxEntry:
        from . import outbox as outbox_service

        account = self.check_forward(req)
        self._keep_sessions()
        return self._run(outbox_service.forward(self.ctx, req, account=account), "the forward")

    def retry(self, outbox_id: int, *, now: bool = False) -> OutboxEntry:
        from . import outbox as outbox_service

        return self._run(outbox_service.retry(self.ctx, outbox_id, now=now), "the delivery")

    def list_outbox(self, query: OutboxQuery) -> OutboxPage:
        from . import outbox as outbox_service

        if query.account_id is not None:
            self.ctx.account(query.account_id)
        self.limits().check_page("outbox", query.limit)
        return outbox_service.list_outbox(self.ctx, query)

    def events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        types: Sequence[str] = (),
        account_id: int | None = None,
        wait_ms: int = 0,
    ) -> EventPage:
        """The event log after a cursor; waits here (this thread) up to ``wait_ms``."""
        from . import events as events_service

        return events_service.page(
            self.ctx,
            after=after,
            limit=limit,
            types=types,
            account_id=account_id,
            wait_ms=wait_ms,
        )

    def outbox_account(self, outbox_id: int) -> int | None:
        """The account of an outbox row, None when there is no such row (the policy's view)."""
        from ..store.outbox import OutboxRepo

        entry = OutboxRepo(self.ctx.db).entry(outbox_id)
        return None if entry is None else entry.account_id

    # -- drafts (issue 12) ----------------------------------------------------------------

    def check_draft(self, req: DraftRequest) -> None:
        """The bounds a draft must keep before the server is asked.

        :raises AccountNotFound, InvalidArgument:
        """
        account = self.ctx.account(req.account_id)
        as_message = OutgoingMessage(
            account_id=req.account_id,
            to=req.to,
            subject=req.subject,
            cc=req.cc,
            bcc=req.bcc,
            body_text=req.body_text,
            body_html=req.body_html,
            attachments=req.attachments,
        )
        self.limits().check_outgoing(as_message, account.send.max_recipients)

    def draft_create(self, req: DraftRequest) -> DraftInfo:
        from . import drafts

        self.check_draft(req)
        return self._run(drafts.create(self.ctx, req), "the draft upload")

    def draft_status(self, account_id: int, draft_id: str) -> DraftStatus:
        from . import drafts

        self.ctx.account(account_id)
        return self._run(drafts.status(self.ctx, account_id, draft_id), "the draft lookup")

    def draft_update(self, draft_id: str, req: DraftRequest) -> DraftInfo:
        from . import drafts

        self.check_draft(req)
        return self._run(drafts.update(self.ctx, draft_id, req), "the draft upload")

    def draft_send(self, account_id: int, draft_id: str, send_at: str | None = None) -> OutboxEntry:
        from . import outbox as outbox_service

        return self._run(
            outbox_service.send_draft(self.ctx, account_id, draft_id, send_at), "the delivery"
        )

    def cancel(self, outbox_id: int) -> OutboxEntry:
        from . import outbox as outbox_service

        return outbox_service.cancel(self.ctx, outbox_id)

    def draft_delete(self, account_id: int, draft_id: str) -> int:
        from . import drafts

        self.ctx.account(account_id)
        return self._run(drafts.delete(self.ctx, account_id, draft_id), "the draft removal")

    # -- mailbox actions (issue 11) ------------------------------------------------------
    # The action services look the account up themselves (once per call); the network
    # gate is the bridge's, which passes ``network`` where a service can do without it.

    def folders(self, account_id: int, *, network: bool) -> FolderList:
        from . import actions

        self._keep_sessions()
        return self._run(actions.folders(self.ctx, account_id, network=network), "listing folders")

    def folder_create(self, account_id: int, name: str) -> tuple[FolderInfo, bool]:
        from . import actions

        self._keep_sessions()
        return self._run(actions.folder_create(self.ctx, account_id, name), "creating a folder")

    def folder_rename(self, account_id: int, old: str, new: str) -> tuple[FolderInfo, bool]:
        from . import actions

        self._keep_sessions()
        return self._run(actions.folder_rename(self.ctx, account_id, old, new), "renaming a folder")

    def folder_delete(self, account_id: int, name: str, *, force: bool = False) -> bool:
        from . import actions

        self._keep_sessions()
        return self._run(
            actions.folder_delete(self.ctx, account_id, name, force=force), "deleting a folder"
        )

    def mark(
        self, account_id: int, ids: Sequence[int], *, add: Sequence[str], remove: Sequence[str]
    ) -> list[ActionResult]:
        from . import actions

        self._keep_sessions()
        return self._run(
            actions.mark(self.ctx, account_id, ids, add=add, remove=remove), "marking messages"
        )

    def label(
        self, account_id: int, ids: Sequence[int], *, add: Sequence[str], remove: Sequence[str]
    ) -> list[ActionResult]:
        from . import actions

        self._keep_sessions()
        return self._run(
            actions.label(self.ctx, account_id, ids, add=add, remove=remove), "labelling messages"
        )

    def move(
        self,
        account_id: int,
        ids: Sequence[int],
        *,
        folder: str | None = None,
        role: str | None = None,
    ) -> list[ActionResult]:
        from . import actions

        self._keep_sessions()
        return self._run(
            actions.move(self.ctx, account_id, ids, folder=folder, role=role), "moving messages"
        )

    def archive(self, account_id: int, ids: Sequence[int]) -> list[ActionResult]:
        from . import actions

        self._keep_sessions()
        return self._run(actions.archive(self.ctx, account_id, ids), "archiving messages")

    def delete(
        self, account_id: int, ids: Sequence[int], *, permanent: bool = False
    ) -> list[ActionResult]:
        from . import actions

        self._keep_sessions()
        return self._run(
            actions.delete(self.ctx, account_id, ids, permanent=permanent), "deleting messages"
        )

    def thread(self, account_id: int, key: int) -> Thread:
        from . import actions

        return actions.thread(self.ctx, account_id, key)

    def get_many(self, account_id: int, ids: Sequence[int]) -> list[Message | None]:
        # A store read: services.mailbox, not the actions package (it imports the IMAP stack).
        from . import mailbox

        self.ctx.account(account_id)
        return mailbox.get_many(self.ctx.db, account_id, ids)

    def attachment(
        self, account_id: int, key: int, index: int, *, inline: bool, network: bool
    ) -> AttachmentDownload:
        from . import actions

        self._keep_sessions()
        return self._run(
            actions.attachment(self.ctx, account_id, key, index, inline=inline, network=network),
            "getting the attachment",
        )
