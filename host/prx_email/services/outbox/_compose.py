"""Composition and validation: from a request to one stored row (nothing sent here).

Every check runs before anything is stored: recipients, subject, bodies, attachments, then
the total size of the built message against ``[accounts.send] max_message_bytes``
(issue 10 item 8: a caller that skipped the guest's validation cannot queue a 60 MB body).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from ...config.model import AccountConfig
from ...errors import ConfigError, InvalidArgument, NotFound
from ...mail.compose import (
    AttachmentData,
    Mailbox,
    check_subject,
    compose,
    dedup,
    parse_addr_spec,
    parse_mailbox,
    parse_mailboxes,
    references_chain,
    reply_subject,
)
from ...mail.forward import forward_subject, inline_bodies, rfc822_part
from ...store.outbox import OutboxRepo
from ...types import ForwardMode, ForwardRequest, Message, OutgoingMessage, ReplyRequest
from ..attachments import load_attachments
from ..context import ServiceContext
from ..send_policy import admit
from ._schedule import parse_send_at

if TYPE_CHECKING:
    from ..actions import ForwardSource


_CTL_SUB = re.compile(r"[\x00-\x1f\x7f]")


def smtp_account(
    ctx: ServiceContext, account_id: int, account: AccountConfig | None = None
) -> AccountConfig:
    """The account, which must have an SMTP server (looked up once per call: pass ``account``
    when the caller already looked it up).

    :raises AccountNotFound, ConfigError:
    """
    if account is None or account.id != account_id:
        account = ctx.account(account_id)
    if account.smtp is None:
        raise ConfigError(
            f"account {account_id} has no SMTP server configured",
            hint="add an smtp table to the account in the config to send mail",
        )
    return account


def _too_big(size: int, cap: int, what: str) -> InvalidArgument:
    return InvalidArgument(
        f"{what} is {size} bytes, over the {cap} byte limit for one message; nothing was queued",
        hint="send a smaller message (or fewer attachments), or raise"
        " [accounts.send] max_message_bytes in the config",
    )


def _check_bodies(
    account: AccountConfig, body_text: str | None, body_html: str | None, extra: int = 0
) -> None:
    if not (body_text or "").strip() and not (body_html or "").strip():
        raise InvalidArgument(
            "a message needs a body", hint="pass body_text, body_html, or both (non-empty)"
        )
    # Cheap bound before composing: characters are at least one byte each once encoded.
    cap = account.send.max_message_bytes
    size = len(body_text or "") + len(body_html or "") + extra
    if size > cap:
        raise _too_big(size, cap, "the message body")


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
    send_at: float | None = None,
    parts: Sequence[EmailMessage] = (),
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
        parts=parts,
    )
    cap = account.send.max_message_bytes
    if len(built.raw) > cap:
        raise _too_big(len(built.raw), cap, "the composed message")
    # Recipient lists and quotas: checked, then counted with the insert (issue 16).
    return admit(
        ctx,
        account,
        built.recipients,
        lambda hold: OutboxRepo(ctx.db).insert(
            account_id=account.id,
            message_id=built.message_id,
            subject=subject,
            sender=built.sender,
            recipients=built.recipients,
            raw=built.raw,
            max_attempts=max(1, account.send.max_attempts),
            now=now,
            parent_key=parent_key,
            send_at=send_at,
            hold=hold,
        ),
    )


def queue_for(ctx: ServiceContext, account: AccountConfig, msg: OutgoingMessage) -> int:
    """Validate, build and store a new message for ``account``; returns the row id.

    :raises InvalidArgument, AttachmentRejected:
    """
    send_at = parse_send_at(account, msg.send_at, ctx.clock())
    to = parse_mailboxes(msg.to, "to")
    cc = parse_mailboxes(msg.cc, "cc")
    bcc = parse_mailboxes(msg.bcc, "bcc")
    _check_count(account, len(to) + len(cc) + len(bcc))
    subject = check_subject(msg.subject)
    _check_bodies(account, msg.body_text, msg.body_html)
    atts = load_attachments(ctx.config.attachments, msg.attachments)
    if atts:
        _check_bodies(account, msg.body_text, msg.body_html, sum(len(a.data) for a in atts))
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
        send_at=send_at,
    )


def queue(ctx: ServiceContext, msg: OutgoingMessage) -> int:
    """Validate, build and store a new message without delivering it; returns the row id.

    :raises AccountNotFound, ConfigError, InvalidArgument, AttachmentRejected:
    """
    return queue_for(ctx, smtp_account(ctx, msg.account_id), msg)


def _load_parent(ctx: ServiceContext, account_id: int, key: int) -> Message:
    from ..mailbox import get_message  # completes a pending parent first

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


def queue_reply_for(ctx: ServiceContext, account: AccountConfig, req: ReplyRequest) -> int:
    """Validate, build and store a reply for ``account``; returns the row id.

    :raises NotFound, InvalidArgument:
    """
    send_at = parse_send_at(account, req.send_at, ctx.clock())
    _check_bodies(account, req.body_text, req.body_html)
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
        subject=check_subject(reply_subject(_CTL_SUB.sub(" ", s.subject))[:998]),
        body_text=req.body_text,
        body_html=req.body_html,
        in_reply_to=s.message_id,
        references=refs,
        parent_key=s.id,
        send_at=send_at,
    )


def queue_reply(ctx: ServiceContext, req: ReplyRequest) -> int:
    """Validate, build and store a reply without delivering it; returns the row id.

    :raises AccountNotFound, NotFound, ConfigError, InvalidArgument:
    """
    return queue_reply_for(ctx, smtp_account(ctx, req.account_id), req)


# --- email.forward -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForwardPlan:
    """A forward's checked recipients, before the original is fetched."""

    to: list[Mailbox]
    cc: list[Mailbox]
    bcc: list[Mailbox]


