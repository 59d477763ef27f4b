"""Outbox repository: the durable queue behind ``email.send``/``reply``/``retry``.

Every state change that matters for exactly-once delivery is one conditional statement:

- **claim** moves due ``pending``/``failed``/``scheduled`` rows to ``sending`` with a fresh
  claim token and a lease, in one
  ``UPDATE … WHERE status IN (…) AND next_attempt_at <= now RETURNING …``;
- **mark_data** (right before SMTP ``DATA``) and **finalize** only succeed while the caller
  still holds that token, so a worker whose lease was taken over can never finalize.
- ``attempts`` counts only attempts that reached the server: a claim hands out the number
  ``attempts + 1`` without storing it; ``mark_data`` and a counted ``finalize`` store it. A
  lease that expires before DATA therefore costs nothing.

- A ``scheduled`` row is due at its ``send_at`` (stored as its ``next_attempt_at`` too, so
  the claim needs no special case); **cancel** is one conditional ``UPDATE`` that only
  succeeds while no attempt has reached the server.

- An ``awaiting_approval`` row (first-contact approval, ``store.approvals``) is never
  claimed: only an approval makes it ``pending``; it can be cancelled or ``rejected``.

The schema is ``schema/0003_outbox.sql`` (+ ``0005_outbox_deferred.sql``,
``0007_outbox_held.sql``, ``0008_outbox_scheduled.sql``, ``0014_outbox_approval.sql``).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import InvalidArgument
from ..types import OutboxBounce, OutboxEntry, OutboxStatus
from .approvals import Hold
from .db import Database
from .errors import storage_error

# The ``bounces`` column of an outbox entry query (outbox_bounces, migration 0011)
# (``outbox`` unaliased): a JSON array.
_BOUNCES_SQL = (
    "(SELECT json_group_array(json_object('recipient', b.recipient, 'status', b.status,"
    " 'action', b.action, 'kind', b.kind, 'reason', b.reason, 'at', b.at))"
    " FROM (SELECT * FROM outbox_bounces WHERE outbox_id = outbox.id ORDER BY id) b) AS bounces"
)


def _bounces_of(value: object) -> tuple[OutboxBounce, ...]:
    """The ``bounces`` column (``_BOUNCES_SQL``), oldest first."""
    if not isinstance(value, str):
        return ()
    return tuple(
        OutboxBounce(
            recipient=str(b["recipient"]),
            status=b["status"],
            action=str(b["action"]),
            kind=str(b["kind"]),
            reason=str(b["reason"]),
            at=int(b["at"]),
        )
        for b in json.loads(value)
    )


_ENTRY_COLUMNS = (
    "id, account_id, status, message_id, subject, all_recipients, attempts, created_at,"
    " updated_at, next_attempt_at, sent_at, last_error, send_at, " + _BOUNCES_SQL
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row this worker holds in ``sending`` until ``lease_until``."""

    id: int
    account_id: int
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=False)
    attempt: int
    max_attempts: int
    token: str
    verify_sent: bool = False
    #: Recipients deferred (4xx at RCPT) by the attempt whose DATA may have gone through;
    #: consulted when the Sent folder settles that attempt (``verify_sent``).
    deferred: tuple[str, ...] = ()

    @property
    def attempt_key(self) -> str:
        return attempt_key(self.id, self.attempt)


@dataclass(frozen=True, slots=True)
class Expired:
    """A row left in ``sending`` past its lease (its worker died or hung)."""

    id: int
    account_id: int
    message_id: str
    token: str
    attempt: int
    max_attempts: int
    data_at: float | None
    deferred: tuple[str, ...] = ()  # stamped with data_at: recipients that DATA did not cover


@dataclass(frozen=True, slots=True)
class SentDraft:
    """A sent row whose draft (same Message-ID) is still in ``folder``."""

    id: int
    account_id: int
    message_id: str
    folder: str


@dataclass(frozen=True, slots=True)
class Attempt:
    outbox_id: int
    attempt: int
    attempt_key: str
    worker_id: str | None
    started_at: float
    finished_at: float | None
    outcome: str | None
    smtp_code: int | None
    server_reply: str | None
    #: The attempt's run id (its log lines and error carry it); None before migration 0011.
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class PendingCopy:
    """A sent row whose copy to the Sent folder is still to be appended."""

    id: int
    account_id: int
    message_id: str
    raw: bytes = field(repr=False)


