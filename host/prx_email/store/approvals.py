"""SQL for first-contact approval (migration 0014): who an account knows, held rows.

An address is *known* to an account when the account queued mail to it before
(``policy_recipients``, migration 0009: approved rows are added there too) or when it is
in the from, to or cc of one of the account's stored messages. A held row is
``awaiting_approval`` until :meth:`ApprovalRepo.approve` (bound to :func:`approval_hash` of
the bytes and envelope as they are in the store at that moment) or :meth:`ApprovalRepo.reject`.
No policy here: the caller decides who is held and for how long.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses

from .db import Database
from .errors import storage_error

__all__ = ["ApprovalRepo", "Awaiting", "Decided", "Hold", "approval_hash", "unknown_addresses"]


@dataclass(frozen=True, slots=True)
class Hold:
    """Store the new row as ``awaiting_approval``: until when it may be approved, and why
    (its ``last_error``, which the agent reads)."""

    expires_at: float
    reason: str


def approval_hash(sender: str, recipients: Sequence[str], raw: bytes) -> str:
    """sha256 (hex) of the envelope and the exact message bytes an approval is bound to.

    Length-prefixed fields, so no choice of addresses can make two envelopes collide.
    """
    h = hashlib.sha256(b"prx-email-approval-v1\n")
    for part in (sender.encode(), *(r.encode() for r in recipients), raw):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def unknown_addresses(tx: sqlite3.Connection, account_id: int, addrs: Iterable[str]) -> list[str]:
    """Of ``addrs`` (lower-case, none in ``policy_recipients``), those in no stored message's
    from/to/cc of ``account_id``.

    The lists are display strings ("Name <addr>"), so a substring match finds candidates
    and parsing confirms them (``bob@x.org`` must not match ``rebob@x.org``).
    """
    out: list[str] = []
    for addr in addrs:
        pattern = "%" + addr.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = tx.execute(
            "SELECT from_addr, to_addrs, cc_addrs FROM messages WHERE account_id = ?1 AND"
            " (from_addr LIKE ?2 ESCAPE '\\' OR to_addrs LIKE ?2 ESCAPE '\\'"
            " OR cc_addrs LIKE ?2 ESCAPE '\\')",
            (account_id, pattern),
        )
        if not any(_lists_hold(row, addr) for row in rows):
            out.append(addr)
    return out


def _lists_hold(row: sqlite3.Row, addr: str) -> bool:
    lines = [line for col in row for line in str(col).split("\n") if line]
    return any(a.lower() == addr for _, a in getaddresses(lines))


@dataclass(frozen=True, slots=True)
class Awaiting:
    """An ``awaiting_approval`` row as an operator decides on it."""

    id: int
    account_id: int
    message_id: str
    subject: str
    sender: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=False)
    expires_at: float
    reason: str

    @property
    def hash(self) -> str:
        return approval_hash(self.sender, self.recipients, self.raw)


class Decided(enum.Enum):
    """What :meth:`ApprovalRepo.approve` did."""

    APPROVED = "approved"
    NOT_AWAITING = "not_awaiting"  # gone, or decided already (status changed meanwhile)
    EXPIRED = "expired"
    MISMATCH = "mismatch"


_AWAITING_COLUMNS = (
    "id, account_id, message_id, subject, sender, recipients, raw, approval_expires_at, last_error"
)


class ApprovalRepo:
    """Held rows of the ``outbox`` table and the recipients their approval makes known."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def awaiting(self, outbox_id: int) -> Awaiting | None:
        """The row if it is ``awaiting_approval``."""
        try:
            r = _select_awaiting(self.db.connect(), outbox_id)
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return _awaiting(r) if r is not None else None

    def hashes(self, ids: Sequence[int]) -> dict[int, str]:
        """The approval hash of each of ``ids`` that is ``awaiting_approval``."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        try:
            rows = (
                self.db.connect()
                .execute(
                    f"SELECT {_AWAITING_COLUMNS} FROM outbox WHERE id IN ({marks})"
                    " AND status = 'awaiting_approval'",
                    tuple(ids),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return {int(r["id"]): _awaiting(r).hash for r in rows}

    def approve(
        self, outbox_id: int, digest: str, *, now: float
    ) -> tuple[Decided, Awaiting | None]:
        """Release the row to ``pending`` (``scheduled`` while its ``send_at`` is ahead) if
        ``digest`` is the hash of what is stored now and the approval has not expired; its
        recipients become known to the account. Read, compared and updated in one
        ``BEGIN IMMEDIATE`` transaction, so no write can slip between the check and the use.
        """
        try:
            with self.db.transaction() as tx:
                r = _select_awaiting(tx, outbox_id)
                if r is None:
                    return Decided.NOT_AWAITING, None
                row = _awaiting(r)
                if now >= row.expires_at:
                    return Decided.EXPIRED, row
                if not _same(digest, row.hash):
                    return Decided.MISMATCH, row
                tx.execute(
                    "UPDATE outbox SET status = CASE WHEN coalesce(send_at, 0) > ?1"
                    " THEN 'scheduled' ELSE 'pending' END,"
                    " next_attempt_at = max(coalesce(send_at, ?1), ?1), approval_expires_at = NULL,"
                    " last_error = NULL, updated_at = ?1 WHERE id = ?2",
                    (now, outbox_id),
                )
                tx.executemany(
                    "INSERT OR IGNORE INTO policy_recipients (account_id, address, first_at)"
                    " VALUES (?, ?, ?)",
                    [(row.account_id, a.lower(), now) for a in row.recipients],
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return Decided.APPROVED, row

    def reject(self, outbox_id: int, *, now: float, note: str) -> Awaiting | None:
        """Move an ``awaiting_approval`` row (expired or not) to the terminal ``rejected``;
        None when the row is not awaiting."""
        try:
            with self.db.transaction() as tx:
                r = _select_awaiting(tx, outbox_id)
                if r is None:
                    return None
                tx.execute(
                    "UPDATE outbox SET status = 'rejected', next_attempt_at = NULL,"
                    " approval_expires_at = NULL, last_error = ?, updated_at = ? WHERE id = ?",
                    (note, now, outbox_id),
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db.path) from exc
        return _awaiting(r)


def _select_awaiting(conn: sqlite3.Connection, outbox_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {_AWAITING_COLUMNS} FROM outbox WHERE id = ? AND status = 'awaiting_approval'",
        (outbox_id,),
    ).fetchone()
    return row


def _same(given: str, actual: str) -> bool:
    return hmac.compare_digest(given.strip().lower().encode(), actual.encode())


def _awaiting(r: sqlite3.Row) -> Awaiting:
    return Awaiting(
        id=int(r["id"]),
        account_id=int(r["account_id"]),
        message_id=str(r["message_id"]),
        subject=str(r["subject"]),
        sender=str(r["sender"]),
        recipients=tuple(json.loads(r["recipients"])),
        raw=bytes(r["raw"]),
        expires_at=float(r["approval_expires_at"] or 0.0),
        reason=str(r["last_error"] or ""),
    )
