"""store.events: an event per store change, in its transaction; reads, waits, cursors, retention."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prx_email.errors import InvalidArgument, StorageError
from prx_email.mail.parse import parse_summary
from prx_email.store import mailbox
from prx_email.store.db import Database
from prx_email.store.events import MAX_LIMIT, EventLog
from prx_email.store.messages import MessageStore, SummaryItem, thread_id

SEEN = "\\Seen"


def raw(n: int, *, refs: str = "", reply: str = "") -> bytes:
    lines = [
        f"From: Sender {n} <s{n}@example.com>",
        "To: me@example.com",
        f"Subject: message {n}",
        f"Message-ID: <m{n}@example.com>",
        "Date: Mon, 1 Jun 2026 10:00:00 +0000",
    ]
    if refs:
        lines.append(f"References: {refs}")
    if reply:
        lines.append(f"In-Reply-To: {reply}")
    return ("\r\n".join(lines) + f"\r\n\r\nbody {n}\r\n").encode()


def summary(uid: int, data: bytes | None = None, flags: tuple[str, ...] = ()) -> SummaryItem:
    data = data if data is not None else raw(uid)
    return SummaryItem(uid, flags, len(data), parse_summary(data), data)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "store.db")
    yield database
    database.close()


@pytest.fixture
def log(db: Database) -> EventLog:
    return EventLog(db, poll=0.005)


def test_new_mail_per_inserted_row_and_flags_changed_by_trigger(
    db: Database, log: EventLog
) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, [summary(1), summary(2)])
    # Re-storing UID 2 with new flags is a flag change, not new mail; UID 3 is new.
    store.upsert_summaries(1, "INBOX", 7, [summary(2, flags=(SEEN,)), summary(3)])
    events = log.read()
    assert [(e.type, e.uid) for e in events] == [
        ("new_mail", 1),
        ("new_mail", 2),
        ("flags_changed", 2),
        ("new_mail", 3),
    ]
    first = events[0]
    assert first.account_id == 1 and first.folder == "INBOX"
    assert first.rfc_message_id == "<m1@example.com>" and first.subject == "message 1"
    assert first.from_ == "Sender 1 <s1@example.com>"
    assert events[2].detail == {"flags": [SEEN], "previous": []}
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert log.last_id() == ids[-1]
    # Setting the same flags again changes nothing: no event.
    store.set_flags(1, "INBOX", {2: (SEEN,)})
    assert log.read(after=ids[-1]) == []


def test_expunge_move_delete_events_carry_the_row_as_it_was(db: Database, log: EventLog) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, [summary(u) for u in (1, 2, 3, 4)])
    keys = {r.uid: r.id for r in mailbox.locate(db, 1, range(1, 100)).values()}
    start = log.last_id()
    store.delete_uids(1, "INBOX", [1], uidvalidity=7)
    mailbox.apply_moves(
        db, 1, [mailbox.Move(keys[2], "Archive", 9, 40), mailbox.Move(keys[3], "Trash", 9, None)]
    )
    mailbox.delete_rows(db, 1, [keys[4]])
    got = [(e.type, e.message_id, e.folder, dict(e.detail)) for e in log.read(after=start)]
    assert got == [
        ("expunged", keys[1], "INBOX", {}),
        ("moved", keys[2], "INBOX", {"to_folder": "Archive", "to_uid": 40}),
        ("moved", keys[3], "INBOX", {"to_folder": "Trash", "to_uid": None}),
        ("expunged", keys[4], "INBOX", {}),
    ]
    # The moved row keeps its key: a later flag change of it is one event in its new folder.
    store.set_flags(1, "Archive", {40: (SEEN,)}, uidvalidity=9)
    (flagged,) = log.read(after=log.last_id() - 1)
    assert (flagged.type, flagged.message_id, flagged.folder) == (
        "flags_changed",
        keys[2],
        "Archive",
    )


def test_imported_rows_are_not_new_mail(db: Database, log: EventLog) -> None:
    from prx_email.mail.parse import parse_message
    from prx_email.store.messages import StoreItem

    data = raw(5)
    MessageStore(db).upsert_many(
        1, "Local", 0, [StoreItem(uid=None, flags=(), size=len(data), parsed=parse_message(data))]
    )
    MessageStore(db).upsert_many(
        1, "INBOX", 7, [StoreItem(uid=8, flags=(), size=len(data), parsed=parse_message(data))]
    )
    assert [(e.type, e.uid, e.snippet) for e in log.read()] == [("new_mail", 8, "body 5")]


@settings(max_examples=15, deadline=None)
@given(
    ids=st.lists(st.from_regex(r"<[a-z0-9]{1,6}@x>", fullmatch=True), max_size=3),
    reply=st.sampled_from(["", "<r@x>"]),
    own=st.booleans(),
)
def test_thread_id_sql_agrees_with_python(
    tmp_path_factory: pytest.TempPathFactory, ids: list[str], reply: str, own: bool
) -> None:
    database = Database(tmp_path_factory.mktemp("t") / "s.db")
    try:
        data = raw(1, refs=" ".join(ids), reply=reply)
        if not own:
            data = data.replace(b"Message-ID: <m1@example.com>\r\n", b"")
        store = MessageStore(database)
        store.upsert_summaries(1, "INBOX", 7, [summary(1, data)])
        store.set_flags(1, "INBOX", {1: (SEEN,)})  # the trigger's copy of the expression
        key = next(iter(mailbox.locate(database, 1, range(1, 10))))
        with database.reading() as conn:
            m = conn.execute(
                "SELECT message_id, in_reply_to, refs FROM messages WHERE id = ?", (key,)
            ).fetchone()
        expected = thread_id(m[0], m[1], m[2], key)
        assert [e.thread_id for e in EventLog(database).read()] == [expected, expected]
    finally:
        database.close()


def test_pending_snippet_is_filled_from_the_completed_row(db: Database, log: EventLog) -> None:
    from prx_email.services import completion

    MessageStore(db).upsert_summaries(1, "INBOX", 7, [summary(1)])
    assert log.read()[0].snippet == ""
    completion.complete_pending(db, 1)
    assert log.read()[0].snippet == "body 1"


def test_filters_and_bounds(db: Database, log: EventLog) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, [summary(1)])
    store.upsert_summaries(2, "INBOX", 7, [summary(2)])
    store.set_flags(2, "INBOX", {2: (SEEN,)})
    assert [e.account_id for e in log.read(account_id=2)] == [2, 2]
    assert [e.type for e in log.read(types=["flags_changed"])] == ["flags_changed"]
    assert len(log.read(limit=1)) == 1
    for bad in (
        {"after": -1},
        {"after": 1 << 63},
        {"limit": 0},
        {"limit": MAX_LIMIT + 1},
        {"types": ["nope"]},
        {"after": log.last_id() + 1},  # a cursor this store never handed out
    ):
        with pytest.raises(InvalidArgument):
            log.read(**bad)  # type: ignore[arg-type]
    for wait in (-0.001, 30.001, float("nan")):
        with pytest.raises(InvalidArgument):
            log.wait(0, timeout=wait)


def test_consumers_ack_forward_only_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    database = Database(path)
    log = EventLog(database)
    assert log.cursor("agent") is None
    assert log.register("agent", at=0) == 0
    assert log.ack("agent", 5) == 5
    assert log.ack("agent", 3) == 5  # never backwards
    with pytest.raises(InvalidArgument):
        log.ack("", 1)
    database.close()
    reopened = Database(path)
    assert EventLog(reopened).cursor("agent") == 5
    assert [c.name for c in EventLog(reopened).consumers()] == ["agent"]
    assert EventLog(reopened).forget("agent") and EventLog(reopened).cursor("agent") is None
    reopened.close()


def test_retention_keeps_unacknowledged_unless_told(db: Database, log: EventLog) -> None:
    store = MessageStore(db)
    store.upsert_summaries(1, "INBOX", 7, [summary(u) for u in range(1, 11)])
    ids = [e.id for e in log.read()]
    log.register("slow", at=ids[3])
    # Count retention asks for the newest 2; "slow" has acknowledged only up to the 4th.
    assert log.prune(max_age_seconds=None, max_count=2) == 4
    assert [e.id for e in log.read()] == ids[4:]
    # Age: everything is "old" an hour from now, still only what "slow" acknowledged goes.
    assert log.prune(max_age_seconds=60, max_count=None, now=time.time() + 3600) == 0
    assert log.prune(max_age_seconds=None, max_count=2, drop_unacked=True) == 4
    assert [e.id for e in log.read()] == ids[8:]
    log.forget("slow")
    assert log.prune(max_age_seconds=60, max_count=None, now=time.time() + 3600) == 2
    # Ids are never reused after the newest were deleted.
    store.upsert_summaries(1, "INBOX", 7, [summary(11)])
    assert log.read()[0].id == ids[-1] + 1 == log.last_id()


def test_wait_returns_at_once_for_a_commit_of_another_process(db: Database, log: EventLog) -> None:
    script = textwrap.dedent(
        f"""
        import time, sys
        sys.path[:0] = {sys.path!r}
        from prx_email.store.db import Database
        from prx_email.store.messages import MessageStore, SummaryItem
        from prx_email.mail.parse import parse_summary
        data = {raw(1)!r}
        time.sleep(0.3)
        MessageStore(Database({str(db.path)!r})).upsert_summaries(
            1, "INBOX", 7, [SummaryItem(1, (), len(data), parse_summary(data), data)])
        print(time.time(), flush=True)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as writer:
        events = log.wait(0, timeout=10)
        woke = time.time()
        assert writer.stdout is not None
        committed = float(writer.stdout.readline())
    assert [e.type for e in events] == ["new_mail"]
    assert woke - committed < 3  # woken by the commit, not by the 10 s timeout


