"""Per-(account, folder) sync cursors and scheduler backoff rows (schema ``0002_sync``).

Functions take an open connection so callers put cursor moves in the same transaction as
the message writes they describe (the store's writers take that connection as ``conn``).
Writes belong inside ``Database.transaction`` (which maps sqlite errors); the reads map
their own, so they may also run on ``Database.connect()``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from .db import Database
from .errors import map_sqlite_errors
from .events import record_from_messages
from .messages import MessageStore, StoreItem, SummaryItem

__all__ = [
    "FolderState",
    "JobState",
    "SyncStateRepo",
    "delete_state",
    "get_job",
    "get_state",
    "put_job",
    "put_state",
    "set_last_uid",
    "store_batch",
    "store_summaries",
]


@dataclass(frozen=True, slots=True)
class FolderState:
    """The sync cursor of one (account, folder): UIDVALIDITY, last stored UID, server marks."""

    account_id: int
    folder: str
    uidvalidity: int
    last_uid: int = 0
    uidnext: int | None = None
    highestmodseq: int | None = None
    last_sync_at: int | None = None


@dataclass(frozen=True, slots=True)
class JobState:
    """The scheduler's backoff row of one (account, folder)."""

    account_id: int
    folder: str
    failures: int = 0
    next_due: float = 0.0
    last_error: str | None = None
    last_run_at: float | None = None


def get_state(conn: sqlite3.Connection, account_id: int, folder: str) -> FolderState | None:
    """:raises StorageError:"""
    with map_sqlite_errors(conn):
        row = conn.execute(
            "SELECT uidvalidity, last_uid, uidnext, highestmodseq, last_sync_at FROM sync_state"
            " WHERE account_id = ? AND folder = ?",
            (account_id, folder),
        ).fetchone()
    if row is None:
        return None
    return FolderState(account_id, folder, row[0], row[1], row[2], row[3], row[4])


def put_state(conn: sqlite3.Connection, state: FolderState) -> None:
    conn.execute(
        "INSERT INTO sync_state (account_id, folder, uidvalidity, last_uid, uidnext,"
        " highestmodseq, last_sync_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (account_id, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
        " last_uid = excluded.last_uid, uidnext = excluded.uidnext,"
        " highestmodseq = excluded.highestmodseq, last_sync_at = excluded.last_sync_at",
        (
            state.account_id,
            state.folder,
            state.uidvalidity,
            state.last_uid,
            state.uidnext,
            state.highestmodseq,
            state.last_sync_at,
        ),
    )


def set_last_uid(conn: sqlite3.Connection, account_id: int, folder: str, last_uid: int) -> None:
    """Advance the cursor (never backwards) — call inside the transaction that stored it."""
    conn.execute(
        "UPDATE sync_state SET last_uid = max(last_uid, ?) WHERE account_id = ? AND folder = ?",
        (last_uid, account_id, folder),
    )


def delete_state(conn: sqlite3.Connection, account_id: int, folder: str) -> None:
    conn.execute("DELETE FROM sync_state WHERE account_id = ? AND folder = ?", (account_id, folder))


def get_job(conn: sqlite3.Connection, account_id: int, folder: str) -> JobState:
    """:raises StorageError:"""
    with map_sqlite_errors(conn):
        row = conn.execute(
            "SELECT failures, next_due, last_error, last_run_at FROM sync_jobs"
            " WHERE account_id = ? AND folder = ?",
            (account_id, folder),
        ).fetchone()
    if row is None:
        return JobState(account_id, folder)
    return JobState(account_id, folder, row[0], row[1], row[2], row[3])


def put_job(conn: sqlite3.Connection, job: JobState) -> None:
    conn.execute(
        "INSERT INTO sync_jobs (account_id, folder, failures, next_due, last_error, last_run_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, folder) DO UPDATE SET"
        " failures = excluded.failures, next_due = excluded.next_due,"
        " last_error = excluded.last_error, last_run_at = excluded.last_run_at",
        (job.account_id, job.folder, job.failures, job.next_due, job.last_error, job.last_run_at),
    )


