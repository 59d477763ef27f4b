"""The outbox: queued sends and their lifecycle."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import AccountId, OutboxId, Timestamp


class OutboxStatus(enum.StrEnum):
    """Lifecycle of an outbox row."""

    PENDING = "pending"
    #: Waits until its ``send_at`` (email.send … with send_at); then due like ``pending``.
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    #: DATA started, outcome unknown: held by the account's policy until email.retry releases it.
    HELD = "held"
    #: Cancelled by email.cancel before any attempt reached the server; never delivered.
    CANCELLED = "cancelled"
    #: First contact held by the account's ``first_contact = "approve"`` policy until an
    #: operator approves it (``prx-email approve ID --hash H``); never claimed meanwhile.
    AWAITING_APPROVAL = "awaiting_approval"
    #: Refused by an operator (``prx-email reject ID``); never delivered.
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class OutboxBounce:
    """A bounce received for one recipient of a sent row (issue 13, ``mail.bounce``)."""

    recipient: str
    #: RFC 3463 status code (``5.1.1``), None when the bounce gives none.
    status: str | None
    #: ``failed`` or ``delayed`` (RFC 3464 Action).
    action: str
    #: ``permanent`` (5.x.x), ``transient`` (4.x.x) or ``unknown``.
    kind: str
    reason: str
    #: When the bounce was stored.
    at: Timestamp


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
    #: The time the caller asked it to be sent at (scheduled send); None: at once.
    send_at: Timestamp | None = None
    #: Bounces received for its recipients, oldest first (the status stays as it is).
    bounces: tuple[OutboxBounce, ...] = ()


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
