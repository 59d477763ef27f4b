"""``email.draft_send``: a draft of the Drafts folder sent through the outbox (issue 12).

::

    Drafts ──fetch newest copy──▶ row (Message-ID = draft id) ──deliver──▶ sent ──▶ draft removed
                                   └ send_at: scheduled, delivered by a drain when due

- The row's Message-ID is the draft's identity, and the outbox allows one row per
  Message-ID: sending the same draft twice queues it once (the second call answers the
  existing row; a ``cancelled`` one is queued again with the draft as it is now).
- The draft is removed from its folder only once the row is ``sent``: a kill in between
  leaves the draft and a ``sent`` row (``draft_folder`` set), and the next drain removes
  the draft (:meth:`._recovery.Run.remove_sent_drafts`).
- What is sent is the draft as stored on the server (it may have been edited in a mail
  client): recipients from To, Cc and Bcc, the Bcc header dropped, From the account's
  address, Date now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.parser import BytesParser
from email.utils import format_datetime

from ...config.model import AccountConfig
from ...errors import ConfigError, InvalidState
from ...mail.compose import POLICY, Mailbox, dedup, parse_addr_spec
from ...store.approvals import Hold
from ...store.outbox import OutboxRepo
from ...types import OutboxEntry, OutboxStatus
from ..context import ServiceContext
from ..send_policy import admit
from ._compose import _check_count, _mailboxes_lenient, _too_big, smtp_account
from ._deliver import make_breaker
from ._entry import _answer, _deliver_one
from ._recovery import remove_sent_draft
from ._schedule import parse_send_at


class _AlreadyQueued(Exception):
    """Raised inside the admit transaction: another call queued this draft first."""


def outgoing_from_draft(
    account: AccountConfig, raw: bytes, draft_id: str, now: float
) -> tuple[bytes, list[str], str]:
    """(bytes to send, envelope recipients, subject) of a stored draft.

    :raises InvalidArgument: no recipient, too many, or too big.
    """
    msg = BytesParser(policy=POLICY).parsebytes(raw)
    boxes = [
        *_mailboxes_lenient([str(v) for v in msg.get_all("To", [])]),
        *_mailboxes_lenient([str(v) for v in msg.get_all("Cc", [])]),
        *_mailboxes_lenient([str(v) for v in msg.get_all("Bcc", [])]),
    ]
    recipients = [b.addr_spec for b in dedup(boxes)]
    _check_count(account, len(recipients))
    subject = str(msg.get("Subject", ""))
    for name in ("Bcc", "From", "Date", "Message-ID"):
        del msg[name]
    msg["From"] = Mailbox(parse_addr_spec(account.address)).header
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = draft_id
    out = msg.as_bytes(policy=POLICY)
    cap = account.send.max_message_bytes
    if len(out) > cap:
        raise _too_big(len(out), cap, "the draft")
    return out, recipients, subject


async def send_draft(
    ctx: ServiceContext, account_id: int, draft_id: str, send_at: str | None = None
) -> OutboxEntry:
    """Send a draft now (answered as ``send``), or schedule it with ``send_at``.

    :raises NotFound: no such draft in the Drafts folder (and no row for it).
    :raises InvalidState: the draft id names an outbox row of another account.
    :raises InvalidArgument, ConfigError, CircuitOpen, SmtpPermanent:
    :raises EmailError: not delivered now (as ``send``).
    """
    from ..drafts import fetch, normalize_draft_id

    account = smtp_account(ctx, account_id)
    if account.imap is None:
        raise ConfigError(
            f"account {account_id} has no IMAP server, so it has no Drafts folder",
            hint="add an [accounts.imap] table for this account",
        )
    draft_id = normalize_draft_id(draft_id)
    when = parse_send_at(account, send_at, ctx.clock())
    repo = OutboxRepo(ctx.db)
    existing = repo.by_message_id(draft_id)
    if existing is not None and existing.account_id != account.id:
        raise InvalidState(
            f"draft {draft_id} is queued as outbox row {existing.id} of account"
            f" {existing.account_id}",
            hint="use the account the draft was sent from",
        )
    if existing is not None and existing.status is not OutboxStatus.CANCELLED:
        return await _again(ctx, existing)
    if when is None:
        make_breaker(ctx).acquire(account.id, ctx.clock())
    folder, raw = await fetch(ctx, account, draft_id)
    now = ctx.clock()
    out, recipients, subject = outgoing_from_draft(account, raw, draft_id, now)

    def requeue(hold: Hold | None) -> int:
        assert existing is not None
        if not repo.revive(
            existing.id, raw=out, subject=subject, recipients=recipients, now=now,
            send_at=when, draft_folder=folder, hold=hold,
        ):  # fmt: skip
            raise _AlreadyQueued
        return existing.id

    def insert(hold: Hold | None) -> int:
        new_id = repo.insert_once(
            account_id=account.id, message_id=draft_id, subject=subject,
            sender=parse_addr_spec(account.address), recipients=recipients, raw=out,
            max_attempts=max(1, account.send.max_attempts), now=now, send_at=when,
            draft_folder=folder, hold=hold,
        )  # fmt: skip
        if new_id is None:
            raise _AlreadyQueued
        return new_id

    try:
        # Recipient lists and quotas, checked and counted with the insert (issue 16); a row
        # another call queued meanwhile rolls the count back and is answered as it stands.
        outbox_id = admit(ctx, account, recipients, requeue if existing is not None else insert)
    except _AlreadyQueued:
        found = repo.by_message_id(draft_id)
        assert found is not None
        return await _again(ctx, found)
    if when is not None:
        entry = repo.entry(outbox_id)
        assert entry is not None
        return entry
    entry, error, _ = await _deliver_one(ctx, account, outbox_id)
    await _remove_draft(ctx, repo, outbox_id)
    return _answer(repo.entry(outbox_id) or entry, error)


async def _again(ctx: ServiceContext, entry: OutboxEntry) -> OutboxEntry:
    """The draft is queued already: answer its row, never a second one (and remove the
    draft of a sent row that a kill left behind)."""
    repo = OutboxRepo(ctx.db)
    await _remove_draft(ctx, repo, entry.id)
    return repo.entry(entry.id) or entry


async def _remove_draft(ctx: ServiceContext, repo: OutboxRepo, outbox_id: int) -> None:
    for row in repo.drafts_to_remove(ids=[outbox_id]):  # only when the row is sent
        await remove_sent_draft(ctx, repo, row)
