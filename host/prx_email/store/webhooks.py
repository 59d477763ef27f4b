"""Dead-lettered webhook deliveries (issue 13, schema ``0013_webhook_dead_letters``).

A webhook's cursor is a named consumer of the event log (``webhook:<name>``,
:class:`~prx_email.store.events.EventLog`); this module holds only what fell out of it: an
event that failed ``max_attempts`` times, with the body as it was sent, so that a replay
works after retention pruned the event.

Public API::

    dl = DeadLetters(db)
    dl.add(webhook, event, body=..., attempts=..., error=...) -> int   # idempotent
    dl.list(webhook=None, include_replayed=False, limit=100) -> list[DeadLetter]
    dl.count(webhook=...) -> int
    dl.get(id) -> DeadLetter            # raises NotFound
    dl.mark_replayed(id)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import NotFound
from ..types import Event
from .db import Database

__all__ = ["DeadLetter", "DeadLetters"]

_COLUMNS = (
    "id, webhook, event_id, account_id, event_type, body, attempts, last_error,"
    " created_at, replayed_at"
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One event a webhook gave up on."""

    id: int
    webhook: str
    event_id: int
    account_id: int
    event_type: str
    body: str
    attempts: int
    last_error: str
    created_at: float
    replayed_at: float | None

    def to_json(self) -> dict[str, Any]:
        """What ``prx-email webhooks dead --json`` prints (the body stays out: it can be big)."""
        return {
            "id": self.id,
            "webhook": self.webhook,
            "event_id": self.event_id,
            "account_id": self.account_id,
            "event_type": self.event_type,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "created_at": round(self.created_at, 3),
            "replayed_at": None if self.replayed_at is None else round(self.replayed_at, 3),
        }


def _row(r: Any) -> DeadLetter:
    return DeadLetter(
        id=int(r[0]),
        webhook=r[1],
        event_id=int(r[2]),
        account_id=int(r[3]),
        event_type=r[4],
        body=r[5],
        attempts=int(r[6]),
        last_error=r[7],
        created_at=float(r[8]),
        replayed_at=None if r[9] is None else float(r[9]),
    )


class DeadLetters:
    """The dead-letter table over a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        webhook: str,
        event: Event,
        *,
        body: str,
        attempts: int,
        error: str,
        now: float | None = None,
    ) -> int:
        """Dead-letter ``event`` for ``webhook``; the row's id (the existing one when a crash
        before the acknowledgement made delivery give up on it twice).

        :raises StorageError:
        """
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO webhook_dead_letters (webhook, event_id, account_id, event_type,"
                " body, attempts, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (webhook, event_id) DO UPDATE SET attempts = excluded.attempts,"
                " last_error = excluded.last_error, replayed_at = NULL",
                (
                    webhook,
                    event.id,
                    event.account_id,
                    event.type,
                    body,
                    attempts,
                    error,
                    time.time() if now is None else now,
                ),
            )
            row = tx.execute(
                "SELECT id FROM webhook_dead_letters WHERE webhook = ? AND event_id = ?",
                (webhook, event.id),
            ).fetchone()
        return int(row[0])

    def list(
        self, *, webhook: str | None = None, include_replayed: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead letters oldest first. :raises StorageError:"""
        sql = f"SELECT {_COLUMNS} FROM webhook_dead_letters WHERE 1"
        params: list[object] = []
        if webhook is not None:
            sql += " AND webhook = ?"
            params.append(webhook)
        if not include_replayed:
            sql += " AND replayed_at IS NULL"
        sql += " ORDER BY id LIMIT ?"
        params.append(max(1, int(limit)))
        with self.db.reading() as conn:
            return [_row(r) for r in conn.execute(sql, params).fetchall()]

    def count(self, *, webhook: str) -> int:
        """Dead letters of ``webhook`` not replayed yet. :raises StorageError:"""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT count(*) FROM webhook_dead_letters WHERE webhook = ?"
                " AND replayed_at IS NULL",
                (webhook,),
            ).fetchone()
        return int(row[0])

    def get(self, dead_id: int) -> DeadLetter:
        """:raises NotFound: no such dead letter. :raises StorageError:"""
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_dead_letters WHERE id = ?", (dead_id,)
            ).fetchone()
        if row is None:
            raise NotFound(
                f"no dead letter with id {dead_id}",
                hint="see `prx-email webhooks dead` for the ids",
            )
        return _row(row)

    def mark_replayed(self, dead_id: int, *, now: float | None = None) -> None:
        """Record that a replay of ``dead_id`` was accepted. :raises StorageError:"""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE webhook_dead_letters SET replayed_at = ? WHERE id = ?",
                (time.time() if now is None else now, dead_id),
            )
