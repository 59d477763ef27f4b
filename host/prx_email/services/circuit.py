"""Per-account SMTP circuit breaker, kept in SQLite so every process draining the store shares it.

- **closed**: fewer than ``threshold`` consecutive connection-level failures.
- **open**: ``threshold`` reached; until ``open_until`` every send fails fast with
  :class:`~prx_email.errors.CircuitOpen` (nothing is queued) and drains skip the account.
  The cooldown doubles with each further failure, up to ``max_cooldown``.
- **half-open**: the cooldown passed; exactly one caller wins the probe (a conditional update
  pushes ``open_until`` forward by ``probe_seconds``). Success closes the circuit, failure
  re-opens it.

Only failures that say something about the server count (connect, TLS, timeout, AUTH, 4xx);
a 5xx for one message's content or recipients does not. The count is of CONSECUTIVE
failures: every delivery the server accepted must be reported with :meth:`success`, which
resets it (a read, and a write only when there is something to reset). The SQL is
``store/circuit.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import CircuitOpen
from ..store.circuit import CircuitRepo, CircuitState
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
        self._repo = CircuitRepo(db)
        self.settings = settings or CircuitSettings()
        self.per_account = dict(per_account or {})

    def settings_for(self, account_id: int) -> CircuitSettings:
        return self.per_account.get(account_id, self.settings)

    def open_until(self, account_id: int, now: float) -> float | None:
        """When the circuit is open now, the time it lets a probe through; else None."""
        row = self._repo.get(account_id)
        if row is None or row.failures < self.settings_for(account_id).threshold:
            return None
        until = row.open_until
        return until if until is not None and until > now else None

    def acquire(self, account_id: int, now: float) -> int:
        """Permission to talk to the server; returns the current failure count.

        :raises CircuitOpen: open, or half-open with another caller already probing.
        """
        s = self.settings_for(account_id)
        row = self._repo.get(account_id)
        if row is None or row.failures < s.threshold:
            return row.failures if row is not None else 0
        until = row.open_until
        if until is None or until <= now:
            if self._repo.claim_probe(account_id, now=now, until=now + s.probe_seconds):
                return row.failures
            until = now + s.probe_seconds
        raise self._open_error(account_id, row.failures, until, now, row)

    def _open_error(
        self, account_id: int, failures: int, until: float, now: float, row: CircuitState
    ) -> CircuitOpen:
        last = row.last_error or "unknown error"
        wait = max(0, int(until - now + 0.999))
        return CircuitOpen(
            f"SMTP for account {account_id} is paused after {failures} consecutive failures"
            f" (last: {last})",
            hint=f"sending resumes after {_iso(until)} (in {wait}s); nothing was queued by"
            " this call. Check the server settings with `prx-email outbox list --status failed`",
        )

    def success(self, account_id: int, now: float) -> None:
        """The server accepted a message: the consecutive count starts again from 0.

        :raises StorageError:
        """
        if self._repo.get(account_id) is not None:
            self._repo.clear(account_id)

    def failure(self, account_id: int, now: float, error: str) -> int:
        """Count one server-level failure; returns the new consecutive count.

        :raises StorageError:
        """
        s = self.settings_for(account_id)

        def open_for(failures: int) -> float | None:
            if failures < s.threshold:
                return None
            return float(
                min(s.cooldown_seconds * 2 ** (failures - s.threshold), s.max_cooldown_seconds)
            )

        return self._repo.add_failure(account_id, now=now, error=error[:300], open_for=open_for)
