"""store.sync_state.SyncStateRepo: the typed seam for sync's cursor and scheduler rows."""

from __future__ import annotations

from pathlib import Path

from prx_email.mail.parse import parse_summary
from prx_email.store.db import Database
from prx_email.store.messages import MessageStore, SummaryItem
from prx_email.store.sync_state import FolderState, JobState, SyncStateRepo


def _items(uids: range) -> list[SummaryItem]:
    out = []
    for uid in uids:
        raw = f"Subject: m{uid}\r\n\r\nbody\r\n".encode()
        out.append(SummaryItem(uid, (), len(raw), parse_summary(raw), raw))
    return out


def test_cursor_moves_with_the_rows_and_resets_with_the_folder(tmp_path: Path) -> None:
    db = Database(tmp_path / "mail.db")
    repo, store = SyncStateRepo(db), MessageStore(db)
    assert repo.state(1, "INBOX") is None
    repo.start_folder(FolderState(1, "INBOX", 7))
    assert repo.store_summaries(1, "INBOX", 7, _items(range(1, 4)), 3) == 3
    repo.finish_folder(1, "INBOX", uidvalidity=7, uidnext=4, highestmodseq=10, last_sync_at=1000)
    assert repo.state(1, "INBOX") == FolderState(1, "INBOX", 7, 3, 4, 10, 1000)
    # A lost cursor: the folder's rows under another UIDVALIDITY are dropped with it.
    repo.start_folder(FolderState(1, "INBOX", 8))
    assert store.count(1, "INBOX") == 0 and repo.state(1, "INBOX") == FolderState(1, "INBOX", 8)
    repo.store_summaries(1, "INBOX", 8, _items(range(1, 3)), 2)
    repo.reset_folder(1, "INBOX")
    assert store.count(1, "INBOX") == 0 and repo.state(1, "INBOX") is None
    voided = db.connect().execute(
        "SELECT uid, json_extract(detail, '$.reason') FROM events WHERE type = 'expunged' "
        "ORDER BY id"
    )
    assert [tuple(r) for r in voided] == [(u, "uidvalidity_reset") for u in (1, 2, 3, 1, 2)]
    db.close()


def test_jobs_round_trip(tmp_path: Path) -> None:
    db = Database(tmp_path / "mail.db")
    repo = SyncStateRepo(db)
    assert repo.jobs([(1, "INBOX")]) == [JobState(1, "INBOX")]
    repo.save_jobs([JobState(1, "INBOX", 2, 50.0, "EMAIL_TIMEOUT", 40.0)])
    assert repo.jobs([(1, "INBOX"), (2, "INBOX")]) == [
        JobState(1, "INBOX", 2, 50.0, "EMAIL_TIMEOUT", 40.0),
        JobState(2, "INBOX"),
    ]
    db.close()
