"""Outbox service (issue 4): queue durably, then deliver exactly once.

Lifecycle of a row::

    pending ──claim──▶ sending ──250──▶ sent
       ▲                 │ 4xx / network / timeout (attempts left)
       └── failed ◀──────┤
                         └─ 5xx, or attempts exhausted ──▶ dead

- ``send``/``reply`` validate, build the complete MIME message once (fixed Message-ID) and
  commit it with its envelope **before** any network side effect, then deliver that row.
- A claim is one conditional ``UPDATE`` (see :mod:`prx_email.store.outbox`); finalizing
  requires the same claim token, so two workers can never both finalize a row.
- Right before ``DATA`` the worker re-checks its claim and stamps ``data_at``, extending the
  lease over the DATA timeout. A row whose lease expired therefore falls in one of two cases:
  no ``data_at`` — DATA never started, the message was not delivered, requeue it; or
  ``data_at`` set — it may have been delivered, so look its Message-ID up in the account's
  Sent folder first and mark it ``sent`` when found.

**Delivery guarantee.** Exactly once, except in one narrow window: the worker died after
sending the end of DATA and before committing the result (microseconds in practice) *and*
the Sent folder cannot settle it — no IMAP/Sent folder configured, or the server does not
file sent mail itself (``append_to_sent = true``: our own append runs after the finalize, so
it never covers that window). Then the message is sent again: at-least-once, never lost.
When the Sent folder is configured but unreachable, the row is not re-sent blindly: it waits
(backoff) with ``verify_sent`` set and looks in Sent again before each further attempt, and
only its last allowed attempt sends without that confirmation.
Recipients the server deferred (4xx at RCPT) are recorded before DATA, so a row settled by
the Sent folder stays queued for them. Once an attempt was delivered, the Message-ID is in
Sent and cannot vouch for a later attempt (to the deferred recipients): a crash after that
later DATA re-sends to them (at-least-once, never lost).

Results: ``send``/``reply``/``retry`` return the row while the message is delivered or
still queued (``sent``, ``failed`` with ``next_attempt_at``); they raise
:class:`~prx_email.errors.SmtpPermanent` when it ended ``dead``, and
:class:`~prx_email.errors.CircuitOpen` (queuing nothing) while the account's circuit is open.
"""

from __future__ import annotations

import base64
import binascii
import logging
import mimetypes
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config.model import AccountConfig, AttachmentPolicy
from ..errors import (
    AttachmentRejected,
    CircuitOpen,
    ConfigError,
    EmailError,
    InvalidArgument,
    InvalidState,
    NotFound,
    SmtpPermanent,
)
from ..mail.compose import (
    AttachmentData,
    Mailbox,
    check_content_type,
    check_subject,
    compose,
    dedup,
    parse_addr_spec,
    parse_mailbox,
    parse_mailboxes,
    references_chain,
    reply_subject,
)
from ..mail.errors import is_transient
from ..mail.smtp import Delivery, SmtpConnection
from ..store.outbox import Claimed, OutboxRepo
from ..types import (
    AttachmentPath,
    Message,
    OutboxEntry,
    OutboxPage,
    OutboxQuery,
    OutboxStatus,
    OutgoingAttachment,
    OutgoingMessage,
    ReplyRequest,
)
from .circuit import CircuitBreaker, CircuitSettings
from .context import ServiceContext
from .sent_folder import ImapSentFolder, SentFolder, sent_folder_name

log = logging.getLogger(__name__)

#: Test-only observation points (the guest cannot reach them: the bridge never passes a hook).
Hook = Callable[[str, int], None]
AFTER_CLAIM = "after-claim"
AFTER_DATA = "after-data"


@dataclass(slots=True)
class DrainReport:
    """What one ``drain_due`` run did."""

    worker_id: str
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    recovered: int = 0
    requeued: int = 0
    lost_claims: int = 0
    skipped_accounts: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _backoff(account: AccountConfig, attempt: int) -> float:
    s = account.send
    return float(min(s.backoff_base_seconds * 2 ** max(attempt - 1, 0), s.backoff_max_seconds))


