"""Bounce detection (issue 13): is an inbound message a delivery failure, and of what?

Two shapes:

- RFC 3464 delivery status notifications (``multipart/report;
  report-type=delivery-status``): the ``message/delivery-status`` part is read with the
  stdlib ``email`` package (per-recipient ``Final-Recipient``, ``Action``, ``Status``,
  ``Diagnostic-Code``); the original Message-ID comes from the returned
  ``message/rfc822`` / ``text/rfc822-headers`` part.
- Legacy bounces (Postfix, Exim, qmail, Gmail-style text): flufl.bounce's detectors find
  the failed recipients and whether each failure is permanent or temporary; the status
  code and the quoted original's Message-ID are read from the body here.

Pure and total: :func:`parse_bounce` never raises, and a message that is not a bounce gives
None. :func:`looks_like_bounce` is the cheap question asked on the sync hot path for every
message (a few byte searches of the header block); only a yes pays for the full parse.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeGuard

if TYPE_CHECKING:
    from email.message import Message

# The email package is imported where a bounce is parsed: the sync imports this module,
# and a run without bounces does not pay for email.message.

__all__ = ["Bounce", "BounceKind", "BounceRecipient", "looks_like_bounce", "parse_bounce"]

BounceKind = Literal["permanent", "transient", "unknown"]

_HEAD_MAX = 64 * 1024
# A bounce's From or Subject: a mailer daemon / postmaster, or a typical subject.
_TOKENS = (
    "mailer-daemon",
    "postmaster",
    "mail delivery",
    "undeliver",
    "returned mail",
    "delivery status",
    "delivery failure",
    "failure notice",
    "delayed mail",
)
_REPORT = (b"/report", b"/Report", b"/REPORT")
_CONTENT_TYPE = re.compile(rb"content-type:([^\r\n]*)", re.I)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(r"^message-id:[ \t]*(<[^>\r\n]+>)", re.I | re.M)
_SMTP_REPLY = re.compile(r"\b([45])\d\d[ -]")
_MAX_REASON = 500
_FAILED_ACTIONS = frozenset({"failed", "delayed"})
_POSTFIX_LINE = re.compile(r"^<([^<>@\s]+@[^<>\s]+)>: .*\b[45]\d\d\b", re.M)


@dataclass(frozen=True, slots=True)
class BounceRecipient:
    """One failed (or delayed) recipient of a bounce."""

    recipient: str
    #: The RFC 3463 status code (``5.1.1``), or None when the bounce gives none.
    status: str | None
    #: RFC 3464 ``Action`` (``failed``, ``delayed``, …); ``failed`` / ``delayed`` for legacy.
    action: str
    kind: BounceKind
    #: The diagnostic text (``Diagnostic-Code`` or the legacy bounce's explanation).
    reason: str


@dataclass(frozen=True, slots=True)
class Bounce:
    """A parsed bounce: the original's Message-ID (if found) and the recipients it names."""

    original_message_id: str | None
    recipients: tuple[BounceRecipient, ...]
    #: ``dsn`` (RFC 3464 structure) or ``legacy``.
    format: Literal["dsn", "legacy"]

    def detail(self) -> dict[str, object]:
        """The event detail of a ``bounce`` event."""
        return {
            "original_message_id": self.original_message_id,
            "format": self.format,
            "recipients": [
                {
                    "recipient": r.recipient,
                    "status": r.status,
                    "action": r.action,
                    "kind": r.kind,
                    "reason": r.reason,
                }
                for r in self.recipients
            ],
        }


