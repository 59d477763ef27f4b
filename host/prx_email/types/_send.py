"""Outgoing messages, replies and their attachments."""

from __future__ import annotations

from dataclasses import dataclass

from . import AccountId, MessageKey


@dataclass(frozen=True, slots=True)
class AttachmentPath:
    """An attachment read from a file under the configured attachment root."""

    path: str


@dataclass(frozen=True, slots=True)
class AttachmentBase64:
    """An attachment given inline as base64 text."""

    data: str


AttachmentSource = AttachmentPath | AttachmentBase64


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    """One attachment of an outgoing message."""

    source: AttachmentSource
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A new message; From is always the account's address."""

    account_id: AccountId
    to: tuple[str, ...]
    subject: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    body_text: str | None = None
    body_html: str | None = None
    attachments: tuple[OutgoingAttachment, ...] = ()
    #: Scheduled send: ISO-8601 date-time with a zone, in the future (host-checked).
    send_at: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """A reply to a stored message."""

    account_id: AccountId
    message: MessageKey
    body_text: str | None = None
    body_html: str | None = None
    reply_all: bool = False
    #: Scheduled send, as for :class:`OutgoingMessage`.
    send_at: str | None = None