# -- building -------------------------------------------------------------------------------


def _smtp_account(ctx: ServiceContext, account_id: int) -> AccountConfig:
    account = ctx.account(account_id)
    if account.smtp is None:
        raise ConfigError(
            f"account {account_id} has no SMTP server configured",
            hint="add an smtp table to the account in the config to send mail",
        )
    return account


def _check_bodies(body_text: str | None, body_html: str | None) -> None:
    if not (body_text or "").strip() and not (body_html or "").strip():
        raise InvalidArgument(
            "a message needs a body", hint="pass body_text, body_html, or both (non-empty)"
        )


def _check_count(account: AccountConfig, n: int) -> None:
    cap = account.send.max_recipients
    if n == 0:
        raise InvalidArgument("a message needs at least one recipient (to, cc or bcc)")
    if n > cap:
        raise InvalidArgument(
            f"{n} recipients exceed the limit of {cap}",
            hint="split the message or raise send.max_recipients in the config",
        )


def _enqueue(
    ctx: ServiceContext,
    account: AccountConfig,
    *,
    to: Sequence[Mailbox],
    cc: Sequence[Mailbox],
    bcc: Sequence[Mailbox],
    subject: str,
    body_text: str | None,
    body_html: str | None,
    attachments: Sequence[AttachmentData] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    parent_key: int | None = None,
) -> int:
    now = ctx.clock()
    built = compose(
        sender=account.address,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        attachments=attachments,
        in_reply_to=in_reply_to,
        references=references,
        now=now,
    )
    return OutboxRepo(ctx.db).insert(
        account_id=account.id,
        message_id=built.message_id,
        subject=subject,
        sender=built.sender,
        recipients=built.recipients,
        raw=built.raw,
        max_attempts=max(1, account.send.max_attempts),
        now=now,
        parent_key=parent_key,
    )


