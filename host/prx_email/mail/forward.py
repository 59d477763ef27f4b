"""The parts of a forward that come from the original: subject, inline text, attached message.

- Subject: one ``Fwd:`` (``Fwd:``, ``Fw:``, ``FWD:``, ``WG:``, ``TR:``, ``RV:`` … prefixes are
  folded into it, never stacked; a ``Re:`` is kept: it is part of the original's subject).
- Inline: the note, then a "Forwarded message" block naming the original's From, Date,
  Subject, To and Cc, then its text. HTML only when the note or the original has HTML (the
  original's HTML, or its text escaped, in a ``<blockquote>``).
- Rebuilt (an imported original with no server copy): its headers as stored (a value the
  header parser refuses is left out), its bodies and attachments, as a fresh MIME message.
- Attached: the original's bytes as one ``message/rfc822`` part, CRLF line endings;
  ``7bit`` when it is 7-bit clean with lines within RFC 5322's 998, else base64 (RFC 2046
  wants identity encodings for message/rfc822, but a 7-bit transport cannot carry 8-bit
  bytes otherwise, and mail clients read base64 there).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from ..types import Message
from .compose import POLICY, AttachmentData, safe_filename
from .htmltext import html_to_text

__all__ = ["Original", "forward_subject", "inline_bodies", "rebuild", "rfc822_part"]

_FWD_PREFIX = re.compile(r"^\s*(?:(?:fwd?|wg|tr|rv|enc|doorst)\s*:\s*)+", re.IGNORECASE)
_SEPARATOR = "---------- Forwarded message ----------"
_BAD_LINE = re.compile(rb"[^\r\n]{999,}")


@dataclass(frozen=True, slots=True)
class Original:
    """What the inline block shows of the forwarded message."""

    from_: str
    date: int | None
    subject: str
    to: Sequence[str]
    cc: Sequence[str]
    body_text: str | None
    body_html: str | None


def forward_subject(subject: str) -> str:
    """``Fwd: <subject>`` without stacking forward prefixes."""
    stripped = _FWD_PREFIX.sub("", subject).strip()
    return f"Fwd: {stripped}" if stripped else "Fwd:"


def _fields(o: Original) -> list[tuple[str, str]]:
    date = format_datetime(datetime.fromtimestamp(o.date, UTC)) if o.date is not None else ""
    rows = [("From", o.from_), ("Date", date), ("Subject", o.subject), ("To", ", ".join(o.to))]
    if o.cc:
        rows.append(("Cc", ", ".join(o.cc)))
    return [(k, v) for k, v in rows if v]


def inline_bodies(
    note_text: str | None, note_html: str | None, o: Original, *, truncated: bool = False
) -> tuple[str, str | None]:
    """The forward's (text, html) bodies; html is None when neither side has HTML.

    ``truncated``: the stored text of the original is cut short; the forward says so.
    """
    rest = "\n[the rest of the original text was not kept]\n" if truncated else ""
    original_text = o.body_text if o.body_text is not None else html_to_text(o.body_html or "")
    note = note_text if note_text is not None else html_to_text(note_html or "")
    head = "\n".join(f"{k}: {v}" for k, v in _fields(o))
    text = f"{note.rstrip()}\n\n" if note.strip() else ""
    text += f"{_SEPARATOR}\n{head}\n\n{original_text}{rest}"
    if note_html is None and o.body_html is None:
        return text, None
    note_part = note_html if note_html is not None else _pre(note_text or "")
    quoted = o.body_html if o.body_html is not None else _pre(original_text)
    rows = "<br>\n".join(f"{k}: {html.escape(v)}" for k, v in _fields(o))
    body = (
        f"<div>{note_part}</div>\n<div>{_SEPARATOR}<br>\n{rows}</div>\n"
        f"<blockquote>{quoted}{html.escape(rest)}</blockquote>\n"
    )
    return text, body


def _pre(text: str) -> str:
    return f'<pre style="white-space: pre-wrap">{html.escape(text)}</pre>' if text else ""


def rfc822_part(raw: bytes, filename: str) -> EmailMessage:
    """One ``message/rfc822`` attachment holding ``raw`` (see the module docstring)."""
    data = re.sub(rb"\r?\n", b"\r\n", raw)
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = "message/rfc822"
    part.add_header("Content-Disposition", "attachment", filename=safe_filename(filename))
    if data.isascii() and not _BAD_LINE.search(data):
        part["Content-Transfer-Encoding"] = "7bit"
        part.set_payload(data.decode("ascii"))
    else:
        encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(encoded)
    return part


def rebuild(msg: Message, attachments: Sequence[AttachmentData]) -> bytes:
    """A MIME message from a stored one (see the module docstring)."""
    s = msg.summary
    out = EmailMessage(policy=POLICY)
    date = format_datetime(datetime.fromtimestamp(s.date, UTC)) if s.date is not None else None
    for name, value in (
        ("From", s.from_),
        ("To", ", ".join(s.to)),
        ("Cc", ", ".join(s.cc)),
        ("Subject", s.subject),
        ("Date", date),
        ("Message-ID", s.message_id),
        ("In-Reply-To", msg.in_reply_to),
        ("References", " ".join(msg.references)),
    ):
        if value:
            try:
                out[name] = value
            except (ValueError, TypeError, IndexError):
                continue  # a stored value the header parser refuses: leave it out
    out["MIME-Version"] = "1.0"
    text, body_html = msg.body_text, msg.body_html
    if text is not None or body_html is None:
        out.set_content(text or "", subtype="plain", charset="utf-8")
        if body_html is not None:
            out.add_alternative(body_html, subtype="html", charset="utf-8")
    else:
        out.set_content(body_html, subtype="html", charset="utf-8")
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        out.add_attachment(
            att.data, maintype=maintype, subtype=subtype, filename=safe_filename(att.filename)
        )
    return out.as_bytes(policy=POLICY)
