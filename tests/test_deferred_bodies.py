"""Deferred bodies: summaries stored at once, bodies, attachments and FTS completed later."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prx_email.config.model import AttachmentPolicy
from prx_email.mail.parse import ParsedSummary, parse_message, parse_summary
from prx_email.services import completion, mailbox
from prx_email.services import sync as sync_service
from prx_email.services.importer import iter_mbox
from prx_email.store.db import Database
from prx_email.store.messages import MessageStore, SummaryItem
from prx_email.types import ListQuery, SearchQuery, SyncRequest

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.mbox"
_FIELDS = [f for f in ParsedSummary._fields if f not in ("attachment_hint", "size")]


def agree(raw: bytes) -> None:
    summary, full = parse_summary(raw), parse_message(raw)
    for name in _FIELDS:
        assert getattr(summary, name) == getattr(full, name), name
    assert summary.size == len(raw)


# --- parse_summary ----------------------------------------------------------------------


def test_summary_agrees_with_full_parse_on_the_sample_mailbox() -> None:
    messages = list(iter_mbox(SAMPLE))
    assert messages
    for raw in messages:
        agree(raw)


def test_summary_of_a_threaded_message_with_encoded_words() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n"
        b'To: "Doe, Jane" <jane@example.net>, bob@example.org\r\n'
        b"Cc: carol@example.org\r\n"
        b"Reply-To: help@example.org\r\n"
        b"Subject: =?utf-8?b?R3LDvMOfZQ==?= folded\r\n and continued\r\n"
        b"Date: Tue, 3 Mar 2026 09:15:00 -0500\r\n"
        b"Message-ID: <x1@example.org>\r\n"
        b"In-Reply-To: <x0@example.org>\r\n"
        b"References: <a@example.org>\r\n\t<x0@example.org>\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF\r\n--b--\r\n"
    )
    s = parse_summary(raw)
    assert s.from_ == "Jürgen <j@example.org>" and s.from_addr == "j@example.org"
    assert s.to_addrs == ("jane@example.net", "bob@example.org")
    assert s.subject.startswith("Grüße")
    assert s.references == ("<a@example.org>", "<x0@example.org>")
    assert s.in_reply_to == "<x0@example.org>" and s.message_id == "<x1@example.org>"
    assert s.date is not None and s.attachment_hint
    agree(raw)


def _generated(subject: str, name: str, body: str, attach: bool) -> bytes:
    m = EmailMessage()
    m["From"] = f"{name} <a@example.org>" if name else "a@example.org"
    m["To"] = "b@example.org"
    m["Subject"] = subject
    m["Message-ID"] = "<gen@example.org>"
    m["Date"] = "Mon, 1 Jun 2026 10:00:00 +0000"
    m.set_content(body)
    if attach:
        m.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream")
    return bytes(m)


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=_text, name=_text, body=_text, attach=st.booleans())
def test_summary_agrees_with_full_parse_on_generated_messages(
    subject: str, name: str, body: str, attach: bool
) -> None:
    # The stdlib's header parser crashes (AttributeError: 'str' object has no attribute
    # 'token_type') on a display name starting with "."; every other generated name works.
    assume(not name.strip().startswith("."))
    agree(_generated(subject.strip(), name.strip(), body, attach))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_summary_never_raises_and_agrees_on_arbitrary_bytes(raw: bytes) -> None:
    summary = parse_summary(raw)
    assert summary.size == len(raw)
    agree(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: a@b\r\n",
                b"To: x <y@z>, w@v\r\n",
                b"Subject: =?utf-8?q?caf=C3=A9?=\r\n",
                b"Subject: second\r\n",
                b" folded\r\n",
                b"Date: garbage\r\n",
                b"References: <1@x> <2@x>\r\n",
                b"Content-Type: multipart/mixed; boundary=q\r\n",
                b"\xff\xfe: \xfa\r\n",
                b"\r\n",
                b"--q\r\n",
                b"body line\r\n",
            ]
        ),
        max_size=14,
    )
)
def test_summary_agrees_on_header_shaped_input(lines: list[bytes]) -> None:
    agree(b"".join(lines))


# --- store: pending rows --------------------------------------------------------------


def _raw(n: int, body: str) -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.com>\r\nTo: r@example.org\r\n"
        f"Subject: message {n}\r\nMessage-ID: <m{n}@example.com>\r\n"
        f"Date: Mon, {1 + n % 28} Jun 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()


def _items(n: int, start: int = 1) -> list[SummaryItem]:
    out = []
    for uid in range(start, start + n):
        raw = _raw(uid, f"zebra{uid} common words here")
        out.append(SummaryItem(uid, (), len(raw), parse_summary(raw), raw))
    return out


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "store.db")
    yield database
    database.close()


def test_summaries_are_filterable_before_completion(db: Database) -> None:
    store = MessageStore(db)
    assert store.upsert_summaries(1, "INBOX", 7, _items(5)) == 5
    assert store.has_pending(1) and not store.has_pending(2)
    rows = db.connect().execute("SELECT subject, from_addr, snippet FROM messages").fetchall()
    assert {r[0] for r in rows} == {f"message {n}" for n in range(1, 6)}
    assert all(r[2] == "" for r in rows)  # bodies not there yet
    # Reads complete first: no caller ever sees a pending row.
    page = mailbox.list_messages(db, ListQuery(account_id=1, limit=2))
    assert all(m.snippet.startswith("zebra") for m in page.messages)
    assert store.has_pending(1)  # only the page was completed
    hits = mailbox.search_local(db, SearchQuery(account_id=1, text="zebra3"))
    assert [m.uid for m in hits.messages] == [3]
    assert not store.has_pending(1)


def test_summaries_insert_in_chunks_under_a_low_variable_limit(db: Database) -> None:
    # Rows go in as multi-row INSERTs sized by SQLite's variable limit (999 on older
    # builds); a limit fitting 2 rows per statement must still store every row, in order.
    import sqlite3

    store = MessageStore(db)
    db.connect().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
    assert store.upsert_summaries(1, "INBOX", 7, _items(7)) == 7
    rows = db.connect().execute("SELECT uid, subject FROM messages ORDER BY id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(n, f"message {n}") for n in range(1, 8)]
    # A second pass only updates flags: no duplicate rows.
    assert store.upsert_summaries(1, "INBOX", 7, _items(7)) == 7
    assert db.connect().execute("SELECT count(*) FROM messages").fetchone()[0] == 7


def test_get_of_a_pending_row_returns_full_bodies(db: Database) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, _items(3))
    key = db.connect().execute("SELECT id FROM messages WHERE uid = 2").fetchone()[0]
    msg = mailbox.get_message(db, 1, key)
    assert msg is not None and msg.body_text == "zebra2 common words here\n"
    assert msg.headers and msg.summary.snippet
    assert mailbox.get_message(db, 2, key) is None  # another account's key
    assert store.has_pending(1)  # the other rows are still pending


def test_completion_interrupted_leaves_rows_pending_then_finishes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages_mod = completion

    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, _items(10))
    real = messages_mod.parse_message
    calls = {"n": 0}

    def dies_in_second_batch(raw: bytes, **kw: int):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 6:  # the second message of the second batch of 4
            raise KeyboardInterrupt  # as abrupt as it gets short of a kill
        return real(raw, **kw)

    monkeypatch.setattr(messages_mod, "parse_message", dies_in_second_batch)
    with pytest.raises(KeyboardInterrupt):
        completion.complete_pending(db, 1, batch_size=4)
    monkeypatch.setattr(messages_mod, "parse_message", real)
    conn = db.connect()
    assert conn.execute("SELECT count(*) FROM messages WHERE raw IS NOT NULL").fetchone()[0] == 6
    done = conn.execute(
        "SELECT count(*) FROM messages WHERE snippet != '' AND raw IS NULL"
    ).fetchone()[0]
    assert done == 4
    half = conn.execute(
        "SELECT count(*) FROM messages WHERE snippet != '' AND raw IS NOT NULL"
    ).fetchone()[0]
    assert half == 0
    # The index holds exactly the completed rows.
    hits = conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'common'")
    assert len(hits.fetchall()) == 4
    # A later completion (here: through search) finishes the rest; nothing indexed twice.
    found = mailbox.search_local(db, SearchQuery(account_id=1, text="common", limit=50))
    assert len(found.messages) == 10 and not store.has_pending()
    assert completion.complete_pending(db) == 0  # idempotent
    assert len(mailbox.search_local(db, SearchQuery(account_id=1, text="zebra7")).messages) == 1
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


def test_failing_transaction_rolls_back_the_whole_batch(db: Database) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, _items(6))
    conn = db.connect()
    conn.execute(
        "CREATE TEMP TRIGGER fail_on_third BEFORE UPDATE OF body_text ON messages "
        "WHEN new.uid = 3 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    with pytest.raises(Exception, match="disk on fire"):
        completion.complete_pending(db, 1, batch_size=6)
    assert conn.execute("SELECT count(*) FROM messages WHERE raw IS NOT NULL").fetchone()[0] == 6
    assert (
        conn.execute("SELECT count(*) FROM messages WHERE body_text IS NOT NULL").fetchone()[0] == 0
    )
    conn.execute("DROP TRIGGER fail_on_third")
    assert completion.complete_pending(db, 1) == 6
    assert len(mailbox.search_local(db, SearchQuery(account_id=1, text="zebra3")).messages) == 1


def test_resummarizing_a_stored_uid_updates_flags_only(db: Database) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, _items(2))
    assert completion.complete_pending(db, 1) == 2
    raw = _raw(1, "zebra1 common words here")
    again = SummaryItem(1, ("\\Seen",), len(raw), parse_summary(raw), raw)
    assert store.upsert_summaries(1, "INBOX", 7, [again]) == 1
    assert not store.has_pending(1)
    page = mailbox.list_messages(db, ListQuery(account_id=1, unseen_only=True))
    assert [m.uid for m in page.messages] == [2]


def test_deleting_pending_and_indexed_rows_keeps_the_index_consistent(db: Database) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, _items(4))
    completion.complete_pending(db, 1, batch_size=2, limit=2)
    assert store.delete_uids(1, "INBOX", [1, 3], uidvalidity=7) == 2
    conn = db.connect()
    assert conn.execute("SELECT count(*) FROM messages WHERE raw IS NOT NULL").fetchone()[0] == 1
    hits = mailbox.search_local(db, SearchQuery(account_id=1, text="common"))
    assert sorted(m.uid for m in hits.messages) == [2, 4]
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


# --- through a real sync ---------------------------------------------------------------


@pytest.mark.integration
async def test_search_after_sync_finds_body_text_and_attachments_are_saved(
    dovecot, make_ctx
) -> None:
    from helpers.imap import make_msg, new_folder

    folder = new_folder("Deferred")
    m = EmailMessage()
    m["From"] = "a@example.org"
    m["Subject"] = "with attachment"
    m.set_content("see the attached quokka report")
    payload = b"%PDF-1.4 " * 1000
    m.add_attachment(payload, maintype="application", subtype="pdf", filename="r.pdf")
    body = "the word platypus appears only in this body\n"
    dovecot.add_messages([make_msg(1, body=body), bytes(m)], folder)
    ctx = make_ctx()
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 2
    store = MessageStore(ctx.db)
    assert not store.has_pending(1)  # sync completes what it stored
    hits = mailbox.search_local(ctx.db, SearchQuery(account_id=1, text="platypus", folder=folder))
    assert len(hits.messages) == 1
    (att_row,) = mailbox.search_local(
        ctx.db, SearchQuery(account_id=1, body="quokka", folder=folder)
    ).messages
    full = mailbox.get_message(ctx.db, 1, att_row.id)
    assert full is not None
    (att,) = full.attachments
    assert att.stored and att.sha256 == hashlib.sha256(payload).hexdigest()


@pytest.mark.integration
async def test_sync_without_completion_then_reads_complete(dovecot, make_ctx) -> None:
    from helpers.imap import make_msg, new_folder

    folder = new_folder("Pending")
    dovecot.add_messages([make_msg(i, body=f"wombat{i} lives here\n") for i in range(12)], folder)
    ctx = make_ctx(batch_size=5)
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder), complete=False)
    store = MessageStore(ctx.db)
    assert store.has_pending(1)
    # Filterable at once from the summaries (no body needed) ...
    conn = ctx.db.connect()
    assert (
        conn.execute(
            "SELECT count(*) FROM messages WHERE folder = ? AND from_addr LIKE 'Sender 3 %'",
            (folder,),
        ).fetchone()[0]
        == 1
    )
    # ... and a search never misses a body a completed sync stored.
    hits = mailbox.search_local(ctx.db, SearchQuery(account_id=1, text="wombat7"))
    assert len(hits.messages) == 1 and not store.has_pending(1)
    # A policy with a root was recorded: attachments get saved whoever completes.
    row = conn.execute(
        "SELECT attachment_root FROM completion_settings WHERE account_id = 1"
    ).fetchone()
    assert row is not None and row[0]


def test_completion_corrects_a_summary_the_full_parse_disagrees_with(db: Database) -> None:
    store = MessageStore(db)
    raw = _raw(1, "zebra1 body")
    wrong = parse_summary(raw)._replace(subject="not the subject", date=None)
    store.upsert_summaries(1, "INBOX", 7, [SummaryItem(1, (), len(raw), wrong, raw)])
    store.upsert_summaries(1, "INBOX", 7, _items(1, start=2))
    assert completion.complete_pending(db, 1) == 2
    subjects = mailbox.search_local(db, SearchQuery(account_id=1, subject="message"))
    assert sorted(m.subject for m in subjects.messages) == ["message 1", "message 2"]
    assert all(m.date is not None for m in subjects.messages)
    assert mailbox.search_local(db, SearchQuery(account_id=1, subject="wrong")).messages == ()


def _stdlib_date(value: str) -> int | None:
    from email.utils import mktime_tz, parsedate_tz

    try:
        parsed = parsedate_tz(value)
        stamp = None if parsed is None else mktime_tz(parsed)
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    if stamp is None or not -2_208_988_800 <= stamp <= 253_402_300_799:
        return None
    return stamp


@settings(max_examples=500, deadline=None)
@given(
    day=st.sampled_from(["", "Mon, ", "Xyz, ", "mon,", "Tue "]),
    dd=st.integers(0, 39),
    month=st.sampled_from(["Jan", "feb", "MAR", "Sep", "Dec", "Foo", "June"]),
    year=st.integers(0, 10_500),
    hms=st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
    zone=st.sampled_from(["+0000", "-0000", "+0130", "-0945", "+9999", "GMT", "EST", ""]),
    pad=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_fast_date_path_matches_the_stdlib(
    day: str, dd: int, month: str, year: int, hms: tuple[int, int, int], zone: str, pad: str
) -> None:
    from prx_email.mail.parse import _parse_date

    h, m, s = hms
    for y in (str(year), f"{year:04d}"):
        value = f"{pad}{day}{dd} {month} {y} {h:02d}:{m:02d}:{s:02d} {zone}{pad}"
        assert _parse_date(value) == _stdlib_date(value), value


def test_an_unusable_attachment_root_fails_the_sync_completion_not_reads(
    db: Database, tmp_path: Path
) -> None:
    from prx_email.errors import StorageError

    m = EmailMessage()
    m["From"] = "a@example.org"
    m["Subject"] = "att"
    m.set_content("numbat text")
    m.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    raw = bytes(m)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    store = MessageStore(db)
    completion.record_settings(db, 1, attachments=AttachmentPolicy(root=not_a_dir))
    store.upsert_summaries(1, "INBOX", 7, [SummaryItem(1, (), len(raw), parse_summary(raw), raw)])
    with pytest.raises(StorageError):
        completion.complete_pending(
            db, 1
        )  # what sync runs: the error surfaces, the row stays pending
    assert store.has_pending(1)
    (hit,) = mailbox.search_local(db, SearchQuery(account_id=1, text="numbat")).messages
    full = mailbox.get_message(db, 1, hit.id)
    assert full is not None and [a.stored for a in full.attachments] == [False]
