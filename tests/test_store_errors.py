"""One sqlite error mapping: every store failure is EMAIL_STORAGE with a hint, whichever tool
hits it (issue 9 item 3); store files are private (issue 10 item 19)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.component import PluginFactory
from prx_email.errors import StorageError
from prx_email.mail.parse import parse_summary
from prx_email.store import db as dbmod
from prx_email.store.db import Database
from prx_email.store.errors import map_sqlite_errors
from prx_email.store.messages import MessageStore, SummaryItem

LIST = ("email.list", {"account_id": 1})
OUTBOX = ("email.outbox", {"account_id": 1})
GET = ("email.get", {"account_id": 1, "id": 1})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A store holding one pending row (a read completes it: a write)."""
    database = Database(tmp_path / "data" / "mail.db", busy_timeout=0.05)
    raw = b"From: a@example.org\r\nSubject: pending\r\n\r\nbody\r\n"
    MessageStore(database).upsert_summaries(
        1, "INBOX", 1, [SummaryItem(1, (), len(raw), parse_summary(raw), raw)]
    )
    yield database
    database.close()


def _storage_error(
    make_plugin: PluginFactory, wasm: Path, db: Database, tool: tuple[str, dict[str, Any]]
) -> dict[str, Any]:
    envelope: dict[str, Any] = make_plugin(wasm, db=db).execute(*tool)
    assert envelope["ok"] is False, envelope
    error: dict[str, Any] = envelope["error"]
    assert error["code"] == "EMAIL_STORAGE", error
    assert error.get("hint"), error
    return error


@pytest.mark.parametrize("tool", [LIST, GET], ids=["list", "get"])
def test_store_locked_by_a_writer(
    make_plugin: PluginFactory, plugin_wasm: Path, db: Database, tool: tuple[str, Any]
) -> None:
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        error = _storage_error(make_plugin, plugin_wasm, db, tool)  # both complete: a write
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "is locked" in error["message"] and "retry" in error["hint"]


@pytest.mark.parametrize("tool", [LIST, OUTBOX], ids=["list", "outbox"])
def test_store_held_exclusively(
    make_plugin: PluginFactory, plugin_wasm: Path, db: Database, tool: tuple[str, Any]
) -> None:
    db.close()
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")  # keeps WAL readers out too
    other.execute("BEGIN EXCLUSIVE")
    other.execute("UPDATE fts_state SET indexed_upto = indexed_upto")
    try:
        error = _storage_error(make_plugin, plugin_wasm, db, tool)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "is locked" in error["message"] and "retry" in error["hint"]


@pytest.mark.parametrize("tool", [LIST, GET], ids=["list", "get"])
def test_read_only_store(
    make_plugin: PluginFactory,
    plugin_wasm: Path,
    db: Database,
    tool: tuple[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SQLITE_READONLY, which a read-only file gives a non-root user; forced per connection
    # with query_only (the suite may run as root, who writes through file modes).
    opened = Database._open

    def read_only(self: Database) -> sqlite3.Connection:
        conn = opened(self)
        conn.execute("PRAGMA query_only = 1")
        return conn

    db.close()
    monkeypatch.setattr(Database, "_open", read_only)
    error = _storage_error(make_plugin, plugin_wasm, db, tool)
    assert "is read-only" in error["message"] and "chmod" in error["hint"]


@pytest.mark.parametrize("tool", [LIST, OUTBOX], ids=["list", "outbox"])
def test_corrupt_store(
    make_plugin: PluginFactory, plugin_wasm: Path, db: Database, tool: tuple[str, Any]
) -> None:
    db.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db.path) + suffix).unlink(missing_ok=True)
    db.path.write_bytes(b"this is not a database\n" * 400)
    error = _storage_error(make_plugin, plugin_wasm, db, tool)
    assert "not a usable prx-email store" in error["message"]
    assert "--db" in error["hint"]


def test_a_file_that_is_not_sqlite_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n" * 100)
    with pytest.raises(StorageError) as err:
        Database(path)
    assert "not a usable prx-email store" in err.value.message and err.value.hint
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)


def test_a_directory_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError) as err:
        Database(blocker / "sub" / "mail.db")
    assert "cannot prepare the store" in err.value.message and err.value.hint


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (sqlite3.OperationalError("database is locked"), "is locked"),
        (sqlite3.OperationalError("database or disk is full"), "is full"),
        (sqlite3.DatabaseError("file is not a database"), "not a usable"),
        (sqlite3.DatabaseError("database disk image is malformed"), "not a usable"),
        (sqlite3.OperationalError("unable to open database file"), "cannot open"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "read-only"),
        (sqlite3.OperationalError("no such table: nope"), "store error"),
    ],
)
def test_each_failure_has_its_message_and_a_hint(exc: sqlite3.Error, words: str) -> None:
    with pytest.raises(StorageError) as err, map_sqlite_errors("/x/mail.db"):
        raise exc
    assert words in err.value.message and "/x/mail.db" in err.value.message
    assert err.value.hint and err.value.__cause__ is exc


def test_disk_full_through_a_real_transaction(tmp_path: Path) -> None:
    db = Database(tmp_path / "mail.db")
    conn = db.connect()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL at the next new page
    with pytest.raises(StorageError) as err, db.transaction() as tx:
        tx.execute("CREATE TABLE filler (x)")
        tx.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,)] * 50)
    assert "is full" in err.value.message and err.value.hint
    assert not conn.in_transaction  # rolled back
    db.close()


# --- file modes ---------------------------------------------------------------------


def test_new_store_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would give 0644 files and 0755 dirs
    try:
        tmp_path.chmod(0o755)
        path = tmp_path / "a" / "b" / "mail.db"
        db = Database(path)
        db.connect().execute("CREATE TABLE t (x)")  # a write: the -wal and -shm files exist
        for file in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
            assert _mode(file) == 0o600, file
        assert _mode(path.parent) == 0o700 and _mode(path.parent.parent) == 0o700
        assert _mode(tmp_path) == 0o755  # a directory the store did not create is left alone
        db.close()
    finally:
        os.umask(old)


def test_an_existing_looser_store_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "mail.db"
    Database(path).close()
    path.chmod(0o644)
    db = Database(path)
    assert _mode(path) == 0o600
    db.close()


def test_migrations_keep_numbering(tmp_path: Path) -> None:
    numbers = [n for n, _, _ in dbmod._migrations()]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers[-1] >= 6


def test_the_per_user_data_dir_is_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prx_email.config.paths import data_dir, resolve_db_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.delenv("PRX_EMAIL_DB", raising=False)
    data_dir().mkdir(parents=True, mode=0o755)
    data_dir().chmod(0o755)  # as an older release left it
    other = tmp_path / "elsewhere"
    other.mkdir(mode=0o755)
    other.chmod(0o755)
    Database(resolve_db_path()).close()
    Database(other / "mail.db").close()
    assert _mode(data_dir()) == 0o700 and _mode(data_dir() / "mail.db") == 0o600
    assert _mode(other) == 0o755  # not ours: left alone