def store_batch(
    conn: sqlite3.Connection,
    store: MessageStore,
    account_id: int,
    folder: str,
    uidvalidity: int,
    items: list[StoreItem],
    last_uid: int,
) -> int:
    """Upsert a fetched batch and advance the cursor in the caller's transaction ``conn``."""
    changed = 0
    if items:
        changed = store.upsert_many(account_id, folder, uidvalidity, items, conn=conn)
    set_last_uid(conn, account_id, folder, last_uid)
    return changed


def store_summaries(
    conn: sqlite3.Connection,
    store: MessageStore,
    account_id: int,
    folder: str,
    uidvalidity: int,
    items: list[SummaryItem],
    last_uid: int,
) -> int:
    """Store a fetched batch as pending summaries and advance the cursor, in ``conn``."""
    changed = 0
    if items:
        changed = store.upsert_summaries(account_id, folder, uidvalidity, items, conn=conn)
    set_last_uid(conn, account_id, folder, last_uid)
    return changed


class SyncStateRepo:
    """The same operations over a :class:`Database`, each its own transaction, errors mapped:
    the typed seam for services (no connection in their hands)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._messages = MessageStore(db)

    def state(self, account_id: int, folder: str) -> FolderState | None:
        """:raises StorageError:"""
        return get_state(self.db.connect(), account_id, folder)

    def reset_folder(self, account_id: int, folder: str) -> None:
        """A UIDVALIDITY change: forget the folder's synced messages and its cursor, together.

        Every UID the store held for the folder is void, so each row gets an ``expunged``
        event (detail ``{"reason": "uidvalidity_reset"}``) before it goes, in the same
        transaction: the sync that follows stores the folder afresh with ``new_mail`` events,
        and a consumer sees the reset as it happened rather than the same mail arriving twice.
        Imported rows (no UID) are not the server's and stay.
        """
        with self.db.transaction() as tx:
            _void_uids(tx, "m.account_id = ? AND m.folder = ?", (account_id, folder))
            delete_state(tx, account_id, folder)

    def start_folder(self, state: FolderState) -> None:
        """A folder's first cursor: rows of it under another UIDVALIDITY (a lost cursor) are
        stale and go, in the same transaction."""
        with self.db.transaction() as tx:
            _void_uids(
                tx,
                "m.account_id = ? AND m.folder = ? AND m.uidvalidity != ?",
                (state.account_id, state.folder, state.uidvalidity),
            )
            put_state(tx, state)

    def finish_folder(
        self,
        account_id: int,
        folder: str,
        *,
        uidvalidity: int,
        uidnext: int | None,
        highestmodseq: int | None,
        last_sync_at: int | None,
    ) -> None:
        """Record the server marks of a completed pass; the stored ``last_uid`` is kept."""
        with self.db.transaction() as tx:
            cur = get_state(tx, account_id, folder)
            last_uid = 0 if cur is None else cur.last_uid
            put_state(
                tx,
                FolderState(
                    account_id, folder, uidvalidity, last_uid, uidnext, highestmodseq, last_sync_at
                ),
            )

    def store_summaries(
        self,
        account_id: int,
        folder: str,
        uidvalidity: int,
        items: list[SummaryItem],
        last_uid: int,
    ) -> int:
        """Store a fetched batch as pending summaries and move the cursor, in one transaction."""
        with self.db.transaction() as tx:
            return store_summaries(
                tx, self._messages, account_id, folder, uidvalidity, items, last_uid
            )

    def jobs(self, keys: Iterable[tuple[int, str]]) -> list[JobState]:
        """The scheduler rows of these (account, folder) jobs (defaults for unknown ones)."""
        conn = self.db.connect()
        return [get_job(conn, account_id, folder) for account_id, folder in keys]

    def save_jobs(self, jobs: Iterable[JobState]) -> None:
        with self.db.transaction() as tx:
            for job in jobs:
                put_job(tx, job)


def _void_uids(tx: sqlite3.Connection, where: str, params: tuple[object, ...]) -> None:
    """Drop the synced rows ``where`` selects, each with its ``expunged`` event (reason
    ``uidvalidity_reset``) in the same transaction. Imported rows (no UID) stay."""
    where += " AND m.uid IS NOT NULL"
    record_from_messages(
        tx, "expunged", where, params, detail_sql="json_object('reason', 'uidvalidity_reset')"
    )
    tx.execute(f"DELETE FROM messages AS m WHERE {where}", params)
