"""The store's side of mailbox actions (issue 11): SQL only, run after the server confirmed.

- flags of rows (:func:`apply_flags`), deleted rows (:func:`delete_rows`);
- a moved row is re-keyed in place (:func:`apply_moves`) to the destination's
  ``(folder, uidvalidity, uid)``: its id stays, and since that is the key the sync upserts
  on, a concurrent or later sync of the destination updates this row instead of adding a
  second one; a sync of the source no longer finds it under the old key, so its expunge
  pass has nothing to delete. A row the destination's sync stored first (same key) is the
  same message: it is dropped in favour of the moved row, in the same transaction. Without
  a new UID (no COPYUID) the row is deleted and the next sync of the destination stores it;
- folders known locally (:func:`local_folders`), renamed or dropped with the server's;
- threads (:func:`thread_of`), computed at query time (no column): a message's
  ``thread_id`` is the root Message-ID, the first of its References, else its In-Reply-To,
  else its own Message-ID — stable as replies arrive, since replies keep the root first
  (RFC 5322 3.6.4). Without any link the thread falls back to messages with the same
  normalised subject within a window of days.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..types import AccountId, MessageKey, MessageSummary
from .db import Database
from .events import record_from_messages
from .messages import _SUMMARY, KEY_MAX, _summary, thread_id

__all__ = [
    "LocalFolder",
    "Located",
    "Move",
    "apply_flags",
    "apply_moves",
    "delete_rows",
    "drop_folder",
    "local_folders",
    "locate",
    "normalise_subject",
    "rename_folder",
    "summaries",
    "synced_folders",
    "thread_id",
    "thread_ids",
    "thread_of",
]

_SEEN = "\\Seen"
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|tr|ref|antw)\s*(?:\[\d+\])?\s*:|\[[^\]]*\])\s*", re.I
)


@dataclass(frozen=True, slots=True)
class Located:
    """Where a stored message is on the server, as the store knows it."""

    id: MessageKey
    folder: str
    uidvalidity: int
    uid: int | None  # None: imported from a local mailbox, not on the server
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Move:
    """One confirmed move: row ``id`` is now ``uid`` in ``folder`` (None: UID unknown)."""

    id: MessageKey
    folder: str
    uidvalidity: int
    uid: int | None


@dataclass(frozen=True, slots=True)
class LocalFolder:
    name: str
    messages: int
    unseen: int
    synced: bool


def _ids_json(ids: Iterable[int]) -> str:
    return json.dumps(sorted({int(i) for i in ids}))


def locate(db: Database, account_id: AccountId, ids: Iterable[MessageKey]) -> dict[int, Located]:
    """The stored location of each id of this account (unknown ids are not keys).

    :raises StorageError:
    """
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT id, folder, uidvalidity, uid, flags FROM messages "
            "WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))",
            (account_id, _ids_json(ids)),
        ).fetchall()
    return {int(r[0]): Located(int(r[0]), r[1], int(r[2]), r[3], tuple(r[4].split())) for r in rows}


def apply_flags(
    db: Database, account_id: AccountId, flags_by_id: Mapping[MessageKey, Iterable[str]]
) -> int:
    """Set the flags of rows to what the server reported; returns rows changed.

    :raises StorageError:
    """
    params = []
    for key, flags in flags_by_id.items():
        joined = " ".join(flags)
        params.append((joined, 1 if _SEEN in joined.split() else 0, account_id, int(key), joined))
    if not params:
        return 0
    with db.transaction() as tx:
        return tx.executemany(
            "UPDATE messages SET flags = ?, seen = ? WHERE account_id = ? AND id = ? "
            "AND flags IS NOT ?",
            params,
        ).rowcount


def apply_moves(db: Database, account_id: AccountId, moves: Sequence[Move]) -> int:
    """Re-key moved rows to their new folder and UID, in one transaction; returns rows kept.

    :raises StorageError:
    """
    gone = [(account_id, mv.id) for mv in moves if mv.uid is None]
    rekeyed = [mv for mv in moves if mv.uid is not None]
    with db.transaction() as tx:
        # One `moved` event per confirmed move, from the row as it was (its old folder);
        # the new place is in the detail (uid null: the destination's next sync stores it).
        record_from_messages(
            tx,
            "moved",
            "m.account_id = ? AND m.id = json_extract(j.value, '$[0]')",
            (json.dumps([[mv.id, mv.folder, mv.uid] for mv in moves]), account_id),
            source="json_each(?) j, messages m",
            detail_sql="json_object('to_folder', json_extract(j.value, '$[1]'),"
            " 'to_uid', json_extract(j.value, '$[2]'))",
        )
        if gone:
            tx.executemany("DELETE FROM messages WHERE account_id = ? AND id = ?", gone)
        # The destination's sync may have stored the same message already: that row goes.
        tx.executemany(
            "DELETE FROM messages WHERE account_id = ? AND folder = ? AND uidvalidity = ? "
            "AND uid = ? AND id != ?",
            [(account_id, mv.folder, mv.uidvalidity, mv.uid, mv.id) for mv in rekeyed],
        )
        kept = tx.executemany(
            "UPDATE messages SET folder = ?, uidvalidity = ?, uid = ? "
            "WHERE account_id = ? AND id = ?",
            [(mv.folder, mv.uidvalidity, mv.uid, account_id, mv.id) for mv in rekeyed],
        ).rowcount
    return kept


def delete_rows(db: Database, account_id: AccountId, ids: Iterable[MessageKey]) -> int:
    """Delete rows (their search index entries go with them). :raises StorageError:"""
    where = "m.account_id = ? AND m.id IN (SELECT value FROM json_each(?))"
    params = (account_id, _ids_json(ids))
    with db.transaction() as tx:
        record_from_messages(tx, "expunged", where, params)
        return tx.execute(f"DELETE FROM messages AS m WHERE {where}", params).rowcount


def local_folders(db: Database, account_id: AccountId) -> list[LocalFolder]:
    """Folders with stored messages or a sync cursor, with stored counts. :raises StorageError:"""
    with db.reading() as conn:
        counts = {
            r[0]: (int(r[1]), int(r[2]))
            for r in conn.execute(
                "SELECT folder, count(*), sum(seen = 0) FROM messages WHERE account_id = ? "
                "GROUP BY folder",
                (account_id,),
            )
        }
        synced = {
            r[0]
            for r in conn.execute(
                "SELECT folder FROM sync_state WHERE account_id = ?", (account_id,)
            )
        }
    names = sorted(set(counts) | synced, key=lambda n: (n.upper() != "INBOX", n))
    return [LocalFolder(n, *counts.get(n, (0, 0)), n in synced) for n in names]


def synced_folders(db: Database, account_id: AccountId) -> set[str]:
    """Folders with a sync cursor (no scan of the messages). :raises StorageError:"""
    with db.reading() as conn:
        rows = conn.execute("SELECT folder FROM sync_state WHERE account_id = ?", (account_id,))
        return {r[0] for r in rows}


def rename_folder(
    db: Database, account_id: AccountId, old: str, new: str, delimiter: str | None
) -> int:
    """Follow a server RENAME: rows and sync cursors of ``old`` and its children.

    :raises StorageError:
    """
    children = f"{old}{delimiter}%" if delimiter else None
    renamed = 0
    with db.transaction() as tx:
        for table in ("messages", "sync_state", "sync_jobs"):
            sql = f"UPDATE {table} SET folder = ? || substr(folder, ?) WHERE account_id = ? AND "
            args: list[object] = [new, len(old) + 1, account_id]
            if children:
                sql += "(folder = ? OR folder LIKE ? ESCAPE '\\')"
                esc = old.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                args += [old, f"{esc}{delimiter}%"]
            else:
                sql += "folder = ?"
                args.append(old)
            n = tx.execute(sql, args).rowcount
            if table == "messages":
                renamed = n
    return renamed


def drop_folder(db: Database, account_id: AccountId, folder: str) -> int:
    """Follow a server DELETE: the folder's rows and sync cursor go. :raises StorageError:"""
    with db.transaction() as tx:
        n = tx.execute(
            "DELETE FROM messages WHERE account_id = ? AND folder = ?", (account_id, folder)
        ).rowcount
        for table in ("sync_state", "sync_jobs"):
            tx.execute(
                f"DELETE FROM {table} WHERE account_id = ? AND folder = ?", (account_id, folder)
            )
    return n


