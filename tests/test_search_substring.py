"""Search filters are case-insensitive substrings, CJK included; the trigram index is kept in
step with the rows (same transaction) and built for existing stores by migration 0006."""

from __future__ import annotations

import mailbox
import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from prx_email.mail.parse import parse_message
from prx_email.services.importer import import_path
from prx_email.services.mailbox import list_messages, search_local
from prx_email.store import db as store_db
from prx_email.store.db import Database
from prx_email.store.messages import MessageStore, StoreItem
from prx_email.types import ListQuery, SearchQuery

MESSAGES = [
    # subject, from, to, body
    ("Delta launch review", "Jürgen Groß <jg@example.org>", "ops@example.net", "go for it"),
    ("明天会议室预订", "李雷 <li@example.cn>", "team@example.cn", "请确认时间"),
    ("Quarterly numbers", "Ann <ann@example.org>", "cfo@example.net", "margin 50% up_front"),
    ("ÉCOLE reunion", "Zoë <zoe@example.org>", "all@example.net", "会议 at noon"),
    ("Re: lunch", "Bob <bob@example.org>", "ann@example.org", "A1 or b2?"),
    # Both trigrams of "elta" ("elt", "lta"), never together: a candidate the check drops.
    ("belt ultra-light", "Cy <cy@example.org>", "x@example.net", "plain"),
]


def _mbox(path: Path) -> Path:
    box = mailbox.mbox(path)
    for i, (subject, from_, to, body) in enumerate(MESSAGES):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = from_, to, subject
        m["Message-ID"] = f"<s{i}@example.org>"
        m["Date"] = f"Mon, {i + 1} Jun 2026 10:00:00 +0000"
        m.set_content(body)
        box.add(m)
    box.close()
    return path


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp("substring")
    database = Database(folder / "mail.db")
    assert import_path(database, _mbox(folder / "s.mbox"), account_id=1).imported == len(MESSAGES)
    yield database
    database.close()


def subjects(db: Database, **criteria: object) -> set[str]:
    q = SearchQuery(account_id=1, **criteria)  # type: ignore[arg-type]
    return {m.subject for m in search_local(db, q).messages}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"subject": "elta"}, {"Delta launch review"}),  # inside a word, not "belt ultra"
        ({"subject": "É"}, {"ÉCOLE reunion"}),  # short, beyond ASCII: any case
        ({"subject": "é"}, {"ÉCOLE reunion"}),
        ({"from_": "Ë <"}, {"ÉCOLE reunion"}),
        ({"subject": "ULTRA-L"}, {"belt ultra-light"}),
        ({"subject": "DELTA LAUNCH"}, {"Delta launch review"}),  # any case, spaces kept
        ({"subject": "école"}, {"ÉCOLE reunion"}),  # case folded beyond ASCII
        ({"subject": "会议室"}, {"明天会议室预订"}),  # CJK inside a longer run
        ({"subject": "会议"}, {"明天会议室预订"}),  # two characters: the LIKE fallback
        ({"subject": "un"}, {"Delta launch review", "ÉCOLE reunion", "Re: lunch"}),
        ({"subject": "Q"}, {"Quarterly numbers"}),  # one character
        ({"from_": "RGEN GR"}, {"Delta launch review"}),
        ({"from_": "李雷"}, {"明天会议室预订"}),
        ({"to": "@EXAMPLE.CN"}, {"明天会议室预订"}),
        ({"body": "确认"}, {"明天会议室预订"}),
        ({"body": "会议"}, {"ÉCOLE reunion"}),
        ({"body": "50%"}, {"Quarterly numbers"}),  # % is a character, not a wildcard
        ({"body": "0%"}, {"Quarterly numbers"}),  # ... also in the short fallback
        ({"body": "p_"}, {"Quarterly numbers"}),  # _ too
        ({"body": "o_"}, set()),  # would match "go", "or" if _ were a wildcard
        ({"subject": "lu", "body": "b2"}, {"Re: lunch"}),  # every criterion must hold
        ({"subject": "elta", "from_": "zoe"}, set()),
        ({"subject": "delta launch review!"}, set()),  # the whole needle must occur
    ],
)
def test_filters_are_substrings(db: Database, criteria: dict[str, str], expected: set[str]) -> None:
    assert subjects(db, **criteria) == expected


def test_free_text_words_are_prefixes_but_unspaced_scripts_substrings(db: Database) -> None:
    assert subjects(db, text="laun") == {"Delta launch review"}  # a word prefix
    assert subjects(db, text="aunch") == set()  # not inside a word (filters do that)
    assert subjects(db, text="会议") == {"明天会议室预订", "ÉCOLE reunion"}
    assert subjects(db, text="会议室") == {"明天会议室预订"}
    assert subjects(db, text="会议 noon") == {"ÉCOLE reunion"}  # all words, any field
    assert subjects(db, text="李雷") == {"明天会议室预订"}  # the sender's name counts
    assert subjects(db, text="groß") == {"Delta launch review"}