def looks_like_bounce(raw: bytes, sender: str, subject: str) -> bool:
    """Whether a message suggests a bounce: its top-level Content-Type is a report, or its
    ``sender`` (the decoded From) or ``subject`` reads like a bounce's. Cheap; false
    positives are fine (:func:`parse_bounce` decides).

    Per message on the sync hot path (~1-2 µs), so From and Subject are the summary's
    decoded values, and the header block is only searched for a report's media type.
    """
    said = f"{sender}\n{subject}".lower()
    if any(token in said for token in _TOKENS):
        return True
    end = raw.find(b"\r\n\r\n", 0, _HEAD_MAX)
    if end < 0:
        end = raw.find(b"\n\n", 0, _HEAD_MAX)
    end = end if end >= 0 else min(len(raw), _HEAD_MAX)
    head = raw[:end]
    # Case-sensitive finds first (a case-blind regex scan costs ~10 µs a header block): a
    # report's media type is spelled in one of these cases in practice.
    if not any(spelling in head for spelling in _REPORT):
        return False
    return any(b"multipart/report" in m.group(1).lower() for m in _CONTENT_TYPE.finditer(head))


def kind_of(status: str | None, action: str = "") -> BounceKind:
    """``permanent`` for 5.x.x, ``transient`` for 4.x.x, else from the action, else unknown."""
    if status:
        if status.startswith("5"):
            return "permanent"
        if status.startswith("4"):
            return "transient"
    if action == "delayed":
        return "transient"
    return "unknown"


def parse_bounce(raw: bytes) -> Bounce | None:
    """The bounce ``raw`` is, or None for any other message. Never raises."""
    from email import message_from_bytes, policy

    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
        if msg.get_content_type() == "multipart/report":
            dsn = _parse_dsn(msg)
            if dsn is not None:
                return dsn
        if not looks_like_bounce(b"", str(msg.get("From", "")), str(msg.get("Subject", ""))):
            return None
        return _parse_legacy(msg)
    except Exception:  # a hostile message must not stop a sync; it is just not a bounce
        return None


# -- RFC 3464 ---------------------------------------------------------------------------------


def _text(value: object) -> str:
    """A header value on one line, without control or format characters.

    Bounce text is written by a remote server and read by the agent (event detail,
    outbox entry): zero-width and bidi controls (Unicode Cf) go, as for a message's text.
    """
    if value is not None and not isinstance(value, str):
        # compat32 gives a raw 8-bit header as a Header of unknown-8bit chunks: read them
        # as UTF-8 (RFC 6533 allows it in DSNs), else U+FFFD.
        from email.header import decode_header

        value = "".join(
            chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
            for chunk, _ in decode_header(value)  # type: ignore[arg-type]
        )
    text = " ".join(str(value or "").split())
    if text.isascii():
        return "".join(c for c in text if c.isprintable())
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))


def _address(value: str) -> str:
    """``rfc822; ann@example.com`` → ``ann@example.com`` (RFC 3464 §2.3.2 address-type)."""
    _, sep, addr = value.partition(";")
    addr = addr if sep else value
    return addr.strip().strip("<>").strip()


def _diagnostic(value: str) -> str:
    """``smtp; 550 5.1.1 …`` → ``550 5.1.1 …``."""
    kind, sep, text = value.partition(";")
    return (text if sep and " " not in kind.strip() else value).strip()[:_MAX_REASON]


