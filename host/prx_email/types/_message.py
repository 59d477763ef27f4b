"""Stored messages as the agent sees them: summaries, full messages, pages."""

from __future__ import annotations

from dataclasses import dataclass

from . import AccountId, MessageKey, Timestamp
from ._attachment import AttachmentMeta


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
    #: The conversation's root Message-ID (``store.mailbox.thread_id``).
    thread_id: str = ""


@dataclass(frozen=True, slots=True)
class Header:
    """One header line, decoded to Unicode."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Removal:
    """What the host removed from inbound content before the agent saw it, and how often."""

    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message with its decoded bodies.

    ``untrusted``/``removed``: set on the way out to the agent (``services.untrusted``);
    the store keeps the raw content.
    """

    summary: MessageSummary
    reply_to: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: tuple[Header, ...]
    body_text: str | None
    body_html: str | None
    body_truncated: bool
    attachments: tuple[AttachmentMeta, ...]
    untrusted: bool = False
    removed: tuple[Removal, ...] = ()


@dataclass(frozen=True, slots=True)
class MessagePage:
    """A page of message summaries, newest first."""

    messages: tuple[MessageSummary, ...]
    next_cursor: str | None
