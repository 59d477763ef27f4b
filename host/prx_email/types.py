"""Domain values shared by every host layer.

They mirror the records of ``wit/types.wit`` one to one (snake_case fields);
``prx_email.bridge.convert`` is the only place that turns them into WIT values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

AccountId = int
MessageKey = int
OutboxId = int
Timestamp = int  # seconds since the Unix epoch, UTC


@dataclass(frozen=True, slots=True)
class Account:
    """A configured account as the agent may see it (no credentials)."""

    id: AccountId
    name: str
    address: str
    has_imap: bool
    has_smtp: bool
    folders: tuple[str, ...] = ("INBOX",)


@dataclass(frozen=True, slots=True)
class AttachmentMeta:
    """Metadata of one attachment; the bytes stay in the host's attachment store."""

    index: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
    stored: bool


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One message as it appears in a listing."""

    id: MessageKey
    account_id: AccountId
    folder: str
    uid: int | None
    message_id: str | None
    subject: str
    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: Timestamp | None
    flags: tuple[str, ...]
    snippet: str
    has_attachments: bool
    size: int


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message with its decoded bodies."""

    summary: MessageSummary
    reply_to: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: tuple[Header, ...]
    body_text: str | None
    body_html: str | None
    body_truncated: bool
    attachments: tuple[AttachmentMeta, ...]


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: tuple[MessageSummary, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ListQuery:
    account_id: AccountId
    folder: str | None = None
    unseen_only: bool = False
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Every present criterion must match; ``remote`` runs it as IMAP SEARCH."""

    account_id: AccountId
    text: str | None = None
    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    body: str | None = None
    since: Timestamp | None = None
    before: Timestamp | None = None
    unseen: bool | None = None
    folder: str | None = None
    limit: int = 50
    cursor: str | None = None
    remote: bool = False


@dataclass(frozen=True, slots=True)
class SyncRequest:
    account_id: AccountId
    folder: str | None = None
    max_messages: int | None = None


@dataclass(frozen=True, slots=True)
class FolderReport:
    folder: str
    fetched: int = 0
    flags_updated: int = 0
    expunged: int = 0
    uidvalidity_reset: bool = False
    more_pending: bool = False


@dataclass(frozen=True, slots=True)
class SyncReport:
    account_id: AccountId
    folders: tuple[FolderReport, ...]


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


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    account_id: AccountId
    message: MessageKey
    body_text: str | None = None
    body_html: str | None = None
    reply_all: bool = False


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: OutboxId
    account_id: AccountId
    status: OutboxStatus
    message_id: str
    subject: str
    recipients: tuple[str, ...]
    attempts: int
    created_at: Timestamp
    updated_at: Timestamp
    next_attempt_at: Timestamp | None = None
    sent_at: Timestamp | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxQuery:
    account_id: AccountId | None = None
    status: OutboxStatus | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxPage:
    entries: tuple[OutboxEntry, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    """An attachment as parsed from a raw message, with its decoded bytes."""

    filename: str | None
    content_type: str
    data: bytes = field(repr=False)
    sha256: str = ""