def summaries(
    db: Database, account_id: AccountId, ids: Iterable[MessageKey]
) -> dict[int, MessageSummary]:
    """Summaries of these ids, as stored. :raises StorageError:"""
    with db.reading() as conn:
        rows = conn.execute(
            f"SELECT {_SUMMARY} FROM messages WHERE account_id = ? "
            "AND id IN (SELECT value FROM json_each(?))",
            (account_id, _ids_json(ids)),
        ).fetchall()
    return {int(r[0]): _summary(r) for r in rows}


# -- threads ---------------------------------------------------------------------------------


def normalise_subject(subject: str) -> str:
    """The subject without reply/forward prefixes (``Re:``, ``Fwd:``, ``AW:``…) and tags."""
    s = subject
    while True:
        t = _PREFIX.sub("", s, count=1)
        if t == s:
            break
        s = t
    return " ".join(s.split()).casefold()


_THREAD_COLS = "id, message_id, in_reply_to, refs, subject, sort_date"
_MAX_ROUNDS = 8
_MAX_THREAD = 500


def thread_of(
    db: Database, account_id: AccountId, key: MessageKey, *, window_days: int = 30
) -> tuple[str, list[int]] | None:
    """The thread id (the oldest message's root) and the conversation of ``key``, oldest first.

    Messages are linked by Message-ID, In-Reply-To and References (followed to closure, a
    few rounds, at most 500 messages); a message with no link at all falls back to the
    same normalised subject within ``window_days`` either side. None: unknown key.

    :raises StorageError:
    """
    if not 0 < key <= KEY_MAX:  # a WIT u64 past SQLite's INTEGER names no row
        return None
    with db.reading() as conn:
        row = conn.execute(
            f"SELECT {_THREAD_COLS} FROM messages WHERE account_id = ? AND id = ?",
            (account_id, key),
        ).fetchone()
        if row is None:
            return None
        tid = thread_id(row[1], row[2], row[3], key)
        found: dict[int, tuple[int, int]] = {int(row[0]): (int(row[5]), int(row[0]))}
        roots: dict[int, str] = {int(row[0]): tid}
        ids = {x for x in (row[1], row[2], *row[3].split()) if x}
        seen_ids: set[str] = set()
        for _ in range(_MAX_ROUNDS):
            new_ids = ids - seen_ids
            if not new_ids or len(found) >= _MAX_THREAD:
                break
            seen_ids |= new_ids
            wanted = json.dumps(sorted(new_ids))
            # refs is space-joined: match a whole id by padding both sides with spaces.
            rows = conn.execute(
                f"SELECT {_THREAD_COLS} FROM messages WHERE account_id = ?2 AND ("
                "message_id IN (SELECT value FROM json_each(?1)) "
                "OR in_reply_to IN (SELECT value FROM json_each(?1)) "
                "OR EXISTS (SELECT 1 FROM json_each(?1) j "
                "WHERE instr(' ' || refs || ' ', ' ' || j.value || ' ') > 0)) LIMIT ?3",
                (wanted, account_id, _MAX_THREAD),
            ).fetchall()
            for r in rows:
                found[int(r[0])] = (int(r[5]), int(r[0]))
                roots[int(r[0])] = thread_id(r[1], r[2], r[3], int(r[0]))
                ids.update(x for x in (r[1], r[2], *r[3].split()) if x)
        if len(found) == 1 and not row[2] and not row[3].strip():
            subject = normalise_subject(row[4])
            if subject:
                span = window_days * 86400
                for r in conn.execute(
                    f"SELECT {_THREAD_COLS} FROM messages WHERE account_id = ? "
                    "AND sort_date BETWEEN ? AND ? LIMIT ?",
                    (account_id, int(row[5]) - span, int(row[5]) + span, 10 * _MAX_THREAD),
                ):
                    if normalise_subject(r[4]) == subject:
                        found[int(r[0])] = (int(r[5]), int(r[0]))
                        roots[int(r[0])] = thread_id(r[1], r[2], r[3], int(r[0]))
    ordered = sorted(found, key=lambda k: found[k])[:_MAX_THREAD]
    # The oldest message names the thread: its root is the one every reply lists first.
    return roots[ordered[0]], ordered


def thread_ids(db: Database, account_id: AccountId, ids: Iterable[MessageKey]) -> dict[int, str]:
    """Each stored id's ``thread_id`` (for summaries). :raises StorageError:"""
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT id, message_id, in_reply_to, refs FROM messages WHERE account_id = ? "
            "AND id IN (SELECT value FROM json_each(?))",
            (account_id, _ids_json(ids)),
        ).fetchall()
    return {int(r[0]): thread_id(r[1], r[2], r[3], int(r[0])) for r in rows}
