"""Delivery: claimed rows of one account over one reused SMTP connection.

What counts as an attempt (issue 10 item 1): a try counts once the server answered (any
reply, AUTH included) or the transport broke during the dialogue. A connection that is
refused or never greets, and a lease that expires before DATA, cost nothing: such a row
waits for the backoff with its ``attempts`` unchanged and never becomes ``dead`` for it.
(One exception, so that a row cannot wait forever: a Sent look-up that fails before a
possible resend counts, and the last allowed attempt sends without it.)

A transport failure after DATA started leaves the outcome unknown: see :func:`unknown`.

Each attempt runs under its own ``run_id`` (:meth:`Deliverer.attempt`): every log line of
the attempt carries it, so do the error it stored (``EmailError.run_id``, shown in the
envelope's ``detail``) and its one summary line (``outbox_id``, ``account``,
``error_code``, ``duration_ms``); it is counted in ``prx_email_send_attempts_total`` by
outcome and error code.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ...config.model import AccountConfig, UnknownOutcome
from ...errors import (
    ConfigError,
    ConnectionFailed,
    EmailError,
    OperationTimeout,
    SmtpPermanent,
    TlsFailed,
)
from ...logging_setup import current_run_id, new_run_id, run_scope
from ...mail.errors import SmtpTransientReply, is_transient
from ...mail.smtp import Delivery, SmtpConnection
from ...metrics import record_send_attempt
from ...store.outbox import Claimed, OutboxRepo
from ...types import OutboxStatus
from ..circuit import CircuitBreaker, CircuitSettings
from ..context import ServiceContext
from ..sent_folder import SentFolder, has_evidence, keeps_copy

log = logging.getLogger("prx_email.services.outbox")

#: Test-only observation points (the guest cannot reach them: the bridge never passes a hook).
Hook = Callable[[str, int], None]
AFTER_CLAIM = "after-claim"
AFTER_DATA = "after-data"
#: The row is ``sent`` (and its Sent copy stored); a draft it sends is not removed yet.
AFTER_SENT = "after-sent"

#: With ``unknown_outcome = "resend"``, a row whose worker keeps dying after DATA is held
#: after this many times its ``max_attempts`` rather than resent forever.
_RESEND_FACTOR = 2


@dataclass(slots=True)
class DrainReport:
    """What one ``drain_due`` run did."""

    worker_id: str
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    held: int = 0
    recovered: int = 0
    requeued: int = 0
    copies_repaired: int = 0
    #: Drafts removed from Drafts because the row sending them is ``sent``.
    drafts_removed: int = 0
    lost_claims: int = 0
    skipped_accounts: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backoff(account: AccountConfig, attempt: int) -> float:
    s = account.send
    return float(min(s.backoff_base_seconds * 2 ** max(attempt - 1, 0), s.backoff_max_seconds))


def counts_as_attempt(exc: EmailError) -> bool:
    """Whether a failure to connect reached the server (it answered, or TLS broke).

    Refused, silent (no greeting before the timeout) or never contacted (a config error):
    not an attempt.
    """
    if isinstance(exc, TlsFailed):
        return True
    return not isinstance(exc, ConnectionFailed | OperationTimeout | ConfigError)


def circuit_settings(account: AccountConfig) -> CircuitSettings:
    """The account's circuit breaker settings (``[accounts.send] circuit_*``)."""
    send = account.send
    d = CircuitSettings()
    return CircuitSettings(
        threshold=send.circuit_failures,
        cooldown_seconds=send.circuit_cooldown_seconds,
        max_cooldown_seconds=max(d.max_cooldown_seconds, send.circuit_cooldown_seconds),
    )


def make_breaker(ctx: ServiceContext, settings: CircuitSettings | None = None) -> CircuitBreaker:
    """Per-account settings from the config; ``settings`` (tests) overrides them all."""
    if settings is not None:
        return CircuitBreaker(ctx.db, settings)
    return CircuitBreaker(
        ctx.db, per_account={a.id: circuit_settings(a) for a in ctx.config.accounts}
    )


