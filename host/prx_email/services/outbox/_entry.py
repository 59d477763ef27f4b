"""Entry points: send, reply, forward, retry, cancel, drain_due, watch, list_outbox, get_entry.

Each looks its account up once and passes it down. ``send``/``reply``/``retry`` answer the
row when it was delivered and raise the real error otherwise (the row stays queued; the
message says when it is due and what delivers it). With ``send_at`` they answer the
``scheduled`` row at once: nothing is sent then, whatever drains the outbox delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
from collections.abc import Callable

from ...config.model import AccountConfig
from ...errors import (
    CancelTooLate,
    CircuitOpen,
    EmailError,
    InvalidState,
    NotFound,
    SmtpPermanent,
)
from ...store.outbox import OutboxRepo
from ...types import (
    ForwardRequest,
    OutboxEntry,
    OutboxPage,
    OutboxQuery,
    OutboxStatus,
    OutgoingMessage,
    ReplyRequest,
)
from ..circuit import CircuitSettings
from ..context import ServiceContext
from ..send_policy import check_recipients
from ..sent_folder import ImapSentFolder, SentFolder
from ._compose import check_forward, queue_for, queue_forward_for, queue_reply_for, smtp_account
from ._deliver import Deliverer, DrainReport, Hook, iso, make_breaker, new_worker_id
from ._recovery import Run
from ._schedule import parse_send_at

_DELIVERED_BY = (
    "it is delivered by `prx-email send-due`, by `prx-email sync --watch`, or now by"
    " email.retry with now=true"
)


async def _deliver_one(
    ctx: ServiceContext, account: AccountConfig, outbox_id: int, sent: SentFolder | None = None
) -> tuple[OutboxEntry, EmailError | None, bool]:
    """Claim and deliver one row: (the row after, its error if not delivered, claimed)."""
    repo = OutboxRepo(ctx.db)
    report = DrainReport(worker_id=new_worker_id())
    own_sent = sent is None
    sent_folder: SentFolder = sent if sent is not None else ImapSentFolder(ctx.credentials)
    now = ctx.clock()
    rows = repo.claim(
        token=secrets.token_hex(16),
        worker_id=report.worker_id,
        now=now,
        lease_until=now + account.send.lease_seconds,
        limit=1,
        ids=[outbox_id],
    )
    error: EmailError | None = None
    try:
        if rows:
            run = Run(ctx, repo, make_breaker(ctx), sent_folder, report, None)
            d = run.deliverer(account)
            d.failures_before = 1  # a direct send may be the half-open probe: always report
            await d.run(rows)
            error = d.errors.get(outbox_id)
    finally:
        if own_sent:
            await sent_folder.close()
    entry = repo.entry(outbox_id)
    assert entry is not None
    return entry, error, bool(rows)


def _answer(entry: OutboxEntry, error: EmailError | None) -> OutboxEntry:
    """The row when delivered; else raise the error that stopped it, saying what comes next.

    :raises SmtpPermanent: the row is ``dead``.
    :raises EmailError: the real error (connection, timeout, 4xx …); the row is queued.
    """
    if entry.status is OutboxStatus.DEAD:
        dead = SmtpPermanent(
            f"outbox #{entry.id} was not delivered: {entry.last_error}",
            hint="the row is dead and will not be retried; fix the cause and send a new message",
        )
        dead.run_id = error.run_id if error is not None else None
        raise dead from error
    if entry.status is OutboxStatus.SENT or error is None:
        return entry
    if entry.status is OutboxStatus.HELD:
        what = f"it is held as outbox row {entry.id} (DATA was sent, the outcome is unknown)"
        hint = "look for it at the recipient first; email.retry with now=true sends it again"
    else:
        due = f"due at {iso(entry.next_attempt_at)}" if entry.next_attempt_at else "due now"
        what = f"queued as outbox row {entry.id}, {due} (attempts so far: {entry.attempts})"
        hint = _DELIVERED_BY
    out = copy.copy(error)
    out.message = f"{error.message}; not delivered yet: {what}"
    out.args = (out.message,)
    out.hint = f"{error.hint}; {hint}" if error.hint else hint
    raise out from error


async def deliver_unless_scheduled(
    ctx: ServiceContext, account: AccountConfig, outbox_id: int
) -> OutboxEntry:
    """A ``scheduled`` or ``awaiting_approval`` row as it is; any other row delivered now
    (answered as by ``send``)."""
    entry = OutboxRepo(ctx.db).entry(outbox_id)
    if entry is not None and entry.status in (
        OutboxStatus.SCHEDULED,
        OutboxStatus.AWAITING_APPROVAL,
    ):
        return entry
    entry, error, _ = await _deliver_one(ctx, account, outbox_id)
    return _answer(entry, error)


async def send(
    ctx: ServiceContext, msg: OutgoingMessage, *, account: AccountConfig | None = None
) -> OutboxEntry:
    """Queue a message durably, then deliver it.

    ``account``: the caller's look-up of ``msg.account_id`` (the façade's), so it happens once.

    :raises CircuitOpen: the account's SMTP is paused after repeated failures (nothing queued).
    :raises SmtpPermanent: the server refused it for good (the row is ``dead``).
    :raises ConnectionFailed, OperationTimeout, SmtpTransient, AuthFailed …: not delivered
        now; the message names the queued row, when it is due and what delivers it.
    :raises AccountNotFound, ConfigError, InvalidArgument, AttachmentRejected, StorageError:
    """
    account = smtp_account(ctx, msg.account_id, account)
    if msg.send_at is None:
        make_breaker(ctx).acquire(account.id, ctx.clock())
    outbox_id = queue_for(ctx, account, msg)
    return await deliver_unless_scheduled(ctx, account, outbox_id)


async def reply(
    ctx: ServiceContext, req: ReplyRequest, *, account: AccountConfig | None = None
) -> OutboxEntry:
    """Queue a reply to a stored message, then deliver it (``account`` as for :func:`send`).

    :raises NotFound: no such stored message in the account.
    :raises CircuitOpen, SmtpPermanent, AccountNotFound, ConfigError, InvalidArgument:
    :raises EmailError: not delivered now (as :func:`send`).
    """
    account = smtp_account(ctx, req.account_id, account)
    if req.send_at is None:
        make_breaker(ctx).acquire(account.id, ctx.clock())
    outbox_id = queue_reply_for(ctx, account, req)
    return await deliver_unless_scheduled(ctx, account, outbox_id)


async def forward(
    ctx: ServiceContext, req: ForwardRequest, *, account: AccountConfig | None = None
) -> OutboxEntry:
    """Forward a stored message through the outbox (``account`` as for :func:`send`).

    Recipients and the note are checked first; then the original is gathered (kept
    attachments from the store, the rest from the server: ``actions.forward_source``),
    the forward built and queued, and delivered as :func:`send` delivers.

    :raises NotFound: no such stored message; the server no longer holds the original.
    :raises AttachmentUnavailable: an attachment was not kept and cannot be fetched.
    :raises CircuitOpen, SmtpPermanent, AccountNotFound, ConfigError, InvalidArgument:
    :raises EmailError: not delivered now (as :func:`send`).
    """
    from ..actions import forward_source  # the IMAP side, only when forwarding

    account = smtp_account(ctx, req.account_id, account)
    # Checked before the original is fetched: a bad time costs no IMAP round trip.
    send_at = parse_send_at(account, req.send_at, ctx.clock())
    if send_at is None:
        make_breaker(ctx).acquire(account.id, ctx.clock())
    plan = check_forward(account, req)
    source = await forward_source(
        ctx,
        req.account_id,
        req.message,
        mode=req.mode,
        include_attachments=req.include_attachments,
        max_bytes=account.send.max_message_bytes,
    )
    outbox_id = queue_forward_for(ctx, account, req, plan, source, send_at=send_at)
    return await deliver_unless_scheduled(ctx, account, outbox_id)


async def retry(ctx: ServiceContext, outbox_id: int, *, now: bool = False) -> OutboxEntry:
    """Deliver a pending or failed row that is due; ``now`` also one not due, or ``held``.

    :raises NotFound: no such row.
    :raises InvalidState: the row is sending, sent, dead, held or not due (without ``now``).
    :raises CircuitOpen, SmtpPermanent:
    :raises EmailError: not delivered (as :func:`send`).
    """
    repo = OutboxRepo(ctx.db)
    entry = repo.entry(outbox_id)
    if entry is None:
        raise NotFound(f"no outbox row {outbox_id}", hint="see email.outbox for the ids")
    t = ctx.clock()
    retryable = (OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.HELD)
    if entry.status not in retryable:
        hints = {
            OutboxStatus.SENT: f"it was sent at {iso(entry.sent_at or entry.updated_at)}",
            OutboxStatus.SENDING: "it is being sent right now",
            OutboxStatus.DEAD: f"it failed for good ({entry.last_error}); send a new message",
            OutboxStatus.SCHEDULED: f"it is scheduled for {iso(entry.send_at or 0)}; whatever"
            " drains the outbox delivers it then (email.cancel stops it)",
            OutboxStatus.CANCELLED: "it was cancelled; send a new message",
            OutboxStatus.AWAITING_APPROVAL: "it waits for a person to approve it (prx-email"
            " approve); it is sent then, do not send it again",
            OutboxStatus.REJECTED: "a person rejected it; it will not be sent",
        }
        raise InvalidState(
            f"outbox #{outbox_id} is {entry.status.value}, only pending, failed or held rows"
            " can be retried",
            hint=hints.get(entry.status, "see email.outbox"),
        )
    if not now:
        if entry.status is OutboxStatus.HELD:
            raise InvalidState(
                f"outbox #{outbox_id} is held: its DATA was sent and the outcome is unknown",
                hint="it may have been delivered; retry with now=true to send it again"
                " (same Message-ID)",
            )
        due = entry.next_attempt_at
        if due is not None and due > t:
            raise InvalidState(
                f"outbox #{outbox_id} is {entry.status.value} and not due until {iso(due)}"
                f" (in {int(due - t + 0.999)}s)",
                hint=f"it is due at {iso(due)}; then `prx-email send-due` or `prx-email sync"
                " --watch` delivers it. Retry with now=true to deliver it now",
            )
    account = smtp_account(ctx, entry.account_id)
    check_recipients(account, entry.recipients)  # the lists may have changed since it was queued
    make_breaker(ctx).acquire(account.id, t)
    if now and not repo.make_due(outbox_id, now=t):
        raise InvalidState(
            f"outbox #{outbox_id} changed state meanwhile", hint="see email.outbox for it"
        )
    result, error, claimed = await _deliver_one(ctx, account, outbox_id)
    if not claimed:
        raise InvalidState(
            f"outbox #{outbox_id} was taken by another worker",
            hint="see email.outbox for its current status",
        )
    return _answer(result, error)


async def drain_due(
    ctx: ServiceContext,
    *,
    limit: int = 10_000,
    batch: int = 100,
    worker_id: str | None = None,
    sent_folder: SentFolder | None = None,
    circuit: CircuitSettings | None = None,
    hook: Hook | None = None,
) -> DrainReport:
    """Deliver due rows (settling expired leases and pending Sent copies first) until none
    is due or ``limit`` is reached.

    One SMTP connection per account for the whole run (reconnecting after a failure);
    accounts whose circuit is open, or whose server could not be reached in this run, are
    skipped. Safe to run in several processes at once. ``hook`` is for tests only.
    """
    report = DrainReport(worker_id=worker_id or new_worker_id())
    repo = OutboxRepo(ctx.db)
    breaker = make_breaker(ctx, circuit)
    own_sent = sent_folder is None
    sent: SentFolder = sent_folder if sent_folder is not None else ImapSentFolder(ctx.credentials)
    run = Run(ctx, repo, breaker, sent, report, hook)
    deliverers: dict[int, Deliverer] = {}
    try:
        await run.recover_expired(limit)
        await run.repair_copies()
        progress = True
        while progress and report.claimed < limit:
            progress = False
            for account in ctx.config.accounts:
                if account.smtp is None or report.claimed >= limit:
                    continue
                d = deliverers.get(account.id)
                if d is not None and d.unreachable:
                    continue  # not reached in this run: its rows wait for their backoff
                now = ctx.clock()
                try:
                    failures = breaker.acquire(account.id, now)
                except CircuitOpen:
                    if account.id not in report.skipped_accounts:
                        report.skipped_accounts.append(account.id)
                    continue
                half_open = failures >= breaker.settings_for(account.id).threshold
                rows = repo.claim(
                    token=secrets.token_hex(16),
                    worker_id=report.worker_id,
                    now=now,
                    lease_until=now + account.send.lease_seconds,
                    limit=1 if half_open else min(batch, limit - report.claimed),
                    accounts=[account.id],
                )
                if not rows:
                    continue
                progress = True
                report.claimed += len(rows)
                if d is None:
                    d = deliverers[account.id] = run.deliverer(account)
                d.failures_before = failures
                await d.run_batch(rows)
        # Drafts sent by this run, or by one killed before it removed them.
        await run.remove_sent_drafts()
    finally:
        for d in deliverers.values():
            await d.conn.close()
        if own_sent:
            await sent.close()
    return report


async def watch(
    ctx: ServiceContext,
    *,
    interval: float = 60.0,
    stop: asyncio.Event | None = None,
    on_report: Callable[[DrainReport], None] | None = None,
) -> None:
    """Drain, then sleep until the next row is due (a scheduled one too) or ``interval``
    passed (rows queued meanwhile by other processes), until ``stop`` is set.

    The due time is read from the store after every drain, so a restarted watcher picks a
    scheduled row up at its time like the one before it.
    """
    repo = OutboxRepo(ctx.db)
    while stop is None or not stop.is_set():
        report = await drain_due(ctx)
        if on_report is not None:
            on_report(report)
        nxt = repo.next_due()
        wait = interval if nxt is None else min(interval, nxt - ctx.clock())
        if wait <= 0 and not report.claimed:
            # Due, yet not claimable (circuit open, account gone from the config): look
            # again later instead of spinning on it.
            wait = min(interval, _IDLE_RETRY)
        wait = max(_MIN_WAIT, wait)
        if stop is None:
            await asyncio.sleep(wait)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


_MIN_WAIT = 0.05
_IDLE_RETRY = 5.0


def next_due(ctx: ServiceContext) -> float | None:
    """When a drain next has work (a due or scheduled row, an expiring lease); None: never."""
    return OutboxRepo(ctx.db).next_due()


def cancel(ctx: ServiceContext, outbox_id: int) -> OutboxEntry:
    """Cancel a row that has not started sending: ``scheduled``, or queued with no attempt
    that reached the server. Cancelling a cancelled row answers it unchanged.

    :raises NotFound: no such row.
    :raises CancelTooLate: the row is sending, sent, held or dead, or an attempt reached
        the server.
    """
    repo = OutboxRepo(ctx.db)
    entry = repo.entry(outbox_id)
    if entry is None:
        raise NotFound(f"no outbox row {outbox_id}", hint="see email.outbox for the ids")
    if entry.status is OutboxStatus.CANCELLED or repo.cancel(outbox_id, now=ctx.clock()):
        done = repo.entry(outbox_id)
        assert done is not None
        return done
    entry = repo.entry(outbox_id) or entry  # it may have moved on meanwhile
    hints = {
        OutboxStatus.SENDING: "it is being sent right now; see email.outbox for the outcome",
        OutboxStatus.SENT: f"it was sent at {iso(entry.sent_at or entry.updated_at)}",
        OutboxStatus.HELD: "its DATA was sent and the outcome is unknown: it may have been"
        " delivered",
        OutboxStatus.DEAD: "it failed for good and will not be sent",
        OutboxStatus.REJECTED: "a person rejected it; it will not be sent",
    }
    hint = hints.get(
        entry.status,
        f"{entry.attempts} attempt(s) reached the server already, so some recipients may"
        " have it; it stays queued (see email.outbox)",
    )
    raise CancelTooLate(
        f"outbox #{outbox_id} is {entry.status.value}: too late to cancel", hint=hint
    )


def list_outbox(ctx: ServiceContext, query: OutboxQuery) -> OutboxPage:
    """Outbox rows, newest first, optionally by account and status.

    :raises InvalidArgument: bad limit or cursor.
    """
    # The page-size bound is the configured one, checked by the façade (issue 9).
    if query.account_id is not None:
        ctx.account(query.account_id)
    entries, nxt = OutboxRepo(ctx.db).page(
        account_id=query.account_id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return OutboxPage(entries=tuple(entries), next_cursor=nxt)


def get_entry(ctx: ServiceContext, outbox_id: int) -> OutboxEntry:
    """:raises NotFound:"""
    entry = OutboxRepo(ctx.db).entry(outbox_id)
    if entry is None:
        raise NotFound(f"no outbox row {outbox_id}", hint="see email.outbox for the ids")
    return entry