def test_the_index_follows_updates_and_deletes(tmp_path: Path) -> None:
    db = Database(tmp_path / "mail.db")
    store = MessageStore(db)
    raw = b"From: a@example.org\r\nSubject: kangaroo court\r\n\r\nbody\r\n"
    store.upsert_many(1, "INBOX", 1, [StoreItem(1, (), len(raw), parse_message(raw))])
    assert subjects(db, subject="garoo") == {"kangaroo court"}
    raw2 = raw.replace(b"kangaroo", b"wallaby")
    store.upsert_many(1, "INBOX", 1, [StoreItem(1, (), len(raw2), parse_message(raw2))])
    assert subjects(db, subject="garoo") == set()
    assert subjects(db, subject="allab") == {"wallaby court"}
    store.delete_uids(1, "INBOX", [1])
    assert subjects(db, subject="allab") == set()
    conn = db.connect()
    conn.execute("INSERT INTO messages_trgm (messages_trgm) VALUES ('integrity-check')")
    db.close()


def test_a_failed_batch_leaves_neither_rows_nor_index_entries(tmp_path: Path) -> None:
    db = Database(tmp_path / "mail.db")
    store = MessageStore(db)
    conn = db.connect()
    conn.execute(
        "CREATE TEMP TRIGGER boom AFTER INSERT ON messages WHEN new.uid = 2"
        " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    items = [
        StoreItem(uid, (), 10, parse_message(f"Subject: wombat {uid}\r\n\r\nx\r\n".encode()))
        for uid in (1, 2)
    ]
    with pytest.raises(Exception, match="disk on fire"):
        store.upsert_many(1, "INBOX", 1, items)
    conn.execute("DROP TRIGGER boom")
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    # A contentless FTS5 table answers rowids only for what it holds.
    assert conn.execute("SELECT count(*) FROM messages_trgm").fetchone()[0] == 0
    store.upsert_many(1, "INBOX", 1, items)
    assert subjects(db, subject="wombat") == {"wombat 1", "wombat 2"}
    db.close()


def test_migration_builds_the_index_for_an_existing_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mail.db"
    db = Database(path)
    assert import_path(db, _mbox(tmp_path / "s.mbox"), account_id=1).imported == len(MESSAGES)
    db.close()
    # Make it a store of schema 5 (before 0006): no trigram index, no triggers.
    raw = sqlite3.connect(path)
    raw.executescript(
        "DROP TRIGGER messages_trgm_delete; DROP TRIGGER messages_trgm_update;"
        " DROP TABLE messages_trgm; PRAGMA user_version = 5;"
    )
    raw.close()
    # Only 0006 is re-applied: the later migrations' objects are still in the file.
    upto_6 = [m for m in store_db._migrations() if m[0] <= 6]
    monkeypatch.setattr(store_db, "_migrations", lambda: upto_6)
    db = Database(path)  # applies 0006, which backfills
    assert db.connect().execute("PRAGMA user_version").fetchone()[0] == 6
    assert subjects(db, subject="elta") == {"Delta launch review"}
    assert subjects(db, body="确认") == {"明天会议室预订"}
    db.connect().execute("INSERT INTO messages_trgm (messages_trgm) VALUES ('integrity-check')")
    db.close()


def test_sqlite_has_the_trigram_tokenizer() -> None:
    assert sqlite3.sqlite_version_info >= (3, 34, 0)


def test_a_listing_reads_its_page_once(tmp_path: Path) -> None:
    from prx_email.mail.parse import parse_summary
    from prx_email.store.messages import SummaryItem

    db = Database(tmp_path / "mail.db")
    store = MessageStore(db)
    items = []
    for uid in range(1, 6):
        date = f"Mon, {uid} Jun 2026 10:00:00 +0000"
        data = f"Subject: pending {uid}\r\nDate: {date}\r\n\r\nbody {uid}\r\n".encode()
        items.append(SummaryItem(uid, (), len(data), parse_summary(data), data))
    store.upsert_summaries(1, "INBOX", 1, items)
    statements: list[str] = []
    db.connect().set_trace_callback(statements.append)
    page = list_messages(db, ListQuery(1, limit=3))
    db.connect().set_trace_callback(None)
    assert [m.subject for m in page.messages] == ["pending 5", "pending 4", "pending 3"]
    assert all(m.snippet.startswith("body") for m in page.messages)  # patched in memory
    listings = [s for s in statements if "ORDER BY sort_date DESC" in s]
    assert len(listings) == 1, listings
    assert store.has_pending(1)  # only the page's rows were completed
    assert len(list_messages(db, ListQuery(1, limit=10)).messages) == 5
    db.close()
