"""store/mailbox.py on a real SQLite store: moves re-keyed, flags, folders, threads."""

from __future__ import annotations

from pathlib import Path

import pytest
from prx_email.store import mailbox as store
from prx_email.store.db import Database


@pytest.fixture
def db(tmp_path: Path):
    d = Database(tmp_path / "m.db")
    yield d
    d.close()


def _row(db: Database, folder: str, uid: int | None, *, uv: int = 7, **cols: object) -> int:
    values = {"account_id": 1, "folder": folder, "uidvalidity": uv, "uid": uid}
    values["sort_date"] = 1_700_000_000
    values.update(cols)
    names = ", ".join(values)
    with db.transaction() as tx:
        cur = tx.execute(
            f"INSERT INTO messages ({names}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )
        return int(cur.lastrowid or 0)


def _where(db: Database, key: int) -> tuple[str, int, int] | None:
    r = db.connect().execute("SELECT folder, uidvalidity, uid FROM messages WHERE id = ?", (key,))
    row = r.fetchone()
    return None if row is None else (row[0], row[1], row[2])


def test_move_rekeys_in_place_and_replaces_a_row_the_sync_stored_first(db) -> None:
    a = _row(db, "INBOX", 5)
    b = _row(db, "INBOX", 6)
    c = _row(db, "INBOX", 8)
    dup = _row(db, "Archive", 41, uv=9)  # the destination's sync stored b's copy already
    kept = store.apply_moves(
        db,
        1,
        [
            store.Move(a, "Archive", 9, 40),
            store.Move(b, "Archive", 9, 41),
            store.Move(c, "Archive", 0, None),  # no COPYUID: the next sync stores it
        ],
    )
    assert kept == 2
    assert _where(db, a) == ("Archive", 9, 40) and _where(db, b) == ("Archive", 9, 41)
    assert _where(db, dup) is None and _where(db, c) is None
    n = db.connect().execute("SELECT count(*) FROM messages WHERE folder = 'Archive'")
    assert n.fetchone()[0] == 2


def test_apply_flags_delete_rows_and_locate(db) -> None:
    a = _row(db, "INBOX", 1)
    b = _row(db, "INBOX", 2, flags="\\Seen")
    assert store.apply_flags(db, 1, {a: ("\\Seen", "Work"), b: ("\\Seen",)}) == 1  # b as is
    loc = store.locate(db, 1, [a, b, 999])
    assert set(loc) == {a, b} and loc[a].flags == ("\\Seen", "Work") and loc[a].uid == 1
    seen = db.connect().execute("SELECT seen FROM messages WHERE id = ?", (a,)).fetchone()[0]
    assert seen == 1
    assert store.locate(db, 2, [a]) == {}  # another account's ids are not found
    assert store.delete_rows(db, 1, [b, 999]) == 1 and set(store.locate(db, 1, [a, b])) == {a}


def test_local_folders_rename_with_children_and_drop(db) -> None:
    _row(db, "INBOX", 1)
    _row(db, "Work", 1, flags="\\Seen", seen=1)
    _row(db, "Work", 2)
    _row(db, "Work.Sub", 1)
    _row(db, "Workshop", 1)  # a sibling with the same prefix: not a child
    with db.transaction() as tx:
        tx.execute("INSERT INTO sync_state (account_id, folder, uidvalidity) VALUES (1, 'Work', 7)")
    folders = {f.name: f for f in store.local_folders(db, 1)}
    assert next(iter(folders)) == "INBOX"
    assert (folders["Work"].messages, folders["Work"].unseen, folders["Work"].synced) == (
        2,
        1,
        True,
    )
    assert store.rename_folder(db, 1, "Work", "Jobs", ".") == 3
    names = {f.name for f in store.local_folders(db, 1)}
    assert names == {"INBOX", "Jobs", "Jobs.Sub", "Workshop"}
    assert {f.name for f in store.local_folders(db, 1) if f.synced} == {"Jobs"}
    assert store.drop_folder(db, 1, "Jobs") == 2
    assert {f.name for f in store.local_folders(db, 1)} == {"INBOX", "Jobs.Sub", "Workshop"}


def test_thread_links_and_subject_fallback_window(db) -> None:
    day = 86_400
    t0 = 1_700_000_000
    root = _row(db, "INBOX", 1, message_id="<r@x>", subject="Plans", sort_date=t0)
    r1 = _row(
        db,
        "Sent",
        1,
        message_id="<a@x>",
        in_reply_to="<r@x>",
        refs="<r@x>",
        subject="Re: Plans",
        sort_date=t0 + 60,
    )
    # Only References to the reply (not the root): found through the closure.
    r2 = _row(db, "INBOX", 2, message_id="<b@x>", refs="<a@x>", sort_date=t0 + 120)
    _row(db, "INBOX", 3, message_id="<z@x>", subject="Plans", in_reply_to="<other@x>")
    tid, keys = store.thread_of(db, 1, r2) or ("", [])
    assert keys == [root, r1, r2] and tid == "<r@x>"
    assert store.thread_ids(db, 1, [root, r1]) == {root: "<r@x>", r1: "<r@x>"}
    # No links at all: same normalised subject within the window, oldest first.
    s1 = _row(db, "INBOX", 10, message_id="<s1@x>", subject="Invoice 42", sort_date=t0)
    s2 = _row(db, "INBOX", 11, message_id="<s2@x>", subject="RE: invoice 42", sort_date=t0 + day)
    _row(db, "INBOX", 12, message_id="<s3@x>", subject="Invoice 42", sort_date=t0 + 90 * day)
    tid, keys = store.thread_of(db, 1, s2, window_days=30) or ("", [])
    assert keys == [s1, s2] and tid == "<s1@x>"
    assert store.thread_of(db, 1, 12345) is None