def unknown(
    repo: OutboxRepo,
    account: AccountConfig,
    row: Claimed,
    now: float,
    why: str,
    *,
    can_verify: bool,
) -> OutboxStatus:
    """Settle an attempt whose DATA started and whose outcome is unknown.

    The row is never ``dead`` (it may have been delivered). With Sent evidence
    (``server_files_sent``) it waits and looks in Sent before sending again; otherwise the
    account's ``unknown_outcome`` decides: ``resend`` (same bytes, same Message-ID) or
    ``hold`` (parked until ``email.retry`` with now=true). Returns the status written;
    ``SENDING`` when the claim was lost.
    """
    policy = account.send.unknown_outcome
    if can_verify and has_evidence(account):
        nxt = now + backoff(account, row.attempt)
        ok = repo.finalize(
            row,
            run_id=current_run_id(),
            status=OutboxStatus.FAILED,
            now=now,
            outcome="unverified",
            next_attempt_at=nxt,
            last_error=f"{why}; delivery unknown, looking in the Sent folder at {iso(nxt)}"
            " before sending again",
            verify_sent=True,
        )
        return OutboxStatus.FAILED if ok else OutboxStatus.SENDING
    if policy is UnknownOutcome.HOLD or row.attempt >= _RESEND_FACTOR * row.max_attempts:
        ok = repo.finalize(
            row,
            run_id=current_run_id(),
            status=OutboxStatus.HELD,
            now=now,
            outcome="held",
            last_error=f"{why}; DATA was sent but the outcome is unknown, so the message may"
            " have been delivered: held. `email.retry` with now=true (or `prx-email outbox`"
            " to inspect) sends it again with the same Message-ID",
        )
        return OutboxStatus.HELD if ok else OutboxStatus.SENDING
    ok = repo.finalize(
        row,
        run_id=current_run_id(),
        status=OutboxStatus.FAILED,
        now=now,
        outcome="requeued",
        next_attempt_at=now,
        last_error=f"{why}; delivery unconfirmed, sending again with the same Message-ID"
        " (unknown_outcome = resend)",
    )
    return OutboxStatus.FAILED if ok else OutboxStatus.SENDING


