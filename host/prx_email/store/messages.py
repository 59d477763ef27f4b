"""The message repository: writes in batches, reads in keyset pages, search over FTS5.

SQL only: no MIME parsing, no attachment files (``services/completion.py`` does those).
Writers use one transaction and one multi-row statement per batch; the full-text index is
kept in step inside that same transaction, so a search never misses what a committed
upsert stored.

Two ways in: :meth:`MessageStore.upsert_many` stores fully parsed messages;
:meth:`MessageStore.upsert_summaries` (a first sync) stores header-level summaries with the
raw bytes kept in the row as *pending* (``schema/0004_deferred_bodies.sql``). The
completion service reads them with :meth:`MessageStore.pending`, parses them and hands
them back to :meth:`MessageStore.complete` (bodies, snippet, headers, attachment metadata,
full-text entry, raw bytes dropped; one transaction per batch). Reads return rows as
stored: ``services/mailbox.py`` completes what a read is about to return first.

The values in and out are ``store/items.py``'s (re-exported here); parsed messages come
in as any object with the fields of :class:`MessageFields` / :class:`SummaryFields`, so the
store does not depend on the parser.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import types as _types
from ..config.model import AttachmentPolicy
from ..types import AccountId, AttachmentMeta, MessageKey
from .bounces import record_bounces
from .cursor import NO_DATE, decode_cursor, encode_cursor
from .db import Database
from .events import messages_high_water, record_from_messages, record_new_mail
from .fts import plan_search
from .items import (
    CompletedRow,
    CompletionSettings,
    ListedPage,
    MessageFields,
    PendingRow,
    StoreItem,
    SummaryFields,
    SummaryItem,
)

if TYPE_CHECKING:
    from ..types import ListQuery, Message, MessagePage, MessageSummary, SearchQuery

# The read-path values (message, page, summary) are built through ``_types`` so that a
# sync, which only writes, never loads their module (``prx_email.types`` loads lazily).

__all__ = [
    "KEY_MAX",
    "CompletedRow",
    "CompletionSettings",
    "ListedPage",
    "MessageFields",
    "MessageStore",
    "PendingRow",
    "StoreItem",
    "SummaryFields",
    "SummaryItem",
    "attachment_metas",
    "thread_id",
]

#: Largest store key (SQLite INTEGER); binding a larger int raises OverflowError.
KEY_MAX = 2**63 - 1
_SEEN = "\\Seen"
# One encoder for every row: json.dumps(..., ensure_ascii=False) builds a new one per call.
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_COLUMNS = (
    "account_id, folder, uidvalidity, uid, import_key, message_id, subject, from_addr, "
    "to_addrs, cc_addrs, reply_to, in_reply_to, refs, date, sort_date, flags, seen, snippet, "
    "size, has_attachments, body_text, body_html, body_html_text, body_truncated, headers, "
    "attachments"
)
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))
_UPDATABLE = (
    "message_id, subject, from_addr, to_addrs, cc_addrs, reply_to, in_reply_to, refs, date, "
    "sort_date, flags, seen, snippet, size, has_attachments, body_text, body_html, "
    "body_html_text, body_truncated, headers, attachments"
)

_INSERT = f"INSERT INTO messages ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"
_INSERT_IMPORT = (
    _INSERT + " ON CONFLICT (account_id, folder, import_key) WHERE import_key IS NOT NULL "
    "DO NOTHING"
)
_UPDATE_BY_ID = (
    "UPDATE messages SET "
    + ", ".join(f"{c.strip()} = ?" for c in _UPDATABLE.split(","))
    + " WHERE id = ?"
)
# Index every pending row, then move the watermark past the highest key (AUTOINCREMENT
# keys only grow, so every later row is pending until the next run of these two).
_INDEX_PENDING = (
    "INSERT INTO messages_fts (rowid, subject, from_addr, to_addrs, cc_addrs, body) "
    "SELECT id, subject, from_addr, to_addrs, cc_addrs, "
    "coalesce(body_text, body_html_text, '') FROM messages "
    "WHERE id > (SELECT indexed_upto FROM fts_state WHERE id = 1)",
    # The substring index of the header fields (0006).
    "INSERT INTO messages_trgm (rowid, subject, from_addr, to_addrs, cc_addrs) "
    "SELECT id, subject, from_addr, to_addrs, cc_addrs FROM messages "
    "WHERE id > (SELECT indexed_upto FROM fts_state WHERE id = 1)",
)
_ADVANCE_WATERMARK = (
    "UPDATE fts_state SET indexed_upto = "
    "max(indexed_upto, (SELECT coalesce(max(id), 0) FROM messages)) WHERE id = 1"
)
_PENDING = (
    "SELECT (SELECT coalesce(max(id), 0) FROM messages) > indexed_upto FROM fts_state WHERE id = 1"
)
_EXISTING_UIDS = (
    "SELECT uid, id FROM messages WHERE account_id = ? AND folder = ? AND uidvalidity = ? "
    "AND uid IN (SELECT value FROM json_each(?))"
)
_FIRST_UPDATABLE = len(_COLUMNS.split(",")) - len(_UPDATABLE.split(","))
assert _COLUMNS.endswith(_UPDATABLE.split(",", 1)[1])  # row[_FIRST_UPDATABLE:] is the SET list

# in_reply_to and refs (15, 16) give each summary its thread_id (no extra query).
_SUMMARY = (
    "id, account_id, folder, uid, message_id, subject, from_addr, to_addrs, cc_addrs, date, "
    "flags, snippet, has_attachments, size, sort_date, in_reply_to, refs"
)
_SUMMARY_WIDTH = 17  # columns of _SUMMARY: what a listing adds starts here
_FULL = _SUMMARY + ", reply_to, headers, body_text, body_html, body_truncated, attachments"


# Rows per multi-row INSERT (see _insert_rows): a sync batch in one statement; a statement
# of this size prepares in ~5 ms, then the sqlite3 module's statement cache reuses it.
_ROWS_PER_INSERT = 500
_SUMMARY_INSERT = (
    "INSERT INTO messages (account_id, folder, uidvalidity, uid, message_id, subject, "
    "from_addr, to_addrs, cc_addrs, reply_to, in_reply_to, refs, date, sort_date, flags, seen, "
    "size, has_attachments, raw, automated)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STILL_PENDING = (
    "SELECT id FROM messages WHERE id IN (SELECT value FROM json_each(?)) AND raw IS NOT NULL"
)
# A UID already stored (same account, folder, UIDVALIDITY) keeps its row; only flags change.
_SUMMARY_UPSERT_CLAUSE = (
    " ON CONFLICT (account_id, folder, uidvalidity, uid) WHERE uid IS NOT NULL"
    " DO UPDATE SET flags = excluded.flags, seen = excluded.seen"
)
_COMPLETE_BY_ID = (
    "UPDATE messages SET message_id = ?, subject = ?, from_addr = ?, to_addrs = ?, "
    "cc_addrs = ?, reply_to = ?, in_reply_to = ?, refs = ?, date = ?, sort_date = ?, "
    "snippet = ?, has_attachments = ?, body_text = ?, body_html = ?, body_html_text = ?, "
    "body_truncated = ?, headers = ?, attachments = ?, raw = NULL WHERE id = ?"
)
# The common case: the full parse agrees with the stored summary. Not naming the summary
# columns spares rewriting the listing and Message-ID index entries (~15 % of completion).
_COMPLETE_BODIES_BY_ID = (
    "UPDATE messages SET snippet = ?, has_attachments = ?, body_text = ?, body_html = ?, "
    "body_html_text = ?, body_truncated = ?, headers = ?, attachments = ?, raw = NULL "
    "WHERE id = ?"
)
_SUMMARY_PART = 9  # _completed_row()[:9] are the stored summary columns, [10:] the rest
_PENDING_BATCH = (
    "SELECT id, account_id, raw, message_id, subject, from_addr, to_addrs, cc_addrs, "
    "reply_to, in_reply_to, refs, date FROM messages INDEXED BY messages_pending "
    "WHERE raw IS NOT NULL AND id > ?"
)
# The index step of one completed batch: rows up to the batch's highest key only, so rows
# still pending after it are not indexed before their bodies are known. (Rows indexed
# early by another writer's watermark step are re-indexed by the update trigger.)
_INDEX_UPTO = tuple(sql + " AND id <= ?" for sql in _INDEX_PENDING)
_ADVANCE_WATERMARK_TO = "UPDATE fts_state SET indexed_upto = max(indexed_upto, ?) WHERE id = 1"


def _lines(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


def _summary(row: Sequence[Any]) -> MessageSummary:
    return _types.MessageSummary(
        id=row[0],
        account_id=row[1],
        folder=row[2],
        uid=row[3],
        message_id=row[4],
        subject=row[5],
        from_=row[6],
        to=_lines(row[7]),
        cc=_lines(row[8]),
        date=row[9],
        flags=_words(row[10]),
        snippet=row[11],
        has_attachments=bool(row[12]),
        size=row[13],
        thread_id=thread_id(row[4], row[15], row[16], row[0]),
    )


def thread_id(message_id: str | None, in_reply_to: str | None, refs: str, key: int) -> str:
    """The root Message-ID of a message's conversation (see ``store.mailbox``'s docstring)."""
    first = refs.split(maxsplit=1)[0] if refs.strip() else None
    return first or in_reply_to or message_id or f"<local-{key}@prx-email>"


def _message(row: Sequence[Any]) -> Message:
    headers = tuple(_types.Header(str(n), str(v)) for n, v in json.loads(row[18]))
    attachments = tuple(
        AttachmentMeta(
            index=int(a["index"]),
            filename=a.get("filename"),
            content_type=str(a["content_type"]),
            size=int(a["size"]),
            sha256=str(a["sha256"]),
            stored=bool(a.get("stored", False)),
        )
        for a in json.loads(row[22])
    )
    return _types.Message(
        summary=_summary(row),
        reply_to=_lines(row[17]),
        in_reply_to=row[15],
        references=_words(row[16]),
        headers=headers,
        body_text=row[19],
        body_html=row[20],
        body_truncated=bool(row[21]),
        attachments=attachments,
    )


def attachment_metas(parsed: MessageFields, *, stored: bool = False) -> tuple[AttachmentMeta, ...]:
    """Metadata of every attachment of ``parsed``, all marked ``stored``."""
    return tuple(
        AttachmentMeta(
            index=i,
            filename=a.filename,
            content_type=a.content_type,
            size=len(a.data),
            sha256=a.sha256,
            stored=stored,
        )
        for i, a in enumerate(parsed.attachments)
    )


def _attachments_json(metas: tuple[AttachmentMeta, ...]) -> str:
    if not metas:
        return "[]"
    return _to_json(
        [
            {
                "index": m.index,
                "filename": m.filename,
                "content_type": m.content_type,
                "size": m.size,
                "sha256": m.sha256,
                "stored": m.stored,
            }
            for m in metas
        ]
    )


def _row(account_id: int, folder: str, uidvalidity: int, item: StoreItem) -> tuple[object, ...]:
    p = item.parsed
    metas = item.attachments if item.attachments is not None else attachment_metas(p)
    import_key = None
    if item.uid is None:
        import_key = item.import_key or p.sha256
    flags = " ".join(item.flags)
    return (
        account_id,
        folder,
        uidvalidity,
        item.uid,
        import_key,
        p.message_id,
        p.subject,
        p.from_,
        "\n".join(p.to),
        "\n".join(p.cc),
        "\n".join(p.reply_to),
        p.in_reply_to,
        " ".join(p.references),
        p.date,
        NO_DATE if p.date is None else p.date,
        flags,
        1 if _SEEN in item.flags else 0,
        p.snippet,
        item.size,
        1 if metas else 0,
        p.body_text,
        p.body_html,
        p.index_text if p.body_text is None and p.body_html is not None else None,
        1 if p.body_truncated else 0,
        _to_json(p.headers),
        _attachments_json(metas),
    )


def _insert_rows(
    tx: sqlite3.Connection, insert: str, rows: list[tuple[object, ...]], clause: str = ""
) -> int:
    """Insert ``rows`` with ``insert`` (one VALUES tuple) + ``clause``, many rows a statement.

    Not ``executemany``: it releases and retakes the GIL around every row, and a sync
    writes from a worker thread while the event loop thread parses the next batch, so each
    retake waits for a switch interval (5 ms) while that thread is busy: measured against a
    busy thread, 10,000 rows took 4x to 90x longer than alone. A multi-row INSERT steps
    once per chunk. Returns rows inserted (or updated by an upsert ``clause``).
    """
    if not rows:
        return 0
    head, _, values = insert.partition(" VALUES ")
    width = len(rows[0])
    per = max(1, min(_ROWS_PER_INSERT, tx.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    done = 0
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        sql = f"{head} VALUES {','.join([values] * len(chunk))}{clause}"
        done += tx.execute(sql, [value for row in chunk for value in row]).rowcount
    return done


def _summary_row(
    account_id: int, folder: str, uidvalidity: int, item: SummaryItem
) -> tuple[object, ...]:
    p = item.summary
    return (
        account_id,
        folder,
        uidvalidity,
        item.uid,
        p.message_id,
        p.subject,
        p.from_,
        "\n".join(p.to),
        "\n".join(p.cc),
        "\n".join(p.reply_to),
        p.in_reply_to,
        " ".join(p.references),
        p.date,
        NO_DATE if p.date is None else p.date,
        " ".join(item.flags),
        1 if _SEEN in item.flags else 0,
        item.size,
        1 if p.attachment_hint else 0,
        item.raw,
        item.automated,
    )


def _completed_row(
    key: int, p: MessageFields, metas: tuple[AttachmentMeta, ...]
) -> tuple[object, ...]:
    return (
        p.message_id,
        p.subject,
        p.from_,
        "\n".join(p.to),
        "\n".join(p.cc),
        "\n".join(p.reply_to),
        p.in_reply_to,
        " ".join(p.references),
        p.date,
        NO_DATE if p.date is None else p.date,
        p.snippet,
        1 if metas else 0,
        p.body_text,
        p.body_html,
        p.index_text if p.body_text is None and p.body_html is not None else None,
        1 if p.body_truncated else 0,
        _to_json(p.headers),
        _attachments_json(metas),
        key,
    )


class MessageStore:
    """Repository of stored messages over a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Every row of a read, as plain tuples (3x cheaper than Row), errors mapped."""
        with self.db.reading() as conn:
            cur = conn.cursor()
            cur.row_factory = None
            return cur.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """The first row of a read, or None, errors mapped."""
        with self.db.reading() as conn:
            cur = conn.cursor()
            cur.row_factory = None
            row: tuple[Any, ...] | None = cur.execute(sql, params).fetchone()
            return row

    @contextmanager
    def _tx(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        """The caller's open transaction ``conn``, or a new one of our own."""
        if conn is not None:
            yield conn
        else:
            with self.db.transaction() as tx:
                yield tx

    # --- writes -------------------------------------------------------------------------

    def upsert_many(
        self,
        account_id: AccountId,
        folder: str,
        uidvalidity: int,
        items: Iterable[StoreItem],
        *,
        index: bool = True,
        conn: sqlite3.Connection | None = None,
    ) -> int:
        """Store a batch in one transaction; returns how many rows were inserted or updated.

        An item whose (account, folder, uidvalidity, uid) is already stored updates that
        row (same key). An imported item (uid None) already present is skipped, not counted.

        With ``index`` (the default) the batch is full-text indexed in the same
        transaction. ``index=False`` defers that (a bulk sync indexes once at the end with
        :meth:`index_pending`, about a third cheaper than per batch); :meth:`search` indexes
        whatever is pending before it queries, so it never misses a stored row.

        With ``conn`` (a connection inside an open transaction) the writes join that
        transaction instead of opening their own.
        """
        by_uid: dict[int, tuple[object, ...]] = {}
        imported: list[tuple[object, ...]] = []
        bounces: dict[int, StoreItem] = {}
        for item in items:
            if item.uid is None:
                imported.append(_row(account_id, folder, uidvalidity, item))
            else:
                if item.bounce is not None:
                    bounces[item.uid] = item
                # A UID twice in one batch: the later copy wins. Deduplicated here, because
                # updating a row this batch inserted (not indexed yet) would make the
                # update trigger delete index entries that do not exist.
                by_uid[item.uid] = _row(account_id, folder, uidvalidity, item)
        synced = list(by_uid.values())
        if not synced and not imported:
            return 0
        changed = 0
        with self._tx(conn) as tx:
            high_water = messages_high_water(tx) if synced else 0
            if synced:
                uids = json.dumps([row[3] for row in synced])
                known = dict(
                    tx.execute(_EXISTING_UIDS, (account_id, folder, uidvalidity, uids)).fetchall()
                )
                if known:
                    updates = [
                        (*row[_FIRST_UPDATABLE:], known[row[3]])
                        for row in synced
                        if row[3] in known
                    ]
                    synced = [row for row in synced if row[3] not in known]
                    # Changes of indexed text re-index through the update trigger.
                    changed += tx.executemany(_UPDATE_BY_ID, updates).rowcount
                if synced:
                    changed += tx.executemany(_INSERT, synced).rowcount
                    found = [(u, i.bounce) for u, i in bounces.items() if i.bounce is not None]
                    record_new_mail(tx, high_water, skip_uids=[uid for uid, _ in found])
                    if found:
                        record_bounces(tx, account_id, folder, uidvalidity, high_water, found)
            if imported:
                changed += tx.executemany(_INSERT_IMPORT, imported).rowcount
            if index:
                for sql in _INDEX_PENDING:
                    tx.execute(sql)
                tx.execute(_ADVANCE_WATERMARK)
        return changed

    def upsert_summaries(
        self,
        account_id: AccountId,
        folder: str,
        uidvalidity: int,
        items: Iterable[SummaryItem],
        *,
        conn: sqlite3.Connection | None = None,
    ) -> int:
        """Store synced messages as summaries plus raw bytes, pending completion.

        New UIDs get a summary row (listable and filterable by sender, recipients, subject,
        date, flags and threading ids at once) holding the raw bytes, pending; completion
        (:meth:`pending`, :meth:`complete`) adds bodies, attachments and the full-text
        entries. A UID already stored keeps its row (UID and UIDVALIDITY name immutable
        content) and gets its flags updated. No full-text indexing here. Returns rows
        inserted or updated.

        With ``conn`` (a connection inside an open transaction) the writes join it, so a
        sync commits a batch and its cursor move together.
        """
        by_uid = {item.uid: item for item in items}  # a UID twice: the later copy wins
        if not by_uid:
            return 0
        rows = [_summary_row(account_id, folder, uidvalidity, item) for item in by_uid.values()]
        with self._tx(conn) as tx:
            high_water = messages_high_water(tx)
            # One statement per chunk, existing UIDs included (their flags updated by the
            # upsert clause): no lookup first, so the writing thread takes the GIL back
            # fewer times per batch (see _insert_rows).
            changed = _insert_rows(tx, _SUMMARY_INSERT, rows, _SUMMARY_UPSERT_CLAUSE)
            # The batch's new_mail events: one INSERT ... SELECT of the rows just inserted.
            quiet = [item.uid for item in by_uid.values() if item.quiet or item.bounce]
            record_new_mail(tx, high_water, skip_uids=quiet)
            found = [(i.uid, i.bounce) for i in by_uid.values() if i.bounce is not None]
            if found:  # bounces are rare: nothing more for a batch without any
                record_bounces(tx, account_id, folder, uidvalidity, high_water, found)
            return changed

    def set_completion_settings(self, account_id: AccountId, settings: CompletionSettings) -> None:
        """Record how this account's pending rows are to be completed.

        Written by a sync before it stores summaries, so whoever completes them (the sync
        itself, or a read that gets there first) applies the same body cap and saves
        attachment bytes under the same policy (only when the policy has a root).
        """
        policy = settings.attachments
        if policy is not None and not policy.root:
            policy = None
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO completion_settings (account_id, max_body_bytes, "
                "attachment_root, attachment_max_bytes, attachment_types) VALUES (?, ?, ?, ?, ?)",
                (
                    account_id,
                    settings.max_body_bytes,
                    None if policy is None else str(policy.root),
                    0 if policy is None else policy.max_bytes,
                    _to_json(list(policy.allowed_types) if policy is not None else []),
                ),
            )

    def completion_settings(self, account_id: AccountId) -> CompletionSettings | None:
        """What :meth:`set_completion_settings` recorded for the account, or None."""
        row = self._one(
            "SELECT max_body_bytes, attachment_root, attachment_max_bytes, attachment_types "
            "FROM completion_settings WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return None
        policy = None
        if row[1] is not None:
            policy = AttachmentPolicy(
                root=Path(row[1]),
                max_bytes=int(row[2]),
                allowed_types=tuple(str(t) for t in json.loads(row[3])),
            )
        return CompletionSettings(int(row[0]), policy)

    def has_pending(self, account_id: AccountId | None = None) -> bool:
        """Whether some rows (of ``account_id``, or of any account) await completion."""
        if account_id is None:
            row = self._one("SELECT 1 FROM messages WHERE raw IS NOT NULL LIMIT 1")
        else:
            row = self._one(
                "SELECT 1 FROM messages WHERE account_id = ? AND raw IS NOT NULL LIMIT 1",
                (account_id,),
            )
        return row is not None

    def pending(
        self,
        account_id: AccountId | None,
        *,
        limit: int,
        after: MessageKey = 0,
        keys: Iterable[MessageKey] | None = None,
    ) -> list[PendingRow]:
        """Up to ``limit`` pending rows with keys above ``after``, in key order: of one
        account (or all, for None), and only ``keys`` when given."""
        assert limit >= 1
        sql = _PENDING_BATCH
        params: list[object] = [after]
        if account_id is not None:
            sql += " AND account_id = ?"
            params.append(account_id)
        if keys is not None:
            sql += " AND id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted({int(k) for k in keys})))
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [
            PendingRow(int(key), int(acc), bytes(raw), tuple(stored))
            for key, acc, raw, *stored in self._rows(sql, params)
        ]

    def complete(self, rows: Sequence[CompletedRow]) -> int:
        """Store the completion of ``rows`` in one transaction; returns how many it completed.

        Each row gets bodies, snippet, headers and attachment metadata, is full-text indexed,
        and its raw bytes are dropped. A row another completer finished meanwhile is
        skipped (safe from several threads and processes).
        """
        updates: list[tuple[object, ...]] = []
        for row in rows:
            update = _completed_row(row.pending.key, row.parsed, row.attachments)
            if update[:_SUMMARY_PART] == row.pending.stored:
                update = update[_SUMMARY_PART + 1 :]
            updates.append(update)
        if not updates:
            return 0
        ids = json.dumps([u[-1] for u in updates])
        with self.db.transaction() as tx:
            still = {int(r[0]) for r in tx.execute(_STILL_PENDING, (ids,))}
            todo = [u for u in updates if u[-1] in still]
            if todo:
                narrow = [u for u in todo if len(u) == 9]
                wide = [u for u in todo if len(u) != 9]
                if narrow:
                    tx.executemany(_COMPLETE_BODIES_BY_ID, narrow)
                if wide:
                    tx.executemany(_COMPLETE_BY_ID, wide)
                top = max(still)
                for sql in _INDEX_UPTO:
                    tx.execute(sql, (top,))
                tx.execute(_ADVANCE_WATERMARK_TO, (top,))
        return len(todo)

    def has_pending_index(self) -> bool:
        """Whether some stored rows are not full-text indexed yet."""
        row = self._one(_PENDING)
        return bool(row and row[0])

    def index_pending(self) -> int:
        """Full-text index every row stored with ``index=False``; returns how many."""
        if not self.has_pending_index():
            return 0
        with self.db.transaction() as tx:
            count = tx.execute(_INDEX_PENDING[0]).rowcount
            tx.execute(_INDEX_PENDING[1])
            tx.execute(_ADVANCE_WATERMARK)
        return max(count, 0)

    def _uidvalidities(self, account_id: AccountId, folder: str, given: int | None) -> list[int]:
        """The UIDVALIDITY values to address: the given one, else every stored one (one, normally).

        Statements keyed on (account, folder, uidvalidity, uid) use the UID index; without
        uidvalidity they would scan the whole folder once per UID.
        """
        if given is not None:
            return [given]
        rows = self._rows(
            "SELECT DISTINCT uidvalidity FROM messages INDEXED BY messages_by_uid "
            "WHERE account_id = ? AND folder = ? AND uid IS NOT NULL",
            (account_id, folder),
        )
        return [int(r[0]) for r in rows]

    def set_flags(
        self,
        account_id: AccountId,
        folder: str,
        flags_by_uid: Mapping[int, Iterable[str]],
        *,
        uidvalidity: int | None = None,
    ) -> int:
        """Replace the flags of stored UIDs; returns how many rows changed.

        Without ``uidvalidity``, UIDs are matched under every stored UIDVALIDITY of the folder.
        """
        if not flags_by_uid:
            return 0
        rows: list[tuple[str, int, int]] = []
        for uid, flags in flags_by_uid.items():
            joined = " ".join(flags)
            rows.append((joined, 1 if _SEEN in joined.split() else 0, int(uid)))
        sql = (
            "UPDATE messages SET flags = ?, seen = ? WHERE account_id = ? AND folder = ? "
            "AND uidvalidity = ? AND uid = ? AND flags IS NOT ?"
        )
        changed = 0
        with self.db.transaction() as tx:
            for validity in self._uidvalidities(account_id, folder, uidvalidity):
                params = [
                    (joined, seen, account_id, folder, validity, uid, joined)
                    for joined, seen, uid in rows
                ]
                changed += tx.executemany(sql, params).rowcount
        return changed

    def delete_uids(
        self,
        account_id: AccountId,
        folder: str,
        uids: Iterable[int],
        *,
        uidvalidity: int | None = None,
    ) -> int:
        """Delete stored messages by UID (their search index entries go with them).

        Without ``uidvalidity``, UIDs are matched under every stored UIDVALIDITY of the folder.
        """
        # One statement, not executemany: each statement's savepoint flushes FTS5's
        # pending deletes into a new index segment.
        wanted = json.dumps(sorted({int(uid) for uid in uids}))
        if wanted == "[]":
            return 0
        where = (
            "m.account_id = ? AND m.folder = ? AND m.uidvalidity = ? "
            "AND m.uid IN (SELECT value FROM json_each(?))"
        )
        changed = 0
        with self.db.transaction() as tx:
            for validity in self._uidvalidities(account_id, folder, uidvalidity):
                params = (account_id, folder, validity, wanted)
                record_from_messages(tx, "expunged", where, params)
                changed += tx.execute(f"DELETE FROM messages AS m WHERE {where}", params).rowcount
        return changed

    def delete_folder(self, account_id: AccountId, folder: str) -> int:
        """Delete every stored message of a folder (a UIDVALIDITY reset)."""
        with self.db.transaction() as tx:
            cur = tx.execute(
                "DELETE FROM messages WHERE account_id = ? AND folder = ?", (account_id, folder)
            )
            return cur.rowcount

    # --- sync helpers -------------------------------------------------------------------

    def uids_in_folder(self, account_id: AccountId, folder: str, uidvalidity: int) -> set[int]:
        """UIDs stored for (account, folder, uidvalidity)."""
        rows = self._rows(
            "SELECT uid FROM messages "
            "WHERE account_id = ? AND folder = ? AND uidvalidity = ? AND uid IS NOT NULL",
            (account_id, folder, uidvalidity),
        )
        return {r[0] for r in rows}

    def uid_flags(
        self, account_id: AccountId, folder: str, uidvalidity: int
    ) -> dict[int, tuple[str, ...]]:
        """Stored flags by UID for (account, folder, uidvalidity): the base of a flag scan."""
        rows = self._rows(
            "SELECT uid, flags FROM messages "
            "WHERE account_id = ? AND folder = ? AND uidvalidity = ? AND uid IS NOT NULL",
            (account_id, folder, uidvalidity),
        )
        return {r[0]: _words(r[1]) for r in rows}

    def max_uid(self, account_id: AccountId, folder: str, uidvalidity: int) -> int | None:
        """The highest stored UID, or None when the folder holds none."""
        row = self._one(
            "SELECT max(uid) FROM messages "
            "WHERE account_id = ? AND folder = ? AND uidvalidity = ? AND uid IS NOT NULL",
            (account_id, folder, uidvalidity),
        )
        return None if row is None or row[0] is None else int(row[0])

    def find_by_message_id(self, account_id: AccountId, message_id: str) -> list[MessageSummary]:
        """Stored messages with this Message-ID (any folder), newest first, as stored."""
        rows = self._rows(
            f"SELECT {_SUMMARY} FROM messages INDEXED BY messages_by_message_id "
            "WHERE account_id = ? AND message_id = ? "
            "ORDER BY sort_date DESC, id DESC",
            (account_id, message_id),
        )
        return [_summary(r) for r in rows]

    # --- reads --------------------------------------------------------------------------
    # As stored: a pending row has its summary but no bodies yet. services/mailbox.py
    # completes what a read returns first.

    def get(self, account_id: AccountId, key: MessageKey) -> Message | None:
        """The message as stored, or None (also when it belongs to another account)."""
        if not 0 < key <= KEY_MAX:  # a WIT u64 past SQLite's INTEGER names no row
            return None
        row = self._one(
            f"SELECT {_FULL} FROM messages WHERE id = ? AND account_id = ?", (key, account_id)
        )
        return None if row is None else _message(row)

    def count(self, account_id: AccountId, folder: str | None = None) -> int:
        sql = "SELECT count(*) FROM messages WHERE account_id = ?"
        params: list[object] = [account_id]
        if folder is not None:
            sql += " AND folder = ?"
            params.append(folder)
        row = self._one(sql, params)
        return 0 if row is None else int(row[0])

    def list_page(self, q: ListQuery) -> ListedPage:
        """Newest first (date DESC, id DESC; undated last), keyset-paginated, in one read.

        :raises InvalidArgument: a cursor this store did not hand out.
        """
        where = ["account_id = ?"]
        params: list[object] = [q.account_id]
        if q.folder is not None:
            where.append("folder = ?")
            params.append(q.folder)
        if q.unseen_only:
            where.append("seen = 0")
        if q.automated is not None:
            where.append("automated IS NOT NULL" if q.automated else "automated IS NULL")
        return self._page(where, params, q.limit, q.cursor)

    def search(self, q: SearchQuery) -> MessagePage:
        """Every present criterion must match; same order and cursors as :meth:`list_page`.

        What text criteria match is ``store/fts.py``'s docstring. Pending rows are not
        searched by their bodies: complete the account first (``services/mailbox.py``).
        Rows stored with ``index=False`` are indexed here first.

        :raises InvalidArgument: a cursor this store did not hand out, or a text
            criterion without any letter or digit.
        """
        plan = plan_search(text=q.text, subject=q.subject, from_=q.from_, to=q.to, body=q.body)
        where = ["account_id = ?"]
        params: list[object] = [q.account_id]
        if q.folder is not None:
            where.append("folder = ?")
            params.append(q.folder)
        if q.unseen is not None:
            where.append("seen = ?")
            params.append(0 if q.unseen else 1)
        if q.automated is not None:
            where.append("automated IS NOT NULL" if q.automated else "automated IS NULL")
        if q.since is not None:
            where.append("date >= ?")
            params.append(q.since)
        if q.before is not None:
            where.append("date < ?")
            params.append(q.before)
        if plan.words is not None or plan.trigrams is not None:
            self.index_pending()  # a deferred index step catches up before the query
        if plan.words is not None:
            where.append("id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)")
            params.append(plan.words)
        if plan.trigrams is not None:
            where.append("id IN (SELECT rowid FROM messages_trgm WHERE messages_trgm MATCH ?)")
            params.append(plan.trigrams)
        for condition, value in plan.checks:
            where.append(condition)
            params.append(value)
        return self._page(where, params, q.limit, q.cursor).page

    def uid_page(
        self,
        account_id: AccountId,
        folder: str,
        uidvalidity: int,
        uids: Iterable[int],
        *,
        limit: int,
        cursor: str | None = None,
        since: int | None = None,
        before: int | None = None,
    ) -> ListedPage:
        """The stored messages among ``uids`` of one folder, in listing order and pages
        (what a server-side search found); ``since``/``before`` as in :meth:`search`.

        :raises InvalidArgument: a cursor this store did not hand out.
        """
        where = [
            "account_id = ?",
            "folder = ?",
            "uidvalidity = ?",
            "uid IN (SELECT value FROM json_each(?))",
        ]
        params: list[object] = [account_id, folder, uidvalidity, json.dumps(sorted(set(uids)))]
        if since is not None:
            where.append("date >= ?")
            params.append(since)
        if before is not None:
            where.append("date < ?")
            params.append(before)
        return self._page(where, params, limit, cursor)

    def _page(
        self, where: list[str], params: list[object], limit: int, cursor: str | None
    ) -> ListedPage:
        assert limit >= 1  # bounds are the host functions' (configured), not the store's
        if cursor is not None:
            sort_date, key = decode_cursor(cursor)
            where.append("(sort_date, id) < (?, ?)")
            params += [sort_date, key]
        # typeof() reads the type from the record header; `raw IS NOT NULL` would load the
        # raw bytes from their overflow pages (measured: 60x slower with 300 KB messages).
        sql = (
            f"SELECT {_SUMMARY}, typeof(raw) != 'null' FROM messages "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY sort_date DESC, id DESC LIMIT ?"
        )
        params.append(limit + 1)
        rows = self._rows(sql, params)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1][14], rows[-1][0]) if more and rows else None
        page = _types.MessagePage(tuple(_summary(r) for r in rows), next_cursor)
        return ListedPage(page, frozenset(int(r[0]) for r in rows if r[_SUMMARY_WIDTH]))
