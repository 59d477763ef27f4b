"""What the pages show, as plain values: a held message as the operator must read it.

A held message is shown from the exact bytes the approval hash covers (``Awaiting.raw``),
parsed here with the standard library for display only: every header as stored, the text
part (the HTML part's source when there is no text part), and each attachment with its
decoded size. The templates escape every value.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from ...store.approvals import Awaiting

__all__ = ["AttachmentView", "HeldView", "held_view", "when"]

#: Characters of a text part shown (a longer one is cut and says so).
MAX_TEXT = 200_000


@dataclass(frozen=True, slots=True)
class AttachmentView:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class HeldView:
    """One ``awaiting_approval`` row, with the hash an approval must post."""

    id: int
    account_id: int
    sender: str
    recipients: tuple[str, ...]
    subject: str
    reason: str
    expires: str
    hash: str
    size: int
    headers: tuple[tuple[str, str], ...]
    text: str
    text_kind: str
    attachments: tuple[AttachmentView, ...]


def when(ts: float | None) -> str:
    """A UTC time as people read it; ``-`` for none."""
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _text(msg: EmailMessage) -> tuple[str, str]:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return "", "none"
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: show the bytes as latin-1
        payload = part.get_payload(decode=True)
        content = payload.decode("latin-1") if isinstance(payload, bytes) else ""
    text = str(content)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n… ({len(text) - MAX_TEXT} more characters not shown)"
    return text, part.get_content_subtype()


def _attachments(msg: EmailMessage) -> tuple[AttachmentView, ...]:
    out = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        out.append(
            AttachmentView(part.get_filename() or "(no name)", part.get_content_type(), size)
        )
    return tuple(out)


def held_view(row: Awaiting) -> HeldView:
    """The row as the approvals page shows it."""
    msg = email.message_from_bytes(row.raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    text, kind = _text(msg)
    return HeldView(
        id=row.id,
        account_id=row.account_id,
        sender=row.sender,
        recipients=row.recipients,
        subject=row.subject,
        reason=row.reason,
        expires=when(row.expires_at),
        hash=row.hash,
        size=len(row.raw),
        headers=tuple((k, str(v)) for k, v in msg.items()),
        text=text,
        text_kind=kind,
        attachments=_attachments(msg),
    )
