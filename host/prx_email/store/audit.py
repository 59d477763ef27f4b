"""SQL of the tamper-evident audit log (migration 0012): append, read and verify the chain.

Each entry stores the previous entry's hash and its own::

    hash = sha256(prev_hash + canonical_json({id, ts, entry_point, tool, account_id,
                                              args, outcome, run_id}))

with ``GENESIS`` as the first entry's ``prev_hash``. The id is part of what is hashed, so
an edited, deleted or reordered row breaks the chain at that row or the next one.
:meth:`AuditRepo.append` reads the last hash and inserts in one ``BEGIN IMMEDIATE``
transaction: SQLite serialises writers, so two processes appending at once keep one chain.
Deleting only the newest rows leaves a valid shorter chain (an export kept elsewhere is the
defence against truncation). No policy and no digesting here: ``services.audit`` does that.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .db import Database

GENESIS: Final = "0" * 64
_COLUMNS = "id, ts, entry_point, tool, account_id, args, outcome, run_id, prev_hash, hash"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored audit entry; ``args`` is the decoded argument digest."""

    id: int
    ts: float
    entry_point: str
    tool: str
    account_id: int | None
    args: dict[str, Any]
    outcome: str
    run_id: str | None
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "entry_point": self.entry_point,
            "tool": self.tool,
            "account_id": self.account_id,
            "args": self.args,
            "outcome": self.outcome,
            "run_id": self.run_id,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """The result of a walk over the chain: ``bad_id`` is the first entry that fails."""

    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str = ""


def canonical(value: object) -> str:
    """The one JSON spelling hashed and stored: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical(fields))`` as hex; ``fields`` without the hashes."""
    return hashlib.sha256((prev_hash + canonical(dict(fields))).encode("utf-8")).hexdigest()


def _fields(row: sqlite3.Row | tuple[Any, ...], args: object) -> dict[str, Any]:
    return {
        "id": int(row[0]),
        "ts": float(row[1]),
        "entry_point": row[2],
        "tool": row[3],
        "account_id": None if row[4] is None else int(row[4]),
        "args": args,
        "outcome": row[6],
        "run_id": row[7],
    }


def _entry(row: sqlite3.Row | tuple[Any, ...]) -> AuditEntry:
    try:
        args = json.loads(row[5])
    except ValueError:
        args = {"unreadable": str(row[5])[:200]}
    if not isinstance(args, dict):
        args = {"value": args}
    f = _fields(row, args)
    return AuditEntry(**f, prev_hash=str(row[8]), hash=str(row[9]))


class AuditRepo:
    """The ``audit_log`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(
        self,
        *,
        ts: float,
        entry_point: str,
        tool: str,
        account_id: int | None,
        args: Mapping[str, Any],
        outcome: str,
        run_id: str | None,
    ) -> AuditEntry:
        """Append one entry at the end of the chain; returns it as stored.

        :raises StorageError: the store failed (nothing appended).
        """
        # Round-tripped through JSON first: what is hashed is exactly what a reader decodes.
        args_text = canonical(dict(args))
        decoded = json.loads(args_text)
        with self.db.transaction() as tx:
            last = tx.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            prev_id, prev_hash = (0, GENESIS) if last is None else (int(last[0]), str(last[1]))
            row = (
                prev_id + 1,
                float(ts),
                entry_point,
                tool,
                account_id,
                args_text,
                outcome,
                run_id,
            )
            digest = entry_hash(prev_hash, _fields(row, decoded))
            tx.execute(
                f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, prev_hash, digest),
            )
        return _entry((*row, prev_hash, digest))

    def recent(self, limit: int = 50) -> list[AuditEntry]:
        """The newest ``limit`` entries, oldest first."""
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT ?", (max(0, limit),)
            ).fetchall()
        return [_entry(r) for r in reversed(rows)]

    def iter_all(self, batch: int = 500) -> Iterator[AuditEntry]:
        """Every entry in chain order, read in batches (the log may be long)."""
        after = -1
        while True:
            with self.db.reading() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
                    (after, batch),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            after = int(rows[-1][0])

    def verify(self) -> ChainStatus:
        """Walk the chain from the first entry; name the first one that does not hold."""
        expected_prev, expected_id, checked = GENESIS, 1, 0
        for e in self.iter_all():
            if e.id != expected_id:
                return ChainStatus(False, checked, e.id, f"entry {expected_id} is missing")
            if e.prev_hash != expected_prev:
                return ChainStatus(
                    False,
                    checked,
                    e.id,
                    "its prev_hash is not the previous entry's hash"
                    " (an entry before it was deleted, edited or moved)",
                )
            fields = {k: v for k, v in e.to_json().items() if k not in ("prev_hash", "hash")}
            if entry_hash(e.prev_hash, fields) != e.hash:
                return ChainStatus(False, checked, e.id, "its content does not match its hash")
            expected_prev, expected_id, checked = e.hash, e.id + 1, checked + 1
        return ChainStatus(True, checked)