def load_attachments(
    policy: AttachmentPolicy, items: Sequence[OutgoingAttachment]
) -> list[AttachmentData]:
    """Read and check every attachment: paths under the root, base64 within the cap.

    :raises AttachmentRejected: policy violation (root, traversal, size, type).
    :raises InvalidArgument: invalid base64 or content type.
    """
    from .attachments import is_allowed_type, read_outgoing

    out: list[AttachmentData] = []
    total = 0
    for n, item in enumerate(items, 1):
        ctype = check_content_type(item.content_type) if item.content_type else None
        src = item.source
        if isinstance(src, AttachmentPath):
            data = read_outgoing(policy, src.path, content_type=ctype)
            name = item.filename or src.path
        else:
            if len(src.data) > policy.max_bytes * 4 // 3 + 8:
                raise AttachmentRejected(
                    f"attachment {n} is over the {policy.max_bytes} byte limit",
                    hint="attach a smaller file or raise [attachments] max_bytes",
                )
            try:
                data = base64.b64decode("".join(src.data.split()), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidArgument(
                    f"attachment {n}: invalid base64 data", hint="send standard base64 (RFC 4648)"
                ) from None
            if len(data) > policy.max_bytes:
                raise AttachmentRejected(
                    f"attachment {n} is {len(data)} bytes, over the {policy.max_bytes} limit",
                    hint="attach a smaller file or raise [attachments] max_bytes",
                )
            name = item.filename or f"attachment-{n}"
        ctype = ctype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if not is_allowed_type(policy, ctype):
            raise AttachmentRejected(
                f"attachment type {ctype} is not allowed",
                hint="allowed types: " + ", ".join(policy.allowed_types),
            )
        total += len(data)
        if total > policy.max_bytes:
            raise AttachmentRejected(
                f"attachments total more than {policy.max_bytes} bytes",
                hint="send fewer or smaller attachments",
            )
        out.append(AttachmentData(filename=name, content_type=ctype, data=data))
    return out


def queue(ctx: ServiceContext, msg: OutgoingMessage) -> int:
    """Validate, build and store a new message without delivering it; returns the row id.

    :raises AccountNotFound, ConfigError, InvalidArgument, AttachmentRejected:
    """
    account = _smtp_account(ctx, msg.account_id)
    to = parse_mailboxes(msg.to, "to")
    cc = parse_mailboxes(msg.cc, "cc")
    bcc = parse_mailboxes(msg.bcc, "bcc")
    _check_count(account, len(to) + len(cc) + len(bcc))
    subject = check_subject(msg.subject)
    _check_bodies(msg.body_text, msg.body_html)
    atts = load_attachments(ctx.config.attachments, msg.attachments)
    return _enqueue(
        ctx,
        account,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body_text=msg.body_text,
        body_html=msg.body_html,
        attachments=atts,
    )


def _load_parent(ctx: ServiceContext, account_id: int, key: int) -> Message:
    from .mailbox import get_message  # completes a pending parent first

    parent = get_message(ctx.db, account_id, key)
    if parent is None:
        raise NotFound(
            f"no stored message {key} in account {account_id}",
            hint="use an id from email.list or email.search for the same account",
        )
    return parent


def _mailboxes_lenient(values: Sequence[str]) -> list[Mailbox]:
    """Parse header addresses of a received message, skipping ones we cannot send to."""
    from email.utils import getaddresses

    out: list[Mailbox] = []
    for name, addr in getaddresses(list(values)):
        try:
            spec = parse_addr_spec(addr)
            out.append(parse_mailbox(f"{name} <{spec}>") if name else Mailbox(spec))
        except InvalidArgument:
            try:
                out.append(Mailbox(parse_addr_spec(addr)))
            except InvalidArgument:
                continue
    return out


def queue_reply(ctx: ServiceContext, req: ReplyRequest) -> int:
    """Validate, build and store a reply without delivering it; returns the row id.

    :raises AccountNotFound, NotFound, ConfigError, InvalidArgument:
    """
    account = _smtp_account(ctx, req.account_id)
    _check_bodies(req.body_text, req.body_html)
    parent = _load_parent(ctx, req.account_id, req.message)
    me = account.address.lower()
    s = parent.summary
    author = _mailboxes_lenient([s.from_])
    to = _mailboxes_lenient(parent.reply_to) or author
    if all(b.key == me for b in to):
        # Replying to our own message: address the original recipients instead.
        to = _mailboxes_lenient(s.to)
    to = dedup(to, exclude=[me])
    cc: list[Mailbox] = []
    if req.reply_all:
        cc = dedup(_mailboxes_lenient([*s.to, *s.cc]), exclude=[me, *(b.addr_spec for b in to)])
    if not to and cc:
        to, cc = cc[:1], cc[1:]
    if not to:
        raise InvalidArgument(
            f"message {req.message} has no address to reply to",
            hint="use email.send with explicit recipients",
        )
    _check_count(account, len(to) + len(cc))
    refs = references_chain(s.message_id, parent.references, parent.in_reply_to)
    return _enqueue(
        ctx,
        account,
        to=to,
        cc=cc,
        bcc=(),
        subject=check_subject(reply_subject(s.subject)[:998]),
        body_text=req.body_text,
        body_html=req.body_html,
        in_reply_to=s.message_id,
        references=refs,
        parent_key=s.id,
    )


# -- delivering -----------------------------------------------------------------------------


class _Deliverer:
    """Delivers claimed rows of one account over one reused SMTP connection."""

    def __init__(
        self,
        ctx: ServiceContext,
        account: AccountConfig,
        *,
        repo: OutboxRepo,
        breaker: CircuitBreaker,
        sent: SentFolder,
        report: DrainReport,
        hook: Hook | None,
    ) -> None:
        self.ctx = ctx
        self.account = account
        self.repo = repo
        self.breaker = breaker
        self.sent = sent
        self.report = report
        self.hook = hook
        self.conn = SmtpConnection(account, ctx.credentials)
        self.failures_before = 0

    def _lease(self) -> float:
        return float(self.account.send.lease_seconds)

    def _retry_later(
        self,
        row: Claimed,
        now: float,
        outcome: str,
        error: Callable[[str], str],
        *,
        remaining: Sequence[str] | None = None,
        smtp_code: int | None = None,
        server_reply: str | None = None,
    ) -> None:
        """End the attempt as ``failed``, due after the backoff; ``error`` gets the due time."""
        nxt = now + _backoff(self.account, row.attempt)
        held = self.repo.finalize(
            row,
            status=OutboxStatus.FAILED,
            now=now,
            outcome=outcome,
            next_attempt_at=nxt,
            last_error=error(_iso(nxt)),
            remaining=remaining,
            smtp_code=smtp_code,
            server_reply=server_reply,
        )
        self._count(held, "failed")

    def _fail(self, row: Claimed, exc: EmailError, *, code: int | None = None) -> None:
        now = self.ctx.clock()
        text = exc.message
        if is_transient(exc) and row.attempt < row.max_attempts:
            attempt = f"attempt {row.attempt}/{row.max_attempts}"
            self._retry_later(
                row,
                now,
                "transient",
                lambda due: f"{text} ({attempt}; next attempt {due})",
                smtp_code=code,
                server_reply=text,
            )
        else:
            exhausted = is_transient(exc)
            held = self.repo.finalize(
                row,
                status=OutboxStatus.DEAD,
                now=now,
                outcome="exhausted" if exhausted else "permanent",
                last_error=f"gave up after {row.attempt} attempts: {text}" if exhausted else text,
                smtp_code=code,
                server_reply=text,
            )
            self._count(held, "dead")

    def _count(self, held: bool, what: str) -> None:
        if not held:
            self.report.lost_claims += 1
            return
        setattr(self.report, what, getattr(self.report, what) + 1)

    def _before_data(self, row: Claimed) -> Callable[[Mapping[str, tuple[int, str]]], bool]:
        def check(refused: Mapping[str, tuple[int, str]]) -> bool:
            now = self.ctx.clock()
            timeout = self.account.smtp.timeout if self.account.smtp else 30.0
            # Who this DATA will not reach is durable before DATA starts: if we die before
            # the finalize, recovery must not count them as delivered.
            deferred = [r for r, (code, _) in refused.items() if 400 <= code < 500]
            return self.repo.mark_data(
                row.id, row.token, now=now, lease_until=now + 2 * timeout + 1.0, deferred=deferred
            )

        return check

    async def _connect(self) -> None:
        await self.conn.connect()

    async def run(self, rows: Sequence[Claimed]) -> None:
        """Deliver one batch and close the connection."""
        try:
            await self.run_batch(rows)
        finally:
            await self.conn.close()

    async def run_batch(self, rows: Sequence[Claimed]) -> None:
        """Deliver one batch, keeping the connection open for the next one."""
        await self._run(rows)

    async def _run(self, rows: Sequence[Claimed]) -> None:
        ids = [r.id for r in rows]
        lease_until = self.ctx.clock() + self._lease()
        ok_once = False
        for i, row in enumerate(rows):
            if self.hook is not None:
                self.hook(AFTER_CLAIM, row.id)
            now = self.ctx.clock()
            if lease_until - now < self._lease() / 2:
                lease_until = now + self._lease()
                held = self.repo.renew(ids[i:], row.token, now=now, lease_until=lease_until)
                if row.id not in held:
                    self.report.lost_claims += 1
                    continue
            if row.verify_sent and await self._settled_by_sent(row):
                continue
            if not self.conn.connected:
                try:
                    await self._connect()
                except EmailError as exc:
                    # The server is unreachable or refuses us: every row of this batch waits.
                    self.breaker.failure(self.account.id, self.ctx.clock(), exc.message)
                    for rest in rows[i:]:
                        self._fail(rest, exc)
                    return
            try:
                delivery = await self.conn.deliver(
                    row.sender, row.recipients, row.raw, before_data=self._before_data(row)
                )
            except EmailError as exc:
                code = getattr(exc, "smtp_code", None)
                if code is None and not isinstance(exc, SmtpPermanent):
                    await self.conn.abort()  # the session broke (network, timeout, TLS)
                else:
                    await self.conn.reset()  # a reply code: the session is still usable
                if not isinstance(exc, SmtpPermanent):
                    # Server-level trouble counts for the circuit; a 5xx for this message not.
                    self.breaker.failure(self.account.id, self.ctx.clock(), exc.message)
                self._fail(row, exc, code=code)
                continue
            if delivery.data_sent and self.hook is not None:
                self.hook(AFTER_DATA, row.id)
            if not ok_once and delivery.data_sent:
                ok_once = True
                if self.failures_before:
                    self.breaker.success(self.account.id, self.ctx.clock())
            await self._finish(row, delivery)

    async def _settled_by_sent(self, row: Claimed) -> bool:
        """For a row that may already be delivered: look in Sent before sending again.

        True when the row is settled without sending (found, or still cannot tell and
        attempts remain); False to go ahead and send.
        """
        acc = self.account
        if sent_folder_name(acc) is None:
            return False
        try:
            found = await self.sent.contains(acc, row.message_id)
        except EmailError as exc:
            if row.attempt >= row.max_attempts:
                return False  # out of patience: at-least-once rather than never
            why = exc.message
            self._retry_later(
                row,
                self.ctx.clock(),
                "unverified",
                lambda due: (
                    "delivery of an earlier attempt unconfirmed; Sent lookup failed"
                    f" ({why}); checking again at {due}"
                ),
            )
            return True
        if not found:
            return False
        if settle_found(self.repo, self.ctx.clock(), row, row.deferred):
            self.report.recovered += 1
        else:
            self.report.lost_claims += 1
        return True

    async def _finish(self, row: Claimed, d: Delivery) -> None:
        now = self.ctx.clock()
        soft = {r: v for r, v in d.refused.items() if 400 <= v[0] < 500}
        hard = {r: v for r, v in d.refused.items() if r not in soft}
        refused_text = "; ".join(f"{r}: {c} {t}" for r, (c, t) in d.refused.items())
        if not d.data_sent and not d.refused:
            self.report.lost_claims += 1  # before_data found the claim gone: nothing sent
            return
        if not d.data_sent:
            exc: EmailError
            if soft:
                from ..mail.errors import SmtpTransientReply

                exc = SmtpTransientReply(f"all recipients refused: {refused_text}")
                if row.attempt < row.max_attempts:
                    why = exc.message
                    self._retry_later(
                        row,
                        now,
                        "transient",
                        lambda due: f"{why} (next attempt {due})",
                        remaining=list(soft),
                        server_reply=refused_text,
                    )
                    return
            else:
                exc = SmtpPermanent(f"all recipients refused: {refused_text}")
            self._fail(row, exc, code=max(c for c, _ in d.refused.values()))
            return
        reply = f"{d.code} {d.reply}"
        if soft and row.attempt < row.max_attempts:
            delivered = len(d.accepted)
            self._retry_later(
                row,
                now,
                "partial",
                lambda due: (
                    f"delivered to {delivered}, deferred: {refused_text};"
                    f" retrying the deferred recipients at {due}"
                ),
                remaining=list(soft),
                smtp_code=d.code,
                server_reply=reply,
            )
            return
        held = self.repo.finalize(
            row,
            status=OutboxStatus.SENT,
            now=now,
            outcome="sent" if not d.refused else "partial",
            last_error=f"refused: {refused_text}" if (hard or soft) else None,
            remaining=(),
            smtp_code=d.code,
            server_reply=reply,
        )
        self._count(held, "sent")
        if held:
            await self._append_sent(row)

    async def _append_sent(self, row: Claimed) -> None:
        acc = self.account
        if not acc.send.append_to_sent or sent_folder_name(acc) is None:
            return
        try:
            await self.sent.append(acc, row.raw)
        except EmailError as exc:
            # The message went out; a missing copy in Sent must not make it "unsent".
            log.warning("outbox %s sent, but appending to Sent failed: %s", row.id, exc.message)
            self.repo.note_error(
                row.id, f"sent; copy to the Sent folder failed: {exc.message}", now=self.ctx.clock()
            )


@dataclass(slots=True)
class _Run:
    ctx: ServiceContext
    repo: OutboxRepo
    breaker: CircuitBreaker
    sent: SentFolder
    report: DrainReport
    hook: Hook | None

    def deliverer(self, account: AccountConfig) -> _Deliverer:
        return _Deliverer(
            self.ctx,
            account,
            repo=self.repo,
            breaker=self.breaker,
            sent=self.sent,
            report=self.report,
            hook=self.hook,
        )

    async def recover_expired(self, limit: int) -> None:
        """Settle rows left in ``sending`` past their lease (their worker died)."""
        ctx, repo = self.ctx, self.repo
        for row in repo.expired(now=ctx.clock(), limit=limit):
            account = ctx.config.account(row.account_id)
            lease = account.send.lease_seconds if account else 300.0
            now = ctx.clock()
            claimed = repo.take_over(
                row, token=secrets.token_hex(16), worker_id=self.report.worker_id, now=now,
                lease_until=now + lease,
            )  # fmt: skip
            if claimed is None:
                continue  # another worker is recovering it
            found: bool | None = False
            if (
                row.data_at is not None
                and account is not None
                and sent_folder_name(account)
                # After an earlier partial delivery the Message-ID is in Sent already:
                # finding it says nothing about this attempt (then: at-least-once).
                and not repo.delivered_before(row.id, row.attempt)
            ):
                found = await self._in_sent(account, row.id, row.message_id)
                if found:
                    if settle_found(repo, ctx.clock(), claimed, row.deferred):
                        self.report.recovered += 1
                    continue
            now = ctx.clock()
            if row.attempt >= row.max_attempts:
                repo.finalize(
                    claimed,
                    status=OutboxStatus.DEAD,
                    now=now,
                    outcome="exhausted",
                    last_error=f"gave up after {row.attempt} attempts (worker lost mid-send)",
                )
                self.report.dead += 1
                continue
            if found is None:
                # DATA may have gone through and Sent cannot be checked now: wait, and check
                # Sent again before the next attempt rather than risk a duplicate.
                assert account is not None
                nxt = now + _backoff(account, row.attempt)
                note = "delivery unconfirmed and the Sent folder unreachable; checking again"
                repo.finalize(
                    claimed,
                    status=OutboxStatus.FAILED,
                    now=now,
                    outcome="requeued",
                    next_attempt_at=nxt,
                    last_error=f"worker stopped mid-send; {note} at {_iso(nxt)}",
                    verify_sent=True,
                )
            else:
                uncertain = row.data_at is not None
                repo.finalize(
                    claimed,
                    status=OutboxStatus.FAILED,
                    now=now,
                    outcome="requeued",
                    next_attempt_at=now,
                    last_error="worker stopped mid-send"
                    + ("; delivery unconfirmed, sending again" if uncertain else "; not delivered"),
                )
            self.report.requeued += 1

    async def _in_sent(
        self, account: AccountConfig, outbox_id: int, message_id: str
    ) -> bool | None:
        """Whether the Message-ID is in the Sent folder; None when that cannot be told."""
        try:
            return await self.sent.contains(account, message_id)
        except EmailError as exc:
            log.warning("outbox %s: Sent lookup failed: %s", outbox_id, exc.message)
            return None


def settle_found(repo: OutboxRepo, now: float, row: Claimed, deferred: Sequence[str]) -> bool:
    """Settle a row whose uncertain attempt was found in the Sent folder (delivered).

    That DATA reached every recipient except those the server deferred (4xx at RCPT,
    recorded before DATA): the row is ``sent`` when there are none, else it stays queued
    for just those (same bytes, same Message-ID), due at once — the deferral is at least a
    lease old. False when the claim was lost.
    """
    reply = "found in the Sent folder: delivered by an earlier attempt"
    rest = [r for r in deferred if r in row.recipients]
    if not rest:
        return repo.finalize(
            row,
            status=OutboxStatus.SENT,
            now=now,
            outcome="recovered",
            remaining=(),
            server_reply=reply,
        )
    if row.attempt >= row.max_attempts:
        # Out of attempts, as in a normal partial delivery: sent, naming who did not get it.
        return repo.finalize(
            row,
            status=OutboxStatus.SENT,
            now=now,
            outcome="recovered-partial",
            remaining=(),
            last_error=f"not delivered after {row.attempt} attempts: {', '.join(rest)}",
            server_reply=reply,
        )
    return repo.finalize(
        row,
        status=OutboxStatus.FAILED,
        now=now,
        outcome="recovered-partial",
        next_attempt_at=now,
        last_error=f"delivered by an earlier attempt except to {', '.join(rest)} (deferred by"
        " the server); retrying those",
        remaining=rest,
        server_reply=reply,
        # Sent already holds this Message-ID: it cannot vouch for the next attempt.
        verify_sent=False,
    )


def circuit_settings(account: AccountConfig) -> CircuitSettings:
    """The account's circuit breaker settings (``[accounts.send] circuit_*``)."""
    send = account.send
    d = CircuitSettings()
    return CircuitSettings(
        threshold=send.circuit_failures,
        cooldown_seconds=send.circuit_cooldown_seconds,
        max_cooldown_seconds=max(d.max_cooldown_seconds, send.circuit_cooldown_seconds),
    )


def _breaker(ctx: ServiceContext, settings: CircuitSettings | None = None) -> CircuitBreaker:
    """Per-account settings from the config; ``settings`` (tests) overrides them all."""
    if settings is not None:
        return CircuitBreaker(ctx.db, settings)
    return CircuitBreaker(
        ctx.db, per_account={a.id: circuit_settings(a) for a in ctx.config.accounts}
    )


async def _deliver_one(
    ctx: ServiceContext, account: AccountConfig, outbox_id: int, sent: SentFolder | None = None
) -> OutboxEntry:
    repo = OutboxRepo(ctx.db)
    report = DrainReport(worker_id=_worker_id())
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
    try:
        if rows:
            run = _Run(ctx, repo, _breaker(ctx), sent_folder, report, None)
            d = run.deliverer(account)
            d.failures_before = 1  # a direct send may be the half-open probe: always report
            await d.run(rows)
    finally:
        if own_sent:
            await sent_folder.close()
    entry = repo.entry(outbox_id)
    assert entry is not None
    if entry.status is OutboxStatus.DEAD:
        raise SmtpPermanent(
            f"outbox #{entry.id} was not delivered: {entry.last_error}",
            hint="the row is dead and will not be retried; fix the cause and send a new message",
        )
    return entry


async def send(ctx: ServiceContext, msg: OutgoingMessage) -> OutboxEntry:
    """Queue a message durably, then deliver it.

    :raises CircuitOpen: the account's SMTP is paused after repeated failures (nothing queued).
    :raises SmtpPermanent: the server refused it for good (the row is ``dead``).
    :raises AccountNotFound, ConfigError, InvalidArgument, AttachmentRejected, StorageError:
    """
    account = _smtp_account(ctx, msg.account_id)
    _breaker(ctx).acquire(account.id, ctx.clock())
    outbox_id = queue(ctx, msg)
    return await _deliver_one(ctx, account, outbox_id)


async def reply(ctx: ServiceContext, req: ReplyRequest) -> OutboxEntry:
    """Queue a reply to a stored message, then deliver it.

    :raises NotFound: no such stored message in the account.
    :raises CircuitOpen, SmtpPermanent, AccountNotFound, ConfigError, InvalidArgument:
    """
    account = _smtp_account(ctx, req.account_id)
    _breaker(ctx).acquire(account.id, ctx.clock())
    outbox_id = queue_reply(ctx, req)
    return await _deliver_one(ctx, account, outbox_id)


async def retry(ctx: ServiceContext, outbox_id: int) -> OutboxEntry:
    """Deliver a pending or failed row that is due.

    :raises NotFound: no such row.
    :raises InvalidState: the row is sending, sent, dead, or not due yet.
    :raises CircuitOpen, SmtpPermanent:
    """
    repo = OutboxRepo(ctx.db)
    entry = repo.entry(outbox_id)
    if entry is None:
        raise NotFound(f"no outbox row {outbox_id}", hint="see email.outbox for the ids")
    now = ctx.clock()
    if entry.status not in (OutboxStatus.PENDING, OutboxStatus.FAILED):
        hints = {
            OutboxStatus.SENT: f"it was sent at {_iso(entry.sent_at or entry.updated_at)}",
            OutboxStatus.SENDING: "it is being sent right now",
            OutboxStatus.DEAD: f"it failed for good ({entry.last_error}); send a new message",
        }
        raise InvalidState(
            f"outbox #{outbox_id} is {entry.status.value}, only pending or failed rows can be"
            " retried",
            hint=hints.get(entry.status),
        )
    due = entry.next_attempt_at
    if due is not None and due > now:
        raise InvalidState(
            f"outbox #{outbox_id} is {entry.status.value} and not due yet",
            hint=f"it is due at {_iso(due)} (in {int(due - now + 0.999)}s) and will be retried"
            " automatically",
        )
    account = _smtp_account(ctx, entry.account_id)
    _breaker(ctx).acquire(account.id, now)
    result = await _deliver_one(ctx, account, outbox_id)
    if result.attempts == entry.attempts:
        raise InvalidState(
            f"outbox #{outbox_id} was taken by another worker",
            hint="see email.outbox for its current status",
        )
    return result


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
    """Deliver due rows (and settle expired leases) until none is due or ``limit`` is reached.

    One SMTP connection per account for the whole run (reconnecting after a failure);
    accounts whose circuit is open are skipped.
    Safe to run in several processes at once. ``hook`` is for tests only.
    """
    report = DrainReport(worker_id=worker_id or _worker_id())
    repo = OutboxRepo(ctx.db)
    breaker = _breaker(ctx, circuit)
    own_sent = sent_folder is None
    sent: SentFolder = sent_folder if sent_folder is not None else ImapSentFolder(ctx.credentials)
    run = _Run(ctx, repo, breaker, sent, report, hook)
    deliverers: dict[int, _Deliverer] = {}
    try:
        await run.recover_expired(limit)
        progress = True
        while progress and report.claimed < limit:
            progress = False
            for account in ctx.config.accounts:
                if account.smtp is None or report.claimed >= limit:
                    continue
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
                d = deliverers.get(account.id)
                if d is None:
                    d = deliverers[account.id] = run.deliverer(account)
                d.failures_before = failures
                await d.run_batch(rows)
    finally:
        for d in deliverers.values():
            await d.conn.close()
        if own_sent:
            await sent.close()
    return report


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
        raise NotFound(f"no outbox row {outbox_id}")
    return entry
