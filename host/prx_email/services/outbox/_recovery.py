"""Lease recovery and Sent-copy repair: what a drain settles before delivering.

- A row left in ``sending`` past its lease lost its worker. No ``data_at``: DATA never
  started, nothing was delivered, and the try costs no attempt: it is due again at once.
  ``data_at`` set: it may have been delivered. With Sent evidence (the server files sent
  mail itself) the Message-ID is looked up there; found settles it as ``sent``, not found
  means not delivered (resend), unreachable means wait and look again. Without evidence the
  account's ``unknown_outcome`` policy decides (:func:`._deliver.unknown`). Recovery never
  makes a row ``dead``.
- A ``sent`` row whose copy to Sent is still pending (killed between the finalize and the
  APPEND, or the APPEND failed) gets it now — unless Sent already holds that Message-ID.
- A ``sent`` row that sent a draft (``email.draft_send``) removes that draft from its
  Drafts folder; a kill or an IMAP failure in between leaves it for the next drain.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from ...config.model import AccountConfig
from ...errors import EmailError, FolderNotFound
from ...logging_setup import current_run_id
from ...store.outbox import Claimed, OutboxRepo, SentDraft
from ...types import OutboxStatus
from ..circuit import CircuitBreaker
from ..context import ServiceContext
from ..sent_folder import SentFolder, has_evidence, keeps_copy
from ._deliver import Deliverer, DrainReport, Hook, append_copy, backoff, iso, log, unknown


@dataclass(slots=True)
class Run:
    """What one drain (or one direct send) shares across accounts."""

    ctx: ServiceContext
    repo: OutboxRepo
    breaker: CircuitBreaker
    sent: SentFolder
    report: DrainReport
    hook: Hook | None

    def deliverer(self, account: AccountConfig) -> Deliverer:
        return Deliverer(
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
            if row.data_at is None or account is None:
                why = (
                    "worker stopped before DATA: not delivered, no attempt counted"
                    if row.data_at is None
                    else "worker stopped mid-send; the account is no longer configured"
                )
                repo.finalize(
                    claimed,
                    run_id=current_run_id(),
                    status=OutboxStatus.FAILED,
                    now=ctx.clock(),
                    outcome="not-attempted" if row.data_at is None else "requeued",
                    next_attempt_at=ctx.clock(),
                    last_error=why,
                    counted=False,
                )
                self.report.requeued += 1
                continue
            await self._settle_unknown(account, claimed, row.deferred)

    async def _settle_unknown(
        self, account: AccountConfig, claimed: Claimed, deferred: Sequence[str]
    ) -> None:
        ctx, repo = self.ctx, self.repo
        why = "worker stopped mid-send"
        # After an earlier partial delivery the Message-ID is in Sent already: finding it
        # says nothing about this attempt (then the policy decides).
        evidence = has_evidence(account) and not repo.delivered_before(claimed.id, claimed.attempt)
        if evidence:
            found = await self._in_sent(account, claimed.id, claimed.message_id)
            if found:
                if settle_found(repo, ctx.clock(), claimed, deferred):
                    self.report.recovered += 1
                return
            if found is False:
                # The server files everything it accepts: absent means not delivered.
                repo.finalize(
                    claimed,
                    run_id=current_run_id(),
                    status=OutboxStatus.FAILED,
                    now=ctx.clock(),
                    outcome="requeued",
                    next_attempt_at=ctx.clock(),
                    last_error=f"{why}; not in the Sent folder, so not delivered: sending again",
                )
                self.report.requeued += 1
                return
            now = ctx.clock()
            nxt = now + backoff(account, claimed.attempt)
            repo.finalize(
                claimed,
                run_id=current_run_id(),
                status=OutboxStatus.FAILED,
                now=now,
                outcome="requeued",
                next_attempt_at=nxt,
                last_error=f"{why}; delivery unconfirmed and the Sent folder unreachable;"
                f" checking again at {iso(nxt)}",
                verify_sent=True,
            )
            self.report.requeued += 1
            return
        status = unknown(repo, account, claimed, ctx.clock(), why, can_verify=False)
        if status is OutboxStatus.HELD:
            self.report.held += 1
        elif status is OutboxStatus.FAILED:
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

    async def repair_copies(self, limit: int = 100) -> None:
        """Append the Sent copies still pending (a kill or an IMAP failure came between)."""
        ctx, repo = self.ctx, self.repo
        for copy in repo.copies_pending(limit=limit):
            account = ctx.config.account(copy.account_id)
            if account is None or not keeps_copy(account):
                repo.copy_done(copy.id, now=ctx.clock())
                continue
            try:
                # The APPEND may have gone through before the kill: never store it twice.
                if await self.sent.contains(account, copy.message_id):
                    repo.copy_done(copy.id, now=ctx.clock())
                    continue
            except EmailError as exc:
                log.warning("outbox %s: Sent copy not repaired: %s", copy.id, exc.message)
                continue
            if await append_copy(ctx, repo, self.sent, account, copy.id, copy.raw):
                self.report.copies_repaired += 1

    async def remove_sent_drafts(self, limit: int = 100) -> None:
        """Remove the drafts of sent rows from their Drafts folder (every copy, by Message-ID)."""
        for row in self.repo.drafts_to_remove(limit=limit):
            if await remove_sent_draft(self.ctx, self.repo, row):
                self.report.drafts_removed += 1


async def remove_sent_draft(ctx: ServiceContext, repo: OutboxRepo, row: SentDraft) -> bool:
    """Remove one sent row's draft; False when the server failed (the next drain retries)."""
    from ..drafts import remove_copies

    account = ctx.config.account(row.account_id)
    if account is not None and account.imap is not None:
        try:
            await remove_copies(ctx, account, row.folder, row.message_id)
        except FolderNotFound:
            pass  # the folder is gone, and the draft with it
        except EmailError as exc:
            log.warning("outbox %s: sent draft not removed: %s", row.id, exc.message)
            return False
    repo.draft_removed(row.id, now=ctx.clock())
    return True


def settle_found(repo: OutboxRepo, now: float, row: Claimed, deferred: Sequence[str]) -> bool:
    """Settle a row whose uncertain attempt was found in the Sent folder (delivered).

    That DATA reached every recipient except those the server deferred (4xx at RCPT,
    recorded before DATA): the row is ``sent`` when there are none, else it stays queued
    for just those (same bytes, same Message-ID), due at once — the deferral is at least a
    lease old. False when the claim was lost. Looking in Sent is no SMTP attempt: it
    counts none.
    """
    reply = "found in the Sent folder: delivered by an earlier attempt"
    rest = [r for r in deferred if r in row.recipients]
    if not rest:
        return repo.finalize(
            row,
            run_id=current_run_id(),
            status=OutboxStatus.SENT,
            now=now,
            outcome="recovered",
            remaining=(),
            server_reply=reply,
            counted=False,
        )
    if row.attempt >= row.max_attempts:
        # Out of attempts, as in a normal partial delivery: sent, naming who did not get it.
        return repo.finalize(
            row,
            run_id=current_run_id(),
            status=OutboxStatus.SENT,
            now=now,
            outcome="recovered-partial",
            remaining=(),
            last_error=f"not delivered after {row.attempt} attempts: {', '.join(rest)}",
            server_reply=reply,
            counted=False,
        )
    return repo.finalize(
        row,
        run_id=current_run_id(),
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
        counted=False,
    )