def test_wait_times_out_empty_and_stops_early(log: EventLog) -> None:
    start = time.monotonic()
    assert log.wait(0, timeout=0.1) == []
    assert 0.09 <= time.monotonic() - start < 2
    stop = threading.Event()
    stop.set()
    start = time.monotonic()
    assert log.wait(0, timeout=5, stop=stop) == []
    assert time.monotonic() - start < 1


def test_a_failed_batch_leaves_neither_rows_nor_events(db: Database, log: EventLog) -> None:
    store = MessageStore(db)
    with pytest.raises(StorageError), db.transaction() as tx:
        store.upsert_summaries(1, "INBOX", 7, [summary(1)], conn=tx)
        raise sqlite3.OperationalError("disk I/O error")
    assert log.read() == [] and store.count(1) == 0


def test_outbox_status_changes_are_events_but_the_lease_is_not(db: Database, log: EventLog) -> None:
    from prx_email.store.outbox import OutboxRepo
    from prx_email.types import OutboxStatus

    repo = OutboxRepo(db)
    now = time.time()
    row = repo.insert(
        account_id=3,
        message_id="<out1@x>",
        subject="Hello",
        sender="me@x",
        recipients=["a@x"],
        raw=b"raw",
        max_attempts=3,
        now=now,
    )
    (claimed,) = repo.claim(token="t", worker_id="w", now=now, lease_until=now + 60, limit=5)
    assert repo.finalize(claimed, status=OutboxStatus.FAILED, now=now, outcome="transient",
                         next_attempt_at=now, last_error="451 later")  # fmt: skip
    (claimed,) = repo.claim(token="u", worker_id="w", now=now, lease_until=now + 60, limit=5)
    assert repo.finalize(claimed, status=OutboxStatus.SENT, now=now, outcome="sent")
    got = [(e.type, e.account_id, e.rfc_message_id, dict(e.detail)) for e in log.read()]
    assert got == [
        ("outbox", 3, "<out1@x>", {"outbox_id": row, "status": "pending", "previous": None,
                                   "error": None}),
        ("outbox", 3, "<out1@x>", {"outbox_id": row, "status": "failed", "previous": "sending",
                                   "error": "451 later"}),
        ("outbox", 3, "<out1@x>", {"outbox_id": row, "status": "sent", "previous": "sending",
                                   "error": None}),
    ]  # fmt: skip