def _status_fields(part: Message) -> list[Message]:
    """The per-recipient field groups of a ``message/delivery-status`` part.

    The stdlib parses that type as a list of header blocks: the per-message one first,
    then one per recipient.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload[1:] if _is_message(p)]
    return []


def _is_message(value: object) -> TypeGuard[Message]:
    from email.message import Message

    return isinstance(value, Message)


def _parse_dsn(msg: Message) -> Bounce | None:
    if (msg.get_param("report-type") or "").lower() != "delivery-status":  # type: ignore[union-attr]
        return None
    recipients: list[BounceRecipient] = []
    original: str | None = None
    human = ""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for fields in _status_fields(part):
                recipient = _address(_text(fields.get("Final-Recipient")))
                recipient = recipient or _address(_text(fields.get("Original-Recipient")))
                if not recipient:
                    continue
                action = _text(fields.get("Action")).lower() or "failed"
                if action not in _FAILED_ACTIONS:
                    continue  # delivered / relayed / expanded: a report, not a failure
                m = _STATUS.search(_text(fields.get("Status")))
                status = m.group(0) if m else None
                reason = _diagnostic(_text(fields.get("Diagnostic-Code")))
                recipients.append(
                    BounceRecipient(recipient, status, action, kind_of(status, action), reason)
                )
        elif ctype == "message/rfc822" and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and _is_message(inner[0]):
                original = _message_id(inner[0].get("Message-ID"))
        elif ctype == "text/rfc822-headers" and original is None:
            original = _quoted_message_id(_decoded(part))
        elif ctype == "text/plain" and not human:
            human = _decoded(part)
    if not recipients:
        return None
    if human:
        # A DSN without a Diagnostic-Code: the human-readable part is the best reason.
        first = _first_line(human)
        recipients = [r if r.reason else _with_reason(r, first) for r in recipients]
    return Bounce(original, tuple(recipients), "dsn")


def _with_reason(r: BounceRecipient, reason: str) -> BounceRecipient:
    return BounceRecipient(r.recipient, r.status, r.action, r.kind, reason)


def _message_id(value: object) -> str | None:
    text = _text(value)
    m = re.search(r"<[^>\s]+>", text)
    return m.group(0) if m else None


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _quoted_message_id(text: str) -> str | None:
    m = _MESSAGE_ID.search(text)
    return m.group(1) if m else None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = _text(line)
        if line and not line.endswith(":"):
            return line[:_MAX_REASON]
    return ""


# -- legacy bounces ---------------------------------------------------------------------------


def _parse_legacy(msg: Message) -> Bounce | None:
    # Imported here: only a message that looks like a bounce pays for loading the detectors.
    from flufl.bounce import all_failures

    permanent, temporary = all_failures(msg)
    found = [(a, True) for a in sorted(permanent)] + [
        (a, False) for a in sorted(temporary - permanent)
    ]
    body = "\n".join(_decoded(p) for p in msg.walk() if p.get_content_maintype() == "text")
    if not found:
        # Postfix since 2.x signs "The mail system", which flufl.bounce's detector does not
        # know: its "<addr>: ... said: 550 ..." lines are recognised here.
        found = [(a.encode(), True) for a in dict.fromkeys(_POSTFIX_LINE.findall(body))]
    if not found:
        return None
    original = _quoted_message_id(body)
    if original is None:
        for part in msg.walk():
            if part.get_content_type() == "message/rfc822":
                inner = part.get_payload()
                if isinstance(inner, list) and inner and _is_message(inner[0]):
                    original = _message_id(inner[0].get("Message-ID"))
                    break
    recipients = []
    for raw_addr, perm in found:
        addr = raw_addr.decode("utf-8", "replace").strip("<>")
        line = _line_about(body, addr)
        m = _STATUS.search(line)
        status = m.group(0) if m else None
        if status is None:
            reply = _SMTP_REPLY.search(line)
            kind: BounceKind = "permanent" if perm else "transient"
            if reply is not None:
                kind = "permanent" if reply.group(1) == "5" else "transient"
        else:
            kind = kind_of(status)
        action = "failed" if kind != "transient" else "delayed"
        recipients.append(BounceRecipient(_text(addr), status, action, kind, line[:_MAX_REASON]))
    return Bounce(original, tuple(recipients), "legacy")


def _line_about(body: str, addr: str) -> str:
    """The diagnostic text about ``addr``: the lines from its mention to the next blank."""
    lines = body.splitlines()
    low = addr.lower()
    for i, line in enumerate(lines):
        if low in line.lower():
            chunk: list[str] = []
            for follow in lines[i : i + 6]:
                if chunk and not follow.strip():
                    break
                chunk.append(follow.strip())
            return _text(" ".join(c for c in chunk if c))
    return ""
