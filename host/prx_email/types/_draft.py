"""Drafts: a message kept in the account's Drafts folder, identified by its Message-ID."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import AccountId, MessageKey
from ._send import OutgoingAttachment


@dataclass(frozen=True, slots=True)
class DraftRequest:
    """The content of a draft; From is always the account's address.

    ``reply_to`` (a stored message's local id) or ``reply_to_message_id`` (an RFC
    Message-ID) make it a reply: In-Reply-To and References are set as ``email.reply`` does.
    """

    account_id: AccountId
    to: tuple[str, ...] = ()
    subject: str = ""
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    body_text: str | None = None
    body_html: str | None = None
    attachments: tuple[OutgoingAttachment, ...] = ()
    reply_to: MessageKey | None = None
    reply_to_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class DraftInfo:
    """Where a draft was stored: its identity (the Message-ID), folder and UID."""

    account_id: AccountId
    draft_id: str
    folder: str
    #: The server's UID of the stored copy; None when the server has no UIDPLUS.
    uid: int | None = None


class DraftState(enum.Enum):
    """Best-effort state of a draft, as the server shows it."""

    DRAFTED = "drafted"
    SENT = "sent"
    DISCARDED = "discarded"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DraftStatus:
    """``state`` of ``draft_id``; ``folder`` where it was found, ``reason`` when unknown."""

    account_id: AccountId
    draft_id: str
    state: DraftState
    folder: str | None = None
    reason: str | None = None
