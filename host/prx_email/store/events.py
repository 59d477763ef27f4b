"""The durable event log (issue 13, schema ``0010_events``): what changed in the store, in order.

Writers record an event in the same transaction as the change it describes, so a crash
never leaves a stored message without its event or an event without its change:

- ``new_mail``: :func:`record_new_mail` after a batch's inserts (one ``INSERT … SELECT`` per
  batch, never per row: the first sync's hot path);
- ``expunged`` / ``moved``: :func:`record_from_messages` right before the delete or re-key;
- ``flags_changed`` and ``outbox`` (status changes): SQL triggers of the migration, so no
  writer can forget them;
- ``bounce``: :func:`prx_email.store.bounces.record_bounces`, for the bounce messages of a
  batch (stored without new_mail), which also links them to their outbox rows.

Ids come from ``AUTOINCREMENT``: strictly increasing, never reused. Consumers read
``id > cursor`` (at-least-once: a consumer that stops before acknowledging reads the same
events again); named consumers keep their acknowledged cursor here (:meth:`EventLog.ack`).

Public API (other services use this, not the tables)::

    log = EventLog(db)
    log.read(after=0, limit=100, types=None, account_id=None) -> list[Event]
    log.wait(after, timeout=..., types=..., account_id=...) -> list[Event]  # long-poll
    log.last_id() -> int
    log.ack(name, event_id); log.cursor(name) -> int | None; log.consumers()
    log.prune(max_age_seconds=..., max_count=..., now=..., drop_unacked=False) -> int

:meth:`EventLog.wait` blocks the calling thread (never the event loop's) and notices
events committed by any connection, in this process or another, by polling
``PRAGMA data_version`` (a read of the WAL index header, no I/O) every ``poll`` seconds.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument
from ..types import EVENT_TYPES, Event, EventPage
from .db import Database

__all__ = [
    "EVENT_TYPES",
    "MAX_AFTER",
    "MAX_LIMIT",
    "MAX_WAIT_SECONDS",
    "Consumer",
    "Event",
    "EventLog",
    "EventPage",
    "messages_high_water",
    "record_from_messages",
    "record_new_mail",
]

#: Largest ``limit`` of one read.
MAX_LIMIT = 1000
#: Longest long-poll, in seconds (issue 13: up to 30 s).
MAX_WAIT_SECONDS = 30.0
#: Largest cursor (SQLite's INTEGER).
MAX_AFTER = (1 << 63) - 1
#: Seconds between two looks at ``PRAGMA data_version`` while waiting.
POLL_SECONDS = 0.02
_MAX_NAME = 64

# The root Message-ID of a message's conversation, as ``store.messages.thread_id`` computes
# it (first Reference, else In-Reply-To, else its own Message-ID); the flags trigger of
# 0010_events.sql spells the same expression with ``new.`` (a test checks all three agree).
THREAD_SQL = (
    "coalesce(nullif(substr(trim(m.refs), 1, instr(trim(m.refs) || ' ', ' ') - 1), ''),"
    " nullif(m.in_reply_to, ''), nullif(m.message_id, ''), '<local-' || m.id || '@prx-email>')"
)
_COLUMNS = (
    "type, account_id, folder, message_id, uid, rfc_message_id, thread_id, from_addr,"
    " subject, snippet, automated, detail, ts"
)
# {source}: ``messages m`` and, for per-row details, a json_each joined to it.
_FROM_MESSAGES = (
    f"INSERT INTO events ({_COLUMNS}) SELECT ?, m.account_id, m.folder, m.id, m.uid,"
    f" m.message_id, {THREAD_SQL}, m.from_addr, m.subject, m.snippet, m.automated,"
    " {detail}, ? FROM {source}"
)
_NEW_MAIL = (
    _FROM_MESSAGES.format(detail="NULL", source="messages m")
    + " WHERE m.id > ? AND m.uid IS NOT NULL ORDER BY m.id"
)
# The snippet of mail stored pending completion is filled in later on the message row.
_READ = (
    "SELECT e.id, e.type, e.account_id, e.folder, e.message_id, e.uid, e.rfc_message_id,"
    " e.thread_id, e.from_addr, e.subject,"
    " CASE WHEN e.snippet = '' AND e.message_id IS NOT NULL THEN coalesce((SELECT m.snippet"
    " FROM messages m WHERE m.id = e.message_id), '') ELSE e.snippet END,"
    " e.automated, e.detail, e.ts FROM events e WHERE e.id > ?"
)


@dataclass(frozen=True, slots=True)
class Consumer:
    """A named consumer and the last event id it acknowledged."""

    name: str
    acked: int
    updated_at: float


def _event(row: tuple[Any, ...]) -> Event:
    detail: dict[str, Any] = json.loads(row[12]) if row[12] else {}
    for key in ("flags", "previous"):
        # Flags are stored space-joined (as on messages): consumers get lists.
        if row[1] == "flags_changed" and isinstance(detail.get(key), str):
            detail[key] = detail[key].split()
    return Event(
        id=int(row[0]),
        type=row[1],
        account_id=int(row[2]),
        folder=row[3],
        message_id=row[4],
        uid=row[5],
        rfc_message_id=row[6],
        thread_id=row[7],
        from_=row[8] or "",
        subject=row[9] or "",
        snippet=row[10] or "",
        ts=float(row[13]),
        automated=row[11],
        detail=detail,
    )


# -- writers (inside the caller's transaction) ----------------------------------------------


def messages_high_water(tx: sqlite3.Connection) -> int:
    """The highest message key so far: pass it to :func:`record_new_mail` after inserting."""
    row = tx.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
    return int(row[0])


def record_new_mail(
    tx: sqlite3.Connection,
    after_key: int,
    *,
    skip_uids: Iterable[int] = (),
    now: float | None = None,
) -> int:
    """One ``new_mail`` event per synced row inserted after ``after_key``, in key order.

    Call in the transaction that inserted them, with :func:`messages_high_water` taken
    before the inserts (the write lock is held, so every newer key is this batch's).
    Imported rows (no UID) are not mail that arrived: no event; nor are ``skip_uids``
    (the account's filters said so). Returns events written.
    """
    ts = time.time() if now is None else now
    skip = sorted(set(skip_uids))
    if not skip:
        return int(tx.execute(_NEW_MAIL, ("new_mail", ts, after_key)).rowcount)
    sql = _NEW_MAIL.replace(
        " ORDER BY", " AND m.uid NOT IN (SELECT value FROM json_each(?)) ORDER BY"
    )
    return int(tx.execute(sql, ("new_mail", ts, after_key, json.dumps(skip))).rowcount)


def record_from_messages(
    tx: sqlite3.Connection,
    type_: str,
    where: str,
    params: Iterable[object],
    *,
    source: str = "messages m",
    detail_sql: str = "NULL",
    now: float | None = None,
) -> int:
    """Events of type ``type_`` for the message rows ``m`` matching ``where``.

    Call before the delete or update it describes, in the same transaction. ``source``:
    the FROM clause (``messages m``, maybe joined to a ``json_each`` whose parameters come
    first in ``params``); ``detail_sql``: an SQL ``json_object(…)`` over them. Returns
    events written.
    """
    assert type_ in EVENT_TYPES
    ts = time.time() if now is None else now
    sql = _FROM_MESSAGES.format(detail=detail_sql, source=source)
    sql += f" WHERE {where} ORDER BY m.id"
    return int(tx.execute(sql, (type_, ts, *params)).rowcount)


# -- readers and consumers -------------------------------------------------------------------


def check_read(after: int, limit: int, types: Iterable[str] | None) -> tuple[str, ...] | None:
    """Validate a read; the normalised type filter (None: every type).

    :raises InvalidArgument: a negative or too large cursor, a limit outside 1..MAX_LIMIT,
        an unknown type.
    """
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_AFTER:
        raise InvalidArgument(
            "after must be an event id (an integer ≥ 0)",
            hint="pass the id of the last event you processed, or 0 for the oldest kept",
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(
            f"limit must be between 1 and {MAX_LIMIT}", hint="read long logs page by page"
        )
    if types is None:
        return None
    wanted = tuple(dict.fromkeys(types))
    unknown = [t for t in wanted if t not in EVENT_TYPES]
    if unknown:
        raise InvalidArgument(
            f"unknown event type {unknown[0]!r}", hint=f"types are {', '.join(EVENT_TYPES)}"
        )
    return wanted or None


def check_wait(seconds: float) -> float:
    """:raises InvalidArgument: a negative, non-finite or over-long wait."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or not 0 <= seconds <= MAX_WAIT_SECONDS
    ):
        raise InvalidArgument(
            f"wait must be between 0 and {MAX_WAIT_SECONDS * 1000:g} ms",
            hint="long-poll again after an empty answer",
        )
    return float(seconds)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME or not name.isprintable():
        raise InvalidArgument(
            f"a consumer name is 1 to {_MAX_NAME} printable characters",
            hint="name the consumer after the agent or service that reads the events",
        )
    return name


class EventLog:
    """Reads, waits, consumer cursors and retention of the event log over a :class:`Database`."""

    def __init__(self, db: Database, *, poll: float = POLL_SECONDS) -> None:
        self.db = db
        self.poll = poll

    def read(
        self,
        after: int = 0,
        limit: int = 100,
        types: Iterable[str] | None = None,
        account_id: int | None = None,
    ) -> list[Event]:
        """Up to ``limit`` events with ids above ``after``, oldest first.

        :raises InvalidArgument: see :func:`check_read`.
        :raises StorageError:
        """
        wanted = check_read(after, limit, types)
        if after and after > self.last_id():
            raise InvalidArgument(
                f"after={after} is beyond the newest event ({self.last_id()})",
                hint="pass an id this store handed out (next_after of a page), or 0",
            )
        sql = _READ
        params: list[object] = [after]
        if account_id is not None:
            sql += " AND e.account_id = ?"
            params.append(int(account_id))
        if wanted is not None:
            sql += " AND e.type IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(wanted))
        sql += " ORDER BY e.id LIMIT ?"
        params.append(limit)
        with self.db.reading() as conn:
            cur = conn.cursor()
            cur.row_factory = None
            return [_event(r) for r in cur.execute(sql, params).fetchall()]

    def page(
        self,
        after: int = 0,
        *,
        limit: int = 100,
        types: Iterable[str] | None = None,
        account_id: int | None = None,
        wait: float = 0.0,
    ) -> EventPage:
        """:meth:`wait` (or :meth:`read` when ``wait`` is 0) as a page with its next cursor.

        :raises InvalidArgument: see :func:`check_read`, :func:`check_wait`.
        :raises StorageError:
        """
        if wait:
            events = self.wait(after, timeout=wait, limit=limit, types=types, account_id=account_id)
        else:
            check_wait(wait)
            events = self.read(after, limit, types, account_id)
        last = self.last_id()
        return EventPage(tuple(events), events[-1].id if events else after, last)

    def wait(
        self,
        after: int = 0,
        *,
        timeout: float,
        limit: int = 100,
        types: Iterable[str] | None = None,
        account_id: int | None = None,
        stop: Any = None,
    ) -> list[Event]:
        """:meth:`read`, waiting up to ``timeout`` seconds for a first matching event.

        Returns as soon as one is committed (by any process); ``[]`` when none came in
        time. ``stop``: an optional ``threading.Event`` that ends the wait early.

        :raises InvalidArgument: see :func:`check_read`, :func:`check_wait`.
        :raises StorageError:
        """
        seconds = check_wait(timeout)
        found = self.read(after, limit, types, account_id)
        deadline = time.monotonic() + seconds
        version = self._data_version()
        while not found:
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                break
            time.sleep(min(self.poll, left))
            now_version = self._data_version()
            if now_version != version:
                version = now_version
                found = self.read(after, limit, types, account_id)
        return found

    def _data_version(self) -> int:
        # Changes when any other connection commits; this thread's own commits do not move
        # it, but this thread is the one waiting, so it writes nothing meanwhile.
        with self.db.reading() as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def last_id(self) -> int:
        """The id of the newest event ever written (0: none), even if retention removed it.

        :raises StorageError:
        """
        with self.db.reading() as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 0 if row is None else int(row[0])

    def ack(self, name: str, event_id: int) -> int:
        """Record that consumer ``name`` processed every event up to ``event_id``.

        The cursor never moves backwards; returns the stored cursor.

        :raises InvalidArgument: a bad name or id. :raises StorageError:
        """
        _check_name(name)
        check_read(event_id, 1, None)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO event_consumers (name, acked, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET acked = max(acked, excluded.acked),"
                " updated_at = excluded.updated_at",
                (name, event_id, time.time()),
            )
            row = tx.execute("SELECT acked FROM event_consumers WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def cursor(self, name: str) -> int | None:
        """The last event id consumer ``name`` acknowledged; None: an unknown consumer.

        :raises InvalidArgument: a bad name. :raises StorageError:
        """
        _check_name(name)
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT acked FROM event_consumers WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else int(row[0])

    def register(self, name: str, *, at: int | None = None) -> int:
        """Make ``name`` a registered consumer (at ``at``, default the newest event) unless
        it is one already; returns its cursor. Retention keeps what it has not acknowledged.

        :raises InvalidArgument: a bad name. :raises StorageError:
        """
        _check_name(name)
        start = self.last_id() if at is None else at
        check_read(start, 1, None)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO event_consumers (name, acked, updated_at) VALUES (?, ?, ?)",
                (name, start, time.time()),
            )
            row = tx.execute("SELECT acked FROM event_consumers WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def forget(self, name: str) -> bool:
        """Unregister consumer ``name``; whether it existed. :raises StorageError:"""
        _check_name(name)
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM event_consumers WHERE name = ?", (name,)).rowcount > 0

    def consumers(self) -> list[Consumer]:
        """Every registered consumer, by name. :raises StorageError:"""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT name, acked, updated_at FROM event_consumers ORDER BY name"
            ).fetchall()
        return [Consumer(r[0], int(r[1]), float(r[2])) for r in rows]

    def prune(
        self,
        *,
        max_age_seconds: float | None,
        max_count: int | None,
        now: float | None = None,
        drop_unacked: bool = False,
    ) -> int:
        """Delete events older than ``max_age_seconds`` and beyond the newest ``max_count``.

        Events some registered consumer has not acknowledged are kept unless
        ``drop_unacked`` (the operator's ``events.prune_unacked``). Returns events deleted.

        :raises StorageError:
        """
        if max_age_seconds is None and max_count is None:
            return 0
        clock = time.time() if now is None else now
        deleted = 0
        with self.db.transaction() as tx:
            keep_from = None
            if not drop_unacked:
                row = tx.execute("SELECT min(acked) FROM event_consumers").fetchone()
                keep_from = None if row[0] is None else int(row[0])
            guard = "" if keep_from is None else f" AND id <= {keep_from}"
            if max_age_seconds is not None:
                # ts grows with id (no index on ts): the first young event ends the old run,
                # found by walking from the oldest, which touches only what goes anyway.
                row = tx.execute(
                    "SELECT id FROM events WHERE ts >= ? ORDER BY id LIMIT 1",
                    (clock - max_age_seconds,),
                ).fetchone()
                below = "" if row is None else f" AND id < {int(row[0])}"
                deleted += tx.execute(f"DELETE FROM events WHERE 1{below}{guard}").rowcount
            if max_count is not None:
                # Ids are contiguous but for what retention removed: the newest max_count
                # are those above last_id - max_count (an index seek, not a count).
                row = tx.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
                if row is not None and int(row[0]) > max_count:
                    deleted += tx.execute(
                        f"DELETE FROM events WHERE id <= ?{guard}", (int(row[0]) - max_count,)
                    ).rowcount
        return deleted
