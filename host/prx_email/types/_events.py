"""The durable event log (issue 13): one event, a page of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import AccountId

#: Every event type, in the order the docs list them.
EVENT_TYPES = ("new_mail", "flags_changed", "expunged", "moved", "outbox", "bounce")


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event; ``detail`` holds the type-specific fields (flags, outbox status…)."""

    id: int
    type: str
    account_id: AccountId
    folder: str | None
    message_id: int | None
    uid: int | None
    rfc_message_id: str | None
    thread_id: str | None
    from_: str
    subject: str
    snippet: str
    ts: float
    automated: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The payload consumers see (issue 13's field names; ``from`` not ``from_``)."""
        return {
            "id": self.id,
            "type": self.type,
            "account_id": self.account_id,
            "folder": self.folder,
            "message_id": self.message_id,
            "uid": self.uid,
            "rfc_message_id": self.rfc_message_id,
            "thread_id": self.thread_id,
            "from": self.from_,
            "subject": self.subject,
            "snippet": self.snippet,
            "ts": round(self.ts, 3),
            "ts_iso": datetime.fromtimestamp(int(self.ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "automated": self.automated is not None,
            "automated_reason": self.automated,
            **dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events oldest first; ``next_after`` is the cursor of the next read (``after`` if empty)."""

    events: tuple[Event, ...]
    next_after: int
    last_id: int