class Deliverer:
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
        #: The stored breaker count may be non-zero: the next success must reset it.
        self.failures_before = 0
        #: The last error of each row this deliverer did not deliver (for send/retry).
        self.errors: dict[int, EmailError] = {}
        #: The server could not be reached in this run: do not hammer it again.
        self.unreachable = False
        #: How each row's attempt ended: (outcome, queued again for a later attempt).
        self.outcomes: dict[int, tuple[str, bool]] = {}

    @contextlib.contextmanager
    def attempt(self, row: Claimed) -> Iterator[str]:
        """One delivery attempt of ``row``: its run id, its summary log line and metric."""
        self.errors.pop(row.id, None)  # an earlier attempt's, in this same run
        with run_scope(new_run_id()) as run_id:
            start = time.monotonic()
            try:
                yield run_id
            finally:
                outcome, retry = self.outcomes.pop(row.id, ("lost-claim", False))
                exc = self.errors.get(row.id)
                code = exc.code.envelope if exc is not None else None
                if exc is not None:
                    # One error object may stop a whole batch: each row gets its own run id.
                    exc = self.errors[row.id] = copy.copy(exc)
                    exc.run_id = run_id
                record_send_attempt(self.account.id, outcome, code, retry=retry)
                fields = {
                    "outbox_id": row.id,
                    "account": self.account.id,
                    "duration_ms": round((time.monotonic() - start) * 1000),
                }
                if code is None:
                    log.info("outbox delivery: %s", outcome, extra=fields)
                else:
                    log.warning(
                        "outbox delivery: %s", outcome, extra={**fields, "error_code": code}
                    )

    def _lease(self) -> float:
        return float(self.account.send.lease_seconds)

    def _failure(self, exc: EmailError) -> None:
        self.breaker.failure(self.account.id, self.ctx.clock(), exc.message)
        self.failures_before += 1

    def _success(self) -> None:
        # Consecutive failures only: every success resets the count (a no-op write avoided
        # while nothing failed since this run read it).
        if self.failures_before:
            self.breaker.success(self.account.id, self.ctx.clock())
            self.failures_before = 0

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
        counted: bool = True,
    ) -> None:
        """End the attempt as ``failed``, due after the backoff; ``error`` gets the due time."""
        nxt = now + backoff(self.account, row.attempt if counted else row.attempt - 1)
        self.outcomes[row.id] = (outcome, True)
        held = self.repo.finalize(
            row,
            run_id=current_run_id(),
            status=OutboxStatus.FAILED,
            now=now,
            outcome=outcome,
            next_attempt_at=nxt,
            last_error=error(iso(nxt)),
            remaining=remaining,
            smtp_code=smtp_code,
            server_reply=server_reply,
            counted=counted,
        )
        self._count(held, "failed")

    def _fail(
        self, row: Claimed, exc: EmailError, *, code: int | None = None, counted: bool = True
    ) -> None:
        self.errors[row.id] = exc
        now = self.ctx.clock()
        text = exc.message
        if is_transient(exc) and (not counted or row.attempt < row.max_attempts):
            if counted:
                attempt = f"attempt {row.attempt}/{row.max_attempts}"
            else:
                attempt = f"server not reached, no attempt counted ({row.attempt - 1} so far)"
            self._retry_later(
                row,
                now,
                "transient" if counted else "not-attempted",
                lambda due: f"{text} ({attempt}; next attempt {due})",
                smtp_code=code,
                server_reply=text,
                counted=counted,
            )
            return
        exhausted = is_transient(exc)
        self.outcomes[row.id] = ("exhausted" if exhausted else "permanent", False)
        held = self.repo.finalize(
            row,
            run_id=current_run_id(),
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

    def _before_data(
        self, row: Claimed, started: list[bool]
    ) -> Callable[[Mapping[str, tuple[int, str]]], bool]:
        def check(refused: Mapping[str, tuple[int, str]]) -> bool:
            now = self.ctx.clock()
            timeout = self.account.smtp.timeout if self.account.smtp else 30.0
            # Who this DATA will not reach is durable before DATA starts: if we die before
            # the finalize, recovery must not count them as delivered.
            deferred = [r for r, (code, _) in refused.items() if 400 <= code < 500]
            ok = self.repo.mark_data(
                row.id,
                row.token,
                attempt=row.attempt,
                now=now,
                lease_until=now + 2 * timeout + 1.0,
                deferred=deferred,
            )
            started[0] = ok
            return ok

        return check

    async def run(self, rows: Sequence[Claimed]) -> None:
        """Deliver one batch and close the connection."""
        try:
            await self.run_batch(rows)
        finally:
            await self.conn.close()

    async def run_batch(self, rows: Sequence[Claimed]) -> None:
        """Deliver one batch, keeping the connection open for the next one."""
        ids = [r.id for r in rows]
        lease_until = self.ctx.clock() + self._lease()
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
            with self.attempt(row):
                if row.verify_sent and await self._settled_by_sent(row):
                    continue
                if not self.conn.connected:
                    try:
                        await self.conn.connect()
                    except EmailError as exc:
                        # The server is unreachable or refuses us: every row of this batch
                        # waits (each its own attempt, with its own run id).
                        self._failure(exc)
                        counted = counts_as_attempt(exc)
                        self.unreachable = not counted
                        self._fail(row, exc, counted=counted)
                        for rest in rows[i + 1 :]:
                            with self.attempt(rest):
                                self._fail(rest, exc, counted=counted)
                        return
                await self._deliver(row)

    async def _deliver(self, row: Claimed) -> None:
        started = [False]
        try:
            delivery = await self.conn.deliver(
                row.sender, row.recipients, row.raw, before_data=self._before_data(row, started)
            )
        except EmailError as exc:
            code = getattr(exc, "smtp_code", None)
            broken = code is None and not isinstance(exc, SmtpPermanent)
            if broken:
                await self.conn.abort()  # the session broke (network, timeout, TLS)
            else:
                await self.conn.reset()  # a reply code: the session is still usable
            if not isinstance(exc, SmtpPermanent):
                # Server-level trouble counts for the circuit; a 5xx for this message not.
                self._failure(exc)
            if broken and started[0]:
                self.errors[row.id] = exc
                status = unknown(
                    self.repo, self.account, row, self.ctx.clock(), exc.message, can_verify=True
                )
                self.outcomes[row.id] = ("unknown", status is OutboxStatus.FAILED)
                self._count(status is not OutboxStatus.SENDING, status.value)
                return
            self._fail(row, exc, code=code)
            return
        if delivery.data_sent and self.hook is not None:
            self.hook(AFTER_DATA, row.id)
        if delivery.data_sent:
            self._success()
        await self._finish(row, delivery)

    async def _settled_by_sent(self, row: Claimed) -> bool:
        """For a row that may already be delivered: look in Sent before sending again.

        True when the row is settled without sending (found, or still cannot tell and
        attempts remain); False to go ahead and send.
        """
        from ._recovery import settle_found

        acc = self.account
        if not has_evidence(acc):
            return False
        try:
            found = await self.sent.contains(acc, row.message_id)
        except EmailError as exc:
            if row.attempt >= row.max_attempts:
                return False  # out of patience: at-least-once rather than never
            why = exc.message
            # Counted although no SMTP dialogue took place: otherwise a Sent folder that
            # stays unreachable would hold the message back forever (never sent, not lost).
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
            self.outcomes[row.id] = ("recovered", False)
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
                exc = SmtpTransientReply(f"all recipients refused: {refused_text}")
                if row.attempt < row.max_attempts:
                    self.errors[row.id] = exc
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
        copy = keeps_copy(self.account)
        self.outcomes[row.id] = ("sent" if not d.refused else "partial", False)
        held = self.repo.finalize(
            row,
            run_id=current_run_id(),
            status=OutboxStatus.SENT,
            now=now,
            outcome="sent" if not d.refused else "partial",
            last_error=f"refused: {refused_text}" if (hard or soft) else None,
            remaining=(),
            smtp_code=d.code,
            server_reply=reply,
            copy_pending=copy,
        )
        self._count(held, "sent")
        if held and copy:
            await append_copy(self.ctx, self.repo, self.sent, self.account, row.id, row.raw)
        if held and self.hook is not None:
            self.hook(AFTER_SENT, row.id)


async def append_copy(
    ctx: ServiceContext,
    repo: OutboxRepo,
    sent: SentFolder,
    account: AccountConfig,
    outbox_id: int,
    raw: bytes,
) -> bool:
    """Append our copy of a sent row to Sent and clear ``copy_pending``; False on failure.

    A failure leaves the copy pending (the next drain repairs it), except when the account
    has no Sent folder at all; the row stays ``sent`` either way.
    """
    try:
        await sent.append(account, raw)
    except ConfigError as exc:
        # No Sent folder to put it in (none configured or discoverable): retrying every
        # drain cannot help; say so once and stop.
        repo.copy_done(outbox_id, now=ctx.clock(), note=f"sent; no copy kept: {exc.message}")
        return False
    except EmailError as exc:
        # The message went out; a missing copy in Sent must not make it "unsent".
        log.warning("outbox %s sent, but appending to Sent failed: %s", outbox_id, exc.message)
        repo.note_error(
            outbox_id,
            f"sent; copy to the Sent folder failed (retried by the next drain): {exc.message}",
            now=ctx.clock(),
        )
        return False
    repo.copy_done(outbox_id, now=ctx.clock())
    return True
