"""SQL for the per-account SMTP circuit breaker (table ``smtp_circuit``); no policy here.

The policy (threshold, cooldowns, half-open probe) is ``services/circuit.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .db import Database

__all__ = ["CircuitRepo", "CircuitState"]


class CircuitState(NamedTuple):
    """One account's stored breaker state (no row: closed, no failures)."""

    failures: int
    open_until: float | None
    last_error: str | None


class CircuitRepo:
    """Reads and writes ``smtp_circuit`` rows; every sqlite failure is a ``StorageError``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, account_id: int) -> CircuitState | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT failures, open_until, last_error FROM smtp_circuit WHERE account_id = ?",
                (account_id,),
            ).fetchone()
        if row is None:
            return None
        until = row[1]
        return CircuitState(int(row[0]), None if until is None else float(until), row[2])

    def claim_probe(self, account_id: int, *, now: float, until: float) -> bool:
        """Move ``open_until`` to ``until`` if it has passed; True for the one caller that did."""
        with self.db.transaction() as tx:
            won = tx.execute(
                "UPDATE smtp_circuit SET open_until = ?, updated_at = ?"
                " WHERE account_id = ? AND (open_until IS NULL OR open_until <= ?)",
                (until, now, account_id, now),
            ).rowcount
        return bool(won)

    def clear(self, account_id: int) -> None:
        """Forget the account's failures (the circuit closes)."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM smtp_circuit WHERE account_id = ?", (account_id,))

    def add_failure(
        self, account_id: int, *, now: float, error: str, open_for: Callable[[int], float | None]
    ) -> int:
        """Count one more consecutive failure; returns the new count.

        ``open_for(failures)`` is the cooldown to open the circuit for at that count (None:
        stay closed), applied in the same transaction as the count.
        """
        with self.db.transaction() as tx:
            row = tx.execute(
                "INSERT INTO smtp_circuit (account_id, failures, last_error, updated_at)"
                " VALUES (?, 1, ?, ?) ON CONFLICT (account_id) DO UPDATE SET"
                " failures = failures + 1, last_error = excluded.last_error,"
                " updated_at = excluded.updated_at RETURNING failures",
                (account_id, error, now),
            ).fetchone()
            failures = int(row[0])
            cooldown = open_for(failures)
            if cooldown is not None:
                tx.execute(
                    "UPDATE smtp_circuit SET open_until = ? WHERE account_id = ?",
                    (now + cooldown, account_id),
                )
        return failures
