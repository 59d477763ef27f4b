"""Per-account SMTP circuit breaker, kept in SQLite so every process draining the store shares it.

- **closed**: fewer than ``threshold`` consecutive connection-level failures.
- **open**: ``threshold`` reached; until ``open_until`` every send fails fast with
  :class:`~prx_email.errors.CircuitOpen` (nothing is queued) and drains skip the account.
  The cooldown doubles with each further failure, up to ``max_cooldown``.
- **half-open**: the cooldown passed; exactly one caller wins the probe (a conditional update
  pushes ``open_until`` forward by ``probe_seconds``). Success closes the circuit, failure
  re-opens it.

Only failures that say something about the server count (connect, TLS, timeout, AUTH, 4xx);
a 5xx for one message's content or recipients does not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import CircuitOpen, StorageError
from ..store.db import Database


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    threshold: int = 5
    cooldown_seconds: float = 60.0
    max_cooldown_seconds: float = 900.0
    probe_seconds: float = 120.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CircuitBreaker:
    """``settings`` applies to every account not in ``per_account``."""

    def __init__(
        self,
        db: Database,
        settings: CircuitSettings | None = None,
        *,
        per_account: Mapping[int, CircuitSettings] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or CircuitSettings()
        self.per_account = dict(per_account or {})

    def settings_for(self, account_id: int) -> CircuitSettings:
        return self.per_account.get(account_id, self.settings)

    def _row(self, account_id: int) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = (
                self.db.connect()
                .execute(
                    "SELECT failures, open_until, last_error FROM smtp_circuit"
                    " WHERE account_id = ?",
                    (account_id,),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StorageError(f"circuit state unreadable: {exc}") from exc
        return row

    def open_until(self, account_id: int, now: float) -> float | None:
        """When the circuit is open now, the time it lets a probe through; else None."""
        row = self._row(account_id)
        if row is None or row["failures"] < self.settings_for(account_id).threshold:
            return None
        until = row["open_until"]
        return float(until) if until is not None and until > now else None

    def acquire(self, account_id: int, now: float) -> int:
        """Permission to talk to the server; returns the current failure count.

        :raises CircuitOpen: open, or half-open with another caller already probing.
        """
        s = self.settings_for(account_id)
        row = self._row(account_id)
        if row is None or row["failures"] < s.threshold:
            return int(row["failures"]) if row is not None else 0
        until = row["open_until"]
        if until is None or until <= now:
            try:
                with self.db.transaction() as tx:
                    won = tx.execute(
                        "UPDATE smtp_circuit SET open_until = ?, updated_at = ?"
                        " WHERE account_id = ? AND (open_until IS NULL OR open_until <= ?)",
                        (now + s.probe_seconds, now, account_id, now),
                    ).rowcount
            except sqlite3.Error as exc:
                raise StorageError(f"circuit state unwritable: {exc}") from exc
            if won:
                return int(row["failures"])
            until = now + s.probe_seconds
        raise self._open_error(account_id, int(row["failures"]), float(until), now, row)

    def _open_error(
        self, account_id: int, failures: int, until: float, now: float, row: sqlite3.Row
    ) -> CircuitOpen:
        last = row["last_error"] or "unknown error"
        wait = max(0, int(until - now + 0.999))
        return CircuitOpen(
            f"SMTP for account {account_id} is paused after {failures} consecutive failures"
            f" (last: {last})",
            hint=f"sending resumes after {_iso(until)} (in {wait}s); nothing was queued by"
            " this call. Check the server settings with `prx-email outbox list --status failed`",
        )

    def success(self, account_id: int, now: float) -> None:
        try:
            with self.db.transaction() as tx:
                tx.execute("DELETE FROM smtp_circuit WHERE account_id = ?", (account_id,))
        except sqlite3.Error as exc:
            raise StorageError(f"circuit state unwritable: {exc}") from exc

    def failure(self, account_id: int, now: float, error: str) -> int:
        """Count one server-level failure; returns the new consecutive count."""
        s = self.settings_for(account_id)
        try:
            with self.db.transaction() as tx:
                row = tx.execute(
                    "INSERT INTO smtp_circuit (account_id, failures, last_error, updated_at)"
                    " VALUES (?, 1, ?, ?) ON CONFLICT (account_id) DO UPDATE SET"
                    " failures = failures + 1, last_error = excluded.last_error,"
                    " updated_at = excluded.updated_at RETURNING failures",
                    (account_id, error[:300], now),
                ).fetchone()
                failures = int(row[0])
                if failures >= s.threshold:
                    cooldown = min(
                        s.cooldown_seconds * 2 ** (failures - s.threshold), s.max_cooldown_seconds
                    )
                    tx.execute(
                        "UPDATE smtp_circuit SET open_until = ? WHERE account_id = ?",
                        (now + cooldown, account_id),
                    )
        except sqlite3.Error as exc:
            raise StorageError(f"circuit state unwritable: {exc}") from exc
        return failures