#: The number of the attempt in flight of a ``sending`` row: ``mark_data`` stored it when
#: DATA started; before that it was only handed out by the claim.
_INFLIGHT = "CASE WHEN data_at IS NULL THEN attempts + 1 ELSE attempts END"


def attempt_key(outbox_id: int, attempt: int) -> str:
    """The deterministic key of one delivery attempt."""
    return f"outbox-{outbox_id}-{attempt}"


class OutboxRepo:
    """SQL for the ``outbox`` and ``outbox_attempts`` tables; no network, no policy."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writes -------------------------------------------------------------------------

    def insert(
        self,
        *,
        account_id: int,
        message_id: str,
        subject: str,
        sender: str,
        recipients: Sequence[str],
        raw: bytes,
        max_attempts: int,
        now: float,
        parent_key: int | None = None,
        send_at: float | None = None,
        draft_folder: str | None = None,
        hold: Hold | None = None,
    ) -> int:
        """Store a new row: ``pending`` and due now, or ``scheduled`` (due at ``send_at``);
        with ``hold``, ``awaiting_approval`` (first-contact approval) instead."""
        row_id = self._insert(
            account_id=account_id, message_id=message_id, subject=subject, sender=sender,
            recipients=recipients, raw=raw, max_attempts=max_attempts, now=now,
            parent_key=parent_key, send_at=send_at, draft_folder=draft_folder, once=False,
            hold=hold,
        )  # fmt: skip
        assert row_id is not None
        return row_id

    def insert_once(
        self,
        *,
        account_id: int,
        message_id: str,
        subject: str,
        sender: str,
        recipients: Sequence[str],
        raw: bytes,
        max_attempts: int,
        now: float,
        send_at: float | None = None,
        draft_folder: str | None = None,
        hold: Hold | None = None,
    ) -> int | None:
        """``insert``, or None when a row with this Message-ID exists already (sending a
        draft twice queues it once)."""
        return self._insert(
            account_id=account_id, message_id=message_id, subject=subject, sender=sender,
            recipients=recipients, raw=raw, max_attempts=max_attempts, now=now,
            parent_key=None, send_at=send_at, draft_folder=draft_folder, once=True, hold=hold,
        )  # fmt: skip

    def _insert(
        self,
        *,
        account_id: int,
        message_id: str,
        subject: str,
        sender: str,
        recipients: Sequence[str],
        raw: bytes,
        max_attempts: int,
        now: float,
        parent_key: int | None,
        send_at: float | None,
        draft_folder: str | None,
        once: bool,
        hold: Hold | None,
    ) -> int | None:
        rcpts = json.dumps(list(recipients))
        status = _initial(send_at, hold)
        conflict = " ON CONFLICT (message_id) DO NOTHING" if once else ""
        try:
            # One statement: atomic on its own in autocommit mode, and one commit.
            row = (
                self.db.connect()
                .execute(
                    "INSERT INTO outbox (account_id, status, message_id, subject, sender,"
                    " recipients, all_recipients, raw, max_attempts, next_attempt_at,"
                    " created_at, updated_at, parent_key, send_at, draft_folder,"
                    " approval_expires_at, last_error)"
                    f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?){conflict}"
                    " RETURNING id",
                    (
                        account_id,
                        status.value,
                        message_id,
                        subject,
                        sender,
                        rcpts,
                        rcpts,
                        raw,
                        max_attempts,
                        now if send_at is None else send_at,
                        now,
                        now,
                        parent_key,
                        send_at,
                        draft_folder,
                        None if hold is None else hold.expires_at,
                        None if hold is None else hold.reason,
                    ),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return int(row[0]) if row is not None else None

    def revive(
        self,
        outbox_id: int,
        *,
        raw: bytes,
        subject: str,
        recipients: Sequence[str],
        now: float,
        send_at: float | None,
        draft_folder: str | None,
        hold: Hold | None = None,
    ) -> bool:
        """Queue a ``cancelled`` row again with new bytes (a cancelled draft sent anew);
        ``hold`` as for :meth:`insert`.

        False when the row is not ``cancelled`` (any more).
        """
        rcpts = json.dumps(list(recipients))
        status = _initial(send_at, hold)
        try:
            cur = self.db.connect().execute(
                "UPDATE outbox SET status = ?, raw = ?, subject = ?, recipients = ?,"
                " all_recipients = ?, next_attempt_at = ?, send_at = ?, draft_folder = ?,"
                " approval_expires_at = ?, last_error = ?, updated_at = ?"
                " WHERE id = ? AND status = 'cancelled'",
                (
                    status.value,
                    raw,
                    subject,
                    rcpts,
                    rcpts,
                    now if send_at is None else send_at,
                    send_at,
                    draft_folder,
                    None if hold is None else hold.expires_at,
                    None if hold is None else hold.reason,
                    now,
                    outbox_id,
                ),
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return cur.rowcount == 1

    def cancel(self, outbox_id: int, *, now: float) -> bool:
        """Cancel a row no attempt of which has reached the server yet.

        Only ``scheduled``, ``pending``, ``failed`` and ``awaiting_approval`` rows with no
        counted attempt qualify: a ``sending`` row may be in DATA right now, and anything else
        has started or ended.
        False when the row is in no such state.
        """
        try:
            cur = self.db.connect().execute(
                "UPDATE outbox SET status = 'cancelled', next_attempt_at = NULL,"
                " approval_expires_at = NULL, last_error = 'cancelled by email.cancel',"
                " updated_at = ? WHERE id = ?"
                " AND status IN ('scheduled', 'pending', 'failed', 'awaiting_approval')"
                " AND attempts = 0",
                (now, outbox_id),
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return cur.rowcount == 1

    def claim(
        self,
        *,
        token: str,
        worker_id: str,
        now: float,
        lease_until: float,
        limit: int,
        accounts: Sequence[int] | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[Claimed]:
        """Atomically move up to ``limit`` due rows to ``sending`` under ``token``."""
        cond = "status IN ('pending', 'failed', 'scheduled') AND next_attempt_at <= ?"
        params: list[object] = [now]
        if accounts is not None:
            if not accounts:
                return []
            cond += f" AND account_id IN ({','.join('?' * len(accounts))})"
            params.extend(accounts)
        if ids is not None:
            if not ids:
                return []
            cond += f" AND id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        sql = (
            "UPDATE outbox SET status = 'sending', claim_token = ?, claimed_by = ?,"
            " lease_until = ?, data_at = NULL, updated_at = ?"
            f" WHERE id IN (SELECT id FROM outbox WHERE {cond}"
            " ORDER BY next_attempt_at, id LIMIT ?)"
            f" AND {cond}"
            # The attempt number is handed out, not stored: it counts once the server is reached.
            " RETURNING id, account_id, message_id, sender, recipients, raw,"
            " attempts + 1 AS attempts, max_attempts, verify_sent, deferred"
        )
        all_params = [token, worker_id, lease_until, now, *params, limit, *params]
        try:
            with self.db.transaction() as tx:
                rows = tx.execute(sql, all_params).fetchall()
                claimed = [_claimed(r, token) for r in rows]
                tx.executemany(
                    "INSERT OR REPLACE INTO outbox_attempts (outbox_id, attempt, attempt_key,"
                    " claim_token, worker_id, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [(c.id, c.attempt, c.attempt_key, token, worker_id, now) for c in claimed],
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        claimed.sort(key=lambda c: c.id)
        return claimed

    def mark_data(
        self,
        outbox_id: int,
        token: str,
        *,
        attempt: int,
        now: float,
        lease_until: float,
        deferred: Sequence[str] = (),
    ) -> bool:
        """Record that DATA is about to start; counts the attempt and extends the lease.

        ``deferred``: the recipients the server deferred (4xx) at RCPT, which this DATA does
        not reach; a recovery that finds the message delivered keeps the row queued for them.

        False when the claim was lost (the lease expired and another worker took the row):
        the caller must not send.
        """
        try:
            cur = self.db.connect().execute(
                "UPDATE outbox SET data_at = ?, deferred = ?, lease_until = max(lease_until, ?),"
                " attempts = max(attempts, ?)"
                " WHERE id = ? AND claim_token = ? AND status = 'sending' AND lease_until > ?",
                (now, json.dumps(list(deferred)), lease_until, attempt, outbox_id, token, now),
            )
            return cur.rowcount == 1
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc

    def renew(self, ids: Sequence[int], token: str, *, now: float, lease_until: float) -> set[int]:
        """Extend the lease of rows still held under ``token``; returns those still held."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        try:
            with self.db.transaction() as tx:
                rows = tx.execute(
                    f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks})"
                    " AND claim_token = ? AND status = 'sending' AND lease_until > ?"
                    " RETURNING id",
                    (lease_until, *ids, token, now),
                ).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return {int(r[0]) for r in rows}

    def finalize(
        self,
        claimed: Claimed,
        *,
        status: OutboxStatus,
        now: float,
        outcome: str,
        next_attempt_at: float | None = None,
        last_error: str | None = None,
        remaining: Sequence[str] | None = None,
        smtp_code: int | None = None,
        server_reply: str | None = None,
        verify_sent: bool | None = None,
        counted: bool = True,
        copy_pending: bool = False,
        run_id: str | None = None,
    ) -> bool:
        """End the attempt, only while still holding the claim. False: the claim was lost.

        ``run_id``: the attempt's, kept on its ``outbox_attempts`` row (logs and errors
        carry the same id).

        ``counted`` False: the try never reached the server and costs no attempt.
        ``copy_pending``: (``sent`` only) our copy to the Sent folder is still to be appended.
        ``verify_sent`` None keeps the flag; a row that ends ``sent`` or ``dead`` clears it.
        """
        sent_at = now if status is OutboxStatus.SENT else None
        if status in (OutboxStatus.SENT, OutboxStatus.DEAD):
            verify_sent = False
        try:
            with self.db.transaction() as tx:
                cur = tx.execute(
                    "UPDATE outbox SET status = ?, claim_token = NULL, lease_until = NULL,"
                    " next_attempt_at = ?, last_error = ?, updated_at = ?,"
                    " sent_at = coalesce(?, sent_at), recipients = coalesce(?, recipients),"
                    " verify_sent = coalesce(?, verify_sent), copy_pending = ?,"
                    " attempts = CASE WHEN ? THEN max(attempts, ?) ELSE attempts END"
                    " WHERE id = ? AND claim_token = ? AND status = 'sending'",
                    (
                        status.value,
                        next_attempt_at,
                        last_error,
                        now,
                        sent_at,
                        json.dumps(list(remaining)) if remaining is not None else None,
                        None if verify_sent is None else int(verify_sent),
                        int(copy_pending and status is OutboxStatus.SENT),
                        int(counted),
                        claimed.attempt,
                        claimed.id,
                        claimed.token,
                    ),
                )
                held = cur.rowcount == 1
                tx.execute(
                    "UPDATE outbox_attempts SET finished_at = ?, outcome = ?, smtp_code = ?,"
                    " server_reply = ?, run_id = coalesce(?, run_id)"
                    " WHERE outbox_id = ? AND attempt = ? AND claim_token = ?",
                    (
                        now,
                        outcome if held else "lost-claim",
                        smtp_code,
                        server_reply,
                        run_id,
                        claimed.id,
                        claimed.attempt,
                        claimed.token,
                    ),
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return held

    def make_due(self, outbox_id: int, *, now: float) -> bool:
        """Make a ``pending``/``failed`` row due now and release a ``held`` one (as ``failed``).

        False when the row is in no such state (sending, sent, dead, gone).
        """
        try:
            cur = self.db.connect().execute(
                "UPDATE outbox SET status = CASE WHEN status = 'held' THEN 'failed'"
                " ELSE status END, next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND status IN ('pending', 'failed', 'held')",
                (now, now, outbox_id),
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return cur.rowcount == 1

    def copies_pending(self, *, limit: int = 100) -> list[PendingCopy]:
        """Sent rows whose copy to the Sent folder is still to be appended."""
        try:
            rows = (
                self.db.connect()
                .execute(
                    "SELECT id, account_id, message_id, raw FROM outbox"
                    " WHERE copy_pending = 1 ORDER BY id LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return [PendingCopy(int(r[0]), int(r[1]), str(r[2]), bytes(r[3])) for r in rows]

    def copy_done(self, outbox_id: int, *, now: float, note: str | None = None) -> None:
        """The Sent copy is stored (or cannot be, ``note`` says why): no longer pending."""
        try:
            self.db.connect().execute(
                "UPDATE outbox SET copy_pending = 0, last_error = coalesce(?, last_error),"
                " updated_at = ? WHERE id = ?",
                (note, now, outbox_id),
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc

    def note_error(self, outbox_id: int, note: str, *, now: float) -> None:
        """Attach a non-fatal note (e.g. the Sent append failed) to a row."""
        try:
            with self.db.transaction() as tx:
                tx.execute(
                    "UPDATE outbox SET last_error = ?, updated_at = ? WHERE id = ?",
                    (note, now, outbox_id),
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc

    # -- lease recovery -----------------------------------------------------------------

    def expired(self, *, now: float, limit: int = 100) -> list[Expired]:
        try:
            rows = (
                self.db.connect()
                .execute(
                    f"SELECT id, account_id, message_id, claim_token, {_INFLIGHT} AS attempts,"
                    " max_attempts, data_at, deferred FROM outbox"
                    " WHERE status = 'sending' AND lease_until <= ?"
                    " ORDER BY id LIMIT ?",
                    (now, limit),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return [
            Expired(
                id=int(r["id"]),
                account_id=int(r["account_id"]),
                message_id=str(r["message_id"]),
                token=str(r["claim_token"]),
                attempt=int(r["attempts"]),
                max_attempts=int(r["max_attempts"]),
                data_at=float(r["data_at"]) if r["data_at"] is not None else None,
                deferred=_json_list(r["deferred"]),
            )
            for r in rows
        ]

    def take_over(
        self, row: Expired, *, token: str, worker_id: str, now: float, lease_until: float
    ) -> Claimed | None:
        """Re-claim an expired ``sending`` row (same attempt number) for recovery."""
        try:
            with self.db.transaction() as tx:
                r = tx.execute(
                    "UPDATE outbox SET claim_token = ?, claimed_by = ?, lease_until = ?,"
                    " updated_at = ? WHERE id = ? AND status = 'sending' AND claim_token = ?"
                    " AND lease_until <= ?"
                    " RETURNING id, account_id, message_id, sender, recipients, raw,"
                    f" {_INFLIGHT} AS attempts, max_attempts, verify_sent, deferred",
                    (token, worker_id, lease_until, now, row.id, row.token, now),
                ).fetchone()
                if r is None:
                    return None
                tx.execute(
                    "UPDATE outbox_attempts SET claim_token = ?"
                    " WHERE outbox_id = ? AND attempt = ?",
                    (token, row.id, row.attempt),
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return _claimed(r, token)

    def delivered_before(self, outbox_id: int, attempt: int) -> bool:
        """Whether an attempt before ``attempt`` already had its DATA accepted.

        Then the Message-ID is in the Sent folder from that attempt, and finding it there
        says nothing about ``attempt`` itself.
        """
        try:
            r = (
                self.db.connect()
                .execute(
                    "SELECT 1 FROM outbox_attempts WHERE outbox_id = ? AND attempt < ?"
                    " AND outcome IN ('partial', 'recovered-partial') LIMIT 1",
                    (outbox_id, attempt),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return r is not None

    # -- drafts sent through the outbox -------------------------------------------------

    def drafts_to_remove(
        self, *, limit: int = 100, ids: Sequence[int] | None = None
    ) -> list[SentDraft]:
        """Sent rows whose draft is still to be removed from its Drafts folder."""
        cond, params = "", []
        if ids is not None:
            cond = f" AND id IN ({','.join('?' * len(ids))})"
            params = [int(i) for i in ids]
        try:
            rows = (
                self.db.connect()
                .execute(
                    "SELECT id, account_id, message_id, draft_folder FROM outbox"
                    f" WHERE draft_folder IS NOT NULL AND status = 'sent'{cond}"
                    " ORDER BY id LIMIT ?",
                    (*params, limit),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return [SentDraft(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def draft_removed(self, outbox_id: int, *, now: float) -> None:
        """The sent row's draft is gone from Drafts: nothing left to remove."""
        try:
            self.db.connect().execute(
                "UPDATE outbox SET draft_folder = NULL, updated_at = ? WHERE id = ?",
                (now, outbox_id),
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc

    # -- reads --------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """The earliest time a drain has work: a row due (or scheduled), or a lease ending."""
        try:
            r = (
                self.db.connect()
                .execute(
                    "SELECT min(t) FROM (SELECT min(next_attempt_at) AS t FROM outbox"
                    " WHERE status IN ('pending', 'failed', 'scheduled')"
                    " UNION ALL SELECT min(lease_until) FROM outbox WHERE status = 'sending')"
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return float(r[0]) if r is not None and r[0] is not None else None

    def by_message_id(self, message_id: str) -> OutboxEntry | None:
        try:
            r = (
                self.db.connect()
                .execute(f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE message_id = ?", (message_id,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return _entry(r) if r is not None else None

    def entry(self, outbox_id: int) -> OutboxEntry | None:
        try:
            r = (
                self.db.connect()
                .execute(f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE id = ?", (outbox_id,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return _entry(r) if r is not None else None

    def raw(self, outbox_id: int) -> bytes | None:
        try:
            r = (
                self.db.connect()
                .execute("SELECT raw FROM outbox WHERE id = ?", (outbox_id,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return bytes(r[0]) if r is not None else None

    def page(
        self,
        *,
        account_id: int | None,
        status: OutboxStatus | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[OutboxEntry], str | None]:
        """Newest first; the cursor is opaque to callers."""
        where: list[str] = []
        params: list[object] = []
        if account_id is not None:
            where.append("account_id = ?")
            params.append(account_id)
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if cursor is not None:
            where.append("id < ?")
            params.append(decode_cursor(cursor))
        sql = f"SELECT {_ENTRY_COLUMNS} FROM outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit + 1)
        try:
            rows = self.db.connect().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        entries = [_entry(r) for r in rows[:limit]]
        nxt = encode_cursor(entries[-1].id) if len(rows) > limit and entries else None
        return entries, nxt

    def attempts(self, outbox_id: int) -> list[Attempt]:
        try:
            rows = (
                self.db.connect()
                .execute(
                    "SELECT outbox_id, attempt, attempt_key, worker_id, started_at, finished_at,"
                    " outcome, smtp_code, server_reply, run_id FROM outbox_attempts"
                    " WHERE outbox_id = ?"
                    " ORDER BY attempt",
                    (outbox_id,),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return [
            Attempt(
                outbox_id=int(r["outbox_id"]),
                attempt=int(r["attempt"]),
                attempt_key=str(r["attempt_key"]),
                worker_id=r["worker_id"],
                started_at=float(r["started_at"]),
                finished_at=r["finished_at"],
                outcome=r["outcome"],
                smtp_code=r["smtp_code"],
                server_reply=r["server_reply"],
                run_id=r["run_id"],
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        try:
            rows = (
                self.db.connect()
                .execute("SELECT status, count(*) FROM outbox GROUP BY status")
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return {str(r[0]): int(r[1]) for r in rows}


def _initial(send_at: float | None, hold: Hold | None) -> OutboxStatus:
    """The status a row is queued in."""
    if hold is not None:
        return OutboxStatus.AWAITING_APPROVAL
    return OutboxStatus.PENDING if send_at is None else OutboxStatus.SCHEDULED


def _json_list(value: object) -> tuple[str, ...]:
    return tuple(json.loads(value)) if isinstance(value, str) else ()


def _ts(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


#: The statuses whose ``next_attempt_at`` is when the row is due.
_WAITING = ("pending", "failed", "scheduled")


def _entry(r: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(
        id=int(r["id"]),
        account_id=int(r["account_id"]),
        status=OutboxStatus(r["status"]),
        message_id=str(r["message_id"]),
        subject=str(r["subject"]),
        recipients=tuple(json.loads(r["all_recipients"])),
        attempts=int(r["attempts"]),
        created_at=int(r["created_at"]),
        updated_at=int(r["updated_at"]),
        next_attempt_at=_ts(r["next_attempt_at"]) if r["status"] in _WAITING else None,
        sent_at=_ts(r["sent_at"]),
        last_error=r["last_error"],
        send_at=_ts(r["send_at"]),
        bounces=_bounces_of(r["bounces"]),
    )


_CURSOR_PREFIX = "ob1:"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """:raises InvalidArgument: not a cursor this listing produced."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        value = int(text[len(_CURSOR_PREFIX) :])
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidArgument(
            "invalid outbox cursor", hint="pass next_cursor from a previous listing unchanged"
        ) from None
    return value


def _claimed(r: sqlite3.Row, token: str) -> Claimed:
    """A claimed row as the deliverer sees it (the row must carry the claim columns)."""
    return Claimed(
        id=int(r["id"]),
        account_id=int(r["account_id"]),
        message_id=str(r["message_id"]),
        sender=str(r["sender"]),
        recipients=tuple(json.loads(r["recipients"])),
        raw=bytes(r["raw"]),
        attempt=int(r["attempts"]),
        max_attempts=int(r["max_attempts"]),
        token=token,
        verify_sent=bool(r["verify_sent"]),
        deferred=_json_list(r["deferred"]),
    )
