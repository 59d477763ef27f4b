"""store.messages: idempotent batch upserts, keyset pages, sync helpers, FTS kept in step."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prx_email.errors import InvalidArgument
from prx_email.mail.parse import parse_message
from prx_email.store.db import Database
from prx_email.store.messages import MessageStore, StoreItem
from prx_email.types import ListQuery, SearchQuery

SEEN = "\\Seen"


def raw(
    n: int, *, date: str | None = "default", subject: str | None = None, body: str = ""
) -> bytes:
    if date == "default":
        date = f"Mon, {1 + n % 28} Jun 2026 {n % 24:02d}:00:00 +0000"
    lines = [
        f"From: Sender {n} <s{n}@example.com>",
        f"To: Rcpt <r{n}@example.org>",
        f"Subject: {subject if subject is not None else f'message {n}'}",
        f"Message-ID: <m{n}@example.com>",
    ]
    if date is not None:
        lines.append(f"Date: {date}")
    return ("\r\n".join(lines) + "\r\n\r\n" + (body or f"body of message {n}") + "\r\n").encode()


def item(uid: int | None, data: bytes, flags: tuple[str, ...] = ()) -> StoreItem:
    return StoreItem(uid=uid, flags=flags, size=len(data), parsed=parse_message(data))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "store.db")
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> MessageStore:
    return MessageStore(db)


def all_pages(store: MessageStore, q: ListQuery) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        page = store.list_page(
            ListQuery(q.account_id, q.folder, q.unseen_only, q.limit, cursor)
        ).page
        ids += [m.id for m in page.messages]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_upsert_is_idempotent_per_uid_and_uidvalidity(store: MessageStore) -> None:
    items = [item(uid, raw(uid)) for uid in range(1, 6)]
    assert store.upsert_many(1, "INBOX", 100, items) == 5
    first = {m.uid: m.id for m in store.list_page(ListQuery(1)).page.messages}
    store.upsert_many(1, "INBOX", 100, items)
    again = {m.uid: m.id for m in store.list_page(ListQuery(1)).page.messages}
    assert first == again and store.count(1) == 5
    # Same UIDs under another UIDVALIDITY are other messages.
    store.upsert_many(1, "INBOX", 101, items[:2])
    assert store.count(1) == 7
    assert store.uids_in_folder(1, "INBOX", 100) == {1, 2, 3, 4, 5}
    assert store.uids_in_folder(1, "INBOX", 101) == {1, 2}
    assert store.max_uid(1, "INBOX", 100) == 5
    assert store.max_uid(1, "Other", 100) is None


def test_upsert_updates_flags_and_content(store: MessageStore) -> None:
    store.upsert_many(1, "INBOX", 1, [item(7, raw(7, body="old words zebra"))])
    key = store.list_page(ListQuery(1)).page.messages[0].id
    store.upsert_many(1, "INBOX", 1, [item(7, raw(7, body="new words yak"), (SEEN,))])
    msg = store.get(1, key)
    assert msg is not None and msg.summary.flags == (SEEN,)
    assert msg.body_text == "new words yak\n"
    assert [m.id for m in store.search(SearchQuery(1, text="yak")).messages] == [key]
    assert store.search(SearchQuery(1, text="zebra")).messages == ()
    check_index(store.db)


def test_imports_dedupe_by_content(store: MessageStore) -> None:
    data = raw(1)
    assert store.upsert_many(1, "INBOX", 0, [item(None, data), item(None, data)]) == 1
    assert store.upsert_many(1, "INBOX", 0, [item(None, data)]) == 0
    assert store.upsert_many(1, "Archive", 0, [item(None, data)]) == 1
    assert store.count(1) == 2


def test_get_round_trips_every_field(store: MessageStore) -> None:
    data = (
        b"From: A <a@example.com>\r\nTo: B <b@example.org>, c@example.org\r\n"
        b"Cc: D <d@example.net>\r\nReply-To: R <r@example.com>\r\nSubject: full\r\n"
        b"Message-ID: <full@x>\r\nIn-Reply-To: <p@x>\r\nReferences: <o@x> <p@x>\r\n"
        b"Date: Tue, 3 Mar 2026 00:00:00 +0000\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b'--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="p.png"\r\n'
        b"\r\nPNGDATA\r\n--b--\r\n"
    )
    store.upsert_many(1, "INBOX", 9, [item(3, data, (SEEN, "\\Flagged"))])
    key = store.list_page(ListQuery(1)).page.messages[0].id
    msg = store.get(1, key)
    assert msg is not None
    s = msg.summary
    assert (s.account_id, s.folder, s.uid, s.message_id) == (1, "INBOX", 3, "<full@x>")
    assert s.from_ == "A <a@example.com>"
    assert s.to == ("B <b@example.org>", "c@example.org")
    assert s.cc == ("D <d@example.net>",)
    assert s.date == 1772496000 and s.flags == (SEEN, "\\Flagged")
    assert s.has_attachments and s.size == len(data) and s.snippet == "hello"
    assert msg.reply_to == ("R <r@example.com>",)
    assert msg.in_reply_to == "<p@x>" and msg.references == ("<o@x>", "<p@x>")
    assert msg.body_text == "hello" and msg.body_html is None and not msg.body_truncated
    assert [(a.index, a.filename, a.content_type, a.size, a.stored) for a in msg.attachments] == [
        (0, "p.png", "image/png", 7, False)
    ]
    assert ("Subject", "full") in [(h.name, h.value) for h in msg.headers]
    assert store.get(2, key) is None  # another account's key
    assert store.get(1, key + 1000) is None


def test_listing_order_newest_first_undated_last(store: MessageStore) -> None:
    items = [
        item(1, raw(1, date="Mon, 1 Jun 2026 10:00:00 +0000")),
        item(2, raw(2, date=None)),
        item(3, raw(3, date="Wed, 3 Jun 2026 10:00:00 +0000")),
        item(4, raw(4, date="garbage")),
        item(5, raw(5, date="Wed, 3 Jun 2026 10:00:00 +0000")),  # same date as 3
        item(6, raw(6, date="Tue, 2 Jun 2026 10:00:00 +0000")),
    ]
    store.upsert_many(1, "INBOX", 1, items)
    uids = [m.uid for m in store.list_page(ListQuery(1, limit=10)).page.messages]
    assert uids == [5, 3, 6, 1, 4, 2]
    for limit in (1, 2, 4, 5):
        keys = all_pages(store, ListQuery(1, limit=limit))
        assert [store.get(1, k).summary.uid for k in keys] == uids  # type: ignore[union-attr]


def test_pages_are_stable_under_concurrent_inserts(store: MessageStore) -> None:
    store.upsert_many(1, "INBOX", 1, [item(i, raw(i)) for i in range(1, 41)])
    before = all_pages(store, ListQuery(1, limit=500))
    seen: list[int] = []
    order: list[tuple[int, int]] = []
    page = store.list_page(ListQuery(1, limit=7)).page
    n = 100
    while True:
        seen += [m.id for m in page.messages]
        order += [(-(1 << 62) if m.date is None else m.date, m.id) for m in page.messages]
        # New mail, newer and older than the cursor, arrives between pages.
        store.upsert_many(1, "INBOX", 1, [item(n, raw(n)), item(n + 1, raw(n + 1, date=None))])
        n += 2
        if page.next_cursor is None:
            break
        page = store.list_page(ListQuery(1, limit=7, cursor=page.next_cursor)).page
    assert len(seen) == len(set(seen))  # nothing twice
    assert set(before) <= set(seen)  # nothing that existed was skipped
    assert order == sorted(order, reverse=True)  # one consistent newest-first walk


def test_folder_and_unseen_filters(store: MessageStore) -> None:
    store.upsert_many(1, "INBOX", 1, [item(1, raw(1), (SEEN,)), item(2, raw(2))])
    store.upsert_many(1, "Archive", 1, [item(1, raw(3))])
    store.upsert_many(2, "INBOX", 1, [item(1, raw(4))])
    assert {m.uid for m in store.list_page(ListQuery(1, folder="INBOX")).page.messages} == {1, 2}
    assert [m.folder for m in store.list_page(ListQuery(1, folder="Archive")).page.messages] == [
        "Archive"
    ]
    unseen = store.list_page(ListQuery(1, unseen_only=True)).page.messages
    assert {(m.folder, m.uid) for m in unseen} == {("INBOX", 2), ("Archive", 1)}
    assert store.count(1) == 3 and store.count(2) == 1


def test_set_flags_and_uid_flags(store: MessageStore) -> None:
    store.upsert_many(1, "INBOX", 5, [item(u, raw(u)) for u in (1, 2, 3)])
    assert store.set_flags(1, "INBOX", {1: [SEEN], 2: [SEEN, "\\Answered"], 99: [SEEN]}) == 2
    assert store.set_flags(1, "INBOX", {1: [SEEN]}) == 0  # unchanged rows are not rewritten
    assert store.uid_flags(1, "INBOX", 5) == {1: (SEEN,), 2: (SEEN, "\\Answered"), 3: ()}
    assert store.set_flags(1, "INBOX", {3: [SEEN]}, uidvalidity=6) == 0
    unseen = store.list_page(ListQuery(1, unseen_only=True)).page.messages
    assert [m.uid for m in unseen] == [3]


def test_delete_uids_removes_search_entries(store: MessageStore, db: Database) -> None:
    store.upsert_many(1, "INBOX", 5, [item(u, raw(u, body=f"unique{u} shared")) for u in (1, 2, 3)])
    assert store.delete_uids(1, "INBOX", [2, 42]) == 1
    assert store.uids_in_folder(1, "INBOX", 5) == {1, 3}
    assert store.search(SearchQuery(1, text="unique2")).messages == ()
    assert len(store.search(SearchQuery(1, text="shared")).messages) == 2
    assert store.delete_uids(1, "INBOX", [1], uidvalidity=4) == 0
    fts_rows = db.connect().execute("SELECT count(*) FROM messages_fts").fetchone()[0]
    assert fts_rows == 2
    check_index(db)


def check_index(db: Database) -> None:
    """The FTS index holds exactly what indexing the stored rows afresh would hold."""
    conn = db.connect()
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    fts_rows = conn.execute("SELECT count(*) FROM messages_fts").fetchone()[0]
    assert fts_rows == conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.execute("DROP TABLE IF EXISTS temp.fresh_fts")
    conn.execute(
        "CREATE VIRTUAL TABLE temp.fresh_fts USING fts5(subject, from_addr, to_addrs, "
        "cc_addrs, body, content='', tokenize='unicode61 remove_diacritics 2')"
    )
    conn.execute(
        "INSERT INTO temp.fresh_fts (rowid, subject, from_addr, to_addrs, cc_addrs, body) "
        "SELECT id, subject, from_addr, to_addrs, cc_addrs, "
        "coalesce(body_text, body_html_text, '') FROM messages"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.v_live USING fts5vocab(main, messages_fts, row)"
    )
    conn.execute("DROP TABLE IF EXISTS temp.v_fresh")
    conn.execute("CREATE VIRTUAL TABLE temp.v_fresh USING fts5vocab(temp, fresh_fts, row)")
    live = conn.execute(
        "SELECT term, doc, cnt FROM temp.v_live WHERE doc != 0 ORDER BY term"
    ).fetchall()
    fresh = conn.execute("SELECT term, doc, cnt FROM temp.v_fresh ORDER BY term").fetchall()
    assert [tuple(r) for r in live] == [tuple(r) for r in fresh]


def test_delete_folder_for_uidvalidity_reset(store: MessageStore, db: Database) -> None:
    store.upsert_many(1, "INBOX", 5, [item(u, raw(u)) for u in (1, 2)])
    store.upsert_many(1, "Other", 5, [item(1, raw(9))])
    assert store.delete_folder(1, "INBOX") == 2
    assert store.count(1) == 1
    assert db.connect().execute("SELECT count(*) FROM messages_fts").fetchone()[0] == 1
    # Keys are never reused after a delete.
    store.upsert_many(1, "INBOX", 6, [item(1, raw(1))])
    keys = [m.id for m in store.list_page(ListQuery(1)).page.messages]
    assert len(keys) == len(set(keys)) and max(keys) == 4
    check_index(db)


def test_find_by_message_id(store: MessageStore) -> None:
    store.upsert_many(1, "INBOX", 1, [item(1, raw(1))])
    store.upsert_many(1, "Sent", 1, [item(1, raw(1))])
    found = store.find_by_message_id(1, "<m1@example.com>")
    assert {m.folder for m in found} == {"INBOX", "Sent"}
    assert store.find_by_message_id(2, "<m1@example.com>") == []
    assert store.find_by_message_id(1, "<nope@x>") == []


@pytest.mark.parametrize("cursor", ["", "garbage!", "bTE6eDp5", "YWJj", "x" * 500, "é"])
def test_bad_cursor_is_invalid_argument(store: MessageStore, cursor: str) -> None:
    with pytest.raises(InvalidArgument):
        store.list_page(ListQuery(1, cursor=cursor))


def test_the_store_takes_any_limit(store: MessageStore) -> None:
    # Page bounds are the host functions' (configured); the store takes the limit given.
    store.upsert_many(1, "INBOX", 1, [item(uid, raw(uid)) for uid in range(1, 603)])
    listed = store.list_page(ListQuery(1, limit=601))
    assert len(listed.page.messages) == 601 and listed.page.next_cursor is not None
    assert listed.pending == frozenset()  # fully parsed rows are never pending


def test_concurrent_writers_and_readers(db: Database) -> None:
    store = MessageStore(db)
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            for i in range(10):
                uid = base + i
                store.upsert_many(1, "INBOX", 1, [item(uid, raw(uid, body=f"tok{uid}"))])
                # What a committed upsert stored is searchable at once.
                found = store.search(SearchQuery(1, text=f"tok{uid}")).messages
                assert [m.uid for m in found] == [uid]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (1000, 2000, 3000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count(1) == 30


def test_mixed_batches_keep_the_index_exact(store: MessageStore, db: Database) -> None:
    store.upsert_many(1, "INBOX", 1, [item(1, raw(1, body="alpha")), item(2, raw(2))])
    batch = [
        item(2, raw(2, body="bravo changed")),  # known UID, new text
        item(3, raw(3, body="charlie")),  # new
        item(3, raw(3, body="delta")),  # the same new UID again: the later copy wins
        item(1, raw(1, body="alpha"), (SEEN,)),  # known UID, flags only
    ]
    assert store.upsert_many(1, "INBOX", 1, batch) == 3  # rows, not items
    assert store.uids_in_folder(1, "INBOX", 1) == {1, 2, 3}

    def uids(text: str) -> list[int | None]:
        return [m.uid for m in store.search(SearchQuery(1, text=text)).messages]

    assert uids("bravo") == [2]
    assert uids("delta") == [3]
    assert uids("charlie") == []
    assert uids("alpha") == [1]
    check_index(db)


_op: st.SearchStrategy[tuple[str, list[Any]]] = st.one_of(
    st.tuples(
        st.sampled_from(["upsert", "upsert-deferred"]),
        st.lists(
            st.tuples(st.integers(1, 6), st.sampled_from(["red fox", "blue owl", "red owl", ""])),
            max_size=5,
        ),
    ),
    st.tuples(st.just("flags"), st.lists(st.integers(1, 6), max_size=3)),
    st.tuples(st.just("delete"), st.lists(st.integers(1, 6), max_size=3)),
    st.tuples(st.just("import"), st.lists(st.sampled_from(["red", "owl", "cat"]), max_size=3)),
    st.tuples(st.sampled_from(["reset", "index"]), st.just([])),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_op, max_size=8))
def test_any_write_sequence_keeps_the_index_exact(ops: list[tuple[str, list[Any]]]) -> None:
    database = Database(":memory:")
    store = MessageStore(database)
    for name, args in ops:
        if name.startswith("upsert"):
            batch = [item(u, raw(u, body=b or "-")) for u, b in args]
            store.upsert_many(1, "INBOX", 1, batch, index=name == "upsert")
        elif name == "flags":
            store.set_flags(1, "INBOX", {u: [SEEN] for u in args})
        elif name == "delete":
            store.delete_uids(1, "INBOX", args)
        elif name == "import":
            store.upsert_many(1, "Local", 0, [item(None, raw(7, body=w)) for w in args])
        elif name == "index":
            store.index_pending()
        else:
            store.delete_folder(1, "INBOX")
    # Searching catches a deferred index up first; then the index is exact.
    for word in ("red", "owl", "fox", "cat"):
        found = {m.id for m in store.search(SearchQuery(1, text=word, limit=500)).messages}
        expected = {
            r[0]
            for r in database.connect().execute(
                "SELECT id, body_text FROM messages WHERE account_id = 1"
            )
            if word in (r[1] or "").split()
        }
        assert found == expected
    assert not store.has_pending_index()
    check_index(database)
    database.close()


def test_deferred_indexing(store: MessageStore, db: Database) -> None:
    store.upsert_many(1, "INBOX", 1, [item(1, raw(1, body="kept"))])
    store.upsert_many(
        1, "INBOX", 1, [item(u, raw(u, body=f"later{u}")) for u in (2, 3, 4)], index=False
    )
    assert store.has_pending_index()
    # Pending rows can change or go before they are indexed.
    store.upsert_many(1, "INBOX", 1, [item(3, raw(3, body="changed"))], index=False)
    store.delete_uids(1, "INBOX", [4])
    assert [m.uid for m in store.list_page(ListQuery(1)).page.messages] == [
        3,
        2,
        1,
    ]  # listed at once
    assert [m.uid for m in store.search(SearchQuery(1, text="later2")).messages] == [2]
    assert not store.has_pending_index()
    assert [m.uid for m in store.search(SearchQuery(1, text="changed")).messages] == [3]
    assert store.search(SearchQuery(1, text="later3")).messages == ()
    assert store.index_pending() == 0
    check_index(db)
    # An inline batch also indexes whatever an earlier deferred batch left.
    store.upsert_many(1, "INBOX", 1, [item(5, raw(5, body="five"))], index=False)
    store.upsert_many(1, "INBOX", 1, [item(6, raw(6, body="six"))])
    assert not store.has_pending_index()
    check_index(db)


def test_migrations_are_contiguous_and_all_applied(tmp_path: Path) -> None:
    from prx_email.store import db as dbmod

    numbers = [n for n, _, _ in dbmod._migrations()]
    assert numbers == list(range(1, len(numbers) + 1))
    database = dbmod.Database(tmp_path / "v.db")
    try:
        version = database.connect().execute("PRAGMA user_version").fetchone()[0]
        assert version == numbers[-1]
    finally:
        database.close()


def test_new_store_uses_16k_pages_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    import sqlite3

    new = Database(tmp_path / "new.db")
    try:
        assert new.connect().execute("PRAGMA page_size").fetchone()[0] == 16384
    finally:
        new.close()
    # A store created with another page size (an older release) is opened as it is.
    old_path = tmp_path / "old.db"
    raw = sqlite3.connect(old_path)
    raw.execute("PRAGMA page_size=4096")
    raw.execute("CREATE TABLE t (x)")
    raw.close()
    old = Database(old_path)
    try:
        assert old.connect().execute("PRAGMA page_size").fetchone()[0] == 4096
        assert old.connect().execute("PRAGMA user_version").fetchone()[0] >= 1
    finally:
        old.close()


def test_uid_page_lists_the_found_uids_in_listing_order(store: MessageStore) -> None:
    store.upsert_many(1, "INBOX", 7, [item(uid, raw(uid)) for uid in range(1, 11)])
    store.upsert_many(1, "Archive", 7, [item(uid, raw(uid)) for uid in range(1, 4)])
    first = store.uid_page(1, "INBOX", 7, [2, 3, 9, 99], limit=2)
    assert [m.uid for m in first.page.messages] == [9, 3] and first.page.next_cursor
    rest = store.uid_page(1, "INBOX", 7, [2, 3, 9, 99], limit=2, cursor=first.page.next_cursor)
    assert [m.uid for m in rest.page.messages] == [2] and rest.page.next_cursor is None
    assert store.uid_page(1, "INBOX", 8, [2, 3], limit=5).page.messages == ()
    dated = store.uid_page(1, "INBOX", 7, range(1, 11), limit=50, since=raw_date(3))
    assert all(m.date is not None and m.date >= raw_date(3) for m in dated.page.messages)


def raw_date(n: int) -> int:
    date = parse_message(raw(n)).date
    assert date is not None
    return date
