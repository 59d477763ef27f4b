"""What the pages show, as plain values: a held message as the operator must read it.

A held message is shown from the exact bytes the approval hash covers (``Awaiting.raw``),
parsed with the store's own MIME parser (``mail.parse``) for display only: every header
decoded, the text part (the HTML part's source when there is no text part), and each
attachment with its decoded size. The templates escape every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ...mail.parse import ParsedMessage, parse_message
from ...store.approvals import Awaiting

__all__ = ["AttachmentView", "HeldView", "held_view", "when"]

#: Bytes of a text part shown (a longer one is cut and says so).
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


def _text(parsed: ParsedMessage) -> tuple[str, str]:
    if parsed.body_text is not None:
        text, kind = parsed.body_text, "plain"
    elif parsed.body_html is not None:
        text, kind = parsed.body_html, "html"  # the source: the page escapes it
    else:
        return "", "none"
    if parsed.body_truncated:
        text += f"\n… (longer than {MAX_TEXT} bytes: the rest is not shown)"
    return text, kind


def held_view(row: Awaiting) -> HeldView:
    """The row as the approvals page shows it."""
    parsed = parse_message(row.raw, max_body_bytes=MAX_TEXT)
    text, kind = _text(parsed)
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
        headers=parsed.headers,
        text=text,
        text_kind=kind,
        attachments=tuple(
            AttachmentView(a.filename or "(no name)", a.content_type, len(a.data))
            for a in parsed.attachments
        ),
    )
