"""The outbox: queued sends and their lifecycle."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import AccountId, OutboxId, Timestamp


class OutboxStatus(enum.StrEnum):
    """Lifecycle of an outbox row."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox row."""

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
    """Outbox listing request."""

    account_id: AccountId | None = None
    status: OutboxStatus | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxPage:
    """A page of outbox rows, newest first."""

    entries: tuple[OutboxEntry, ...]
    next_cursor: str | None