def check_forward(account: AccountConfig, req: ForwardRequest) -> ForwardPlan:
    """The checks of ``email.send`` for a forward, made before the server is asked.

    :raises InvalidArgument: a recipient, the count, the note's size, or
        ``include_attachments: false`` with ``mode: attachment``.
    """
    if req.mode is ForwardMode.ATTACHMENT and not req.include_attachments:
        raise InvalidArgument(
            "include_attachments: false does not fit mode: attachment (the attached original "
            "carries its attachments)",
            hint='use mode "inline" to forward the text without the attachments',
        )
    to = parse_mailboxes(req.to, "to")
    cc = parse_mailboxes(req.cc, "cc")
    bcc = parse_mailboxes(req.bcc, "bcc")
    _check_count(account, len(to) + len(cc) + len(bcc))
    cap = account.send.max_message_bytes
    size = len(req.body_text or "") + len(req.body_html or "")
    if size > cap:
        raise _too_big(size, cap, "the note")
    return ForwardPlan(to, cc, bcc)


def queue_forward_for(
    ctx: ServiceContext,
    account: AccountConfig,
    req: ForwardRequest,
    plan: ForwardPlan,
    source: ForwardSource,
    *,
    send_at: float | None = None,
) -> int:
    """Build and store a forward of ``source`` (``services.actions.forward_source``).

    :raises InvalidArgument: the built message is over ``max_message_bytes``.
    """
    s = source.message.summary
    parts: list[EmailMessage] = []
    attachments: Sequence[AttachmentData] = ()
    if req.mode is ForwardMode.ATTACHMENT:
        assert source.raw is not None
        parts.append(rfc822_part(source.raw, f"{s.subject or 'message'}.eml"))
        html = req.body_html
        # No note: an empty text part (compose needs a body; no words the caller did not give).
        text: str | None = "" if req.body_text is None and html is None else req.body_text
    else:
        text, html = inline_bodies(
            req.body_text, req.body_html, source.original, truncated=source.truncated
        )
        attachments = source.attachments
    return _enqueue(
        ctx,
        account,
        to=plan.to,
        cc=plan.cc,
        bcc=plan.bcc,
        subject=check_subject(forward_subject(_CTL_SUB.sub(" ", s.subject))[:998]),
        body_text=text,
        body_html=html,
        attachments=attachments,
        in_reply_to=s.message_id,
        references=references_chain(
            s.message_id, source.message.references, source.message.in_reply_to
        ),
        parent_key=s.id,
        parts=parts,
        send_at=send_at,
    )
