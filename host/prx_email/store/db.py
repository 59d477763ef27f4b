"""SQLite connection handling: WAL, per-thread connections, versioned migrations.

Migrations are the files ``store/schema/NNNN_name.sql``, applied in order inside one
transaction each; ``PRAGMA user_version`` records the last one applied.

Every sqlite failure leaves this module as :class:`~prx_email.errors.StorageError`
(``store/errors.py``): opening, migrating, :meth:`Database.transaction` and
:meth:`Database.reading` map them, so no caller can forget to.

The store holds everyone's private mail: a new store file is created 0600 (its -wal and
-shm files inherit that mode from it) and any directory created for it 0700; an existing
store file that group or others can read is tightened to 0600, and the per-user data
directory to 0700 (when this user owns them).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..config.paths import data_dir
from ..errors import StorageError
from .errors import map_sqlite_errors
from .fts import contains

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql\Z")


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    # A plain path next to this module, not importlib.resources: that import pulls in
    # tempfile, shutil, random, bz2 and lzma (~9 ms of every sync process's start).
    for entry in (Path(__file__).parent / "schema").iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    # user_version records only the highest number applied, so a gap would let a
    # migration added later with a lower number be skipped silently on existing stores.
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StorageError(
            f"store migrations are not numbered 1..{len(numbers)}: {numbers}",
            hint="number store/schema/NNNN_*.sql files contiguously from 0001",
        )
    return found


class Database:
    """One SQLite file shared by the services; each thread gets its own connection."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 30.0) -> None:
        """Open (creating when missing) and migrate the store at ``path``.

        ``busy_timeout``: seconds a statement waits for another connection's lock before
        it fails as "locked".

        :raises StorageError: the path cannot hold a store, or is not a prx-email store.
        """
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        if str(self.path) != ":memory:":
            _prepare_file(self.path)
        self.migrate()

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (autocommit off; use ``transaction`` or ``reading``).

        :raises StorageError: the store cannot be opened, or is not an SQLite database.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with map_sqlite_errors(self.path):
                conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            # Takes effect only while the file is still empty (a new store): rows carry raw
            # messages (3 KB and up) until completed; 16 KiB pages hold several, and a first
            # sync's inserts cost ~25 % less CPU than with the default 4 KiB (measured).
            conn.execute("PRAGMA page_size=16384")
            conn.execute("PRAGMA journal_mode=WAL")
            # Checkpoint every 4 MiB of WAL, as the default (1000 pages) did with 4 KiB
            # pages: a bigger WAL leaves more to copy when the last connection closes.
            conn.execute("PRAGMA wal_autocheckpoint=256")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            # The exact check of substring search (store/fts.py): SQLite's lower() and
            # LIKE fold ASCII only.
            conn.create_function("prx_contains", 2, contains, deterministic=True)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def transaction(self, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction on this thread's connection; commits on success, rolls back on error.

        :raises StorageError: any sqlite failure inside it (the transaction is rolled back).
        """
        conn = self.connect()
        with map_sqlite_errors(self.path):
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT (busy, full): the transaction is still open.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # keep the original failure
                        conn.execute("ROLLBACK")
                raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for reads outside a transaction, errors mapped.

        :raises StorageError: any sqlite failure inside it.
        """
        conn = self.connect()
        with map_sqlite_errors(self.path):
            yield conn

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version.

        :raises StorageError: the file is not an SQLite database, or a migration failed.
        """
        conn = self.connect()
        with self.transaction() as tx:
            version = int(tx.execute("PRAGMA user_version").fetchone()[0])
            for number, _name, sql in _migrations():
                if number <= version:
                    continue
                for statement in _split_sql(sql):
                    tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {number}")
                version = number
        del conn
        return version

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _prepare_file(path: Path) -> None:
    """Create the store's missing directories 0700 and a missing store file 0600; tighten
    an existing store file (and its -wal/-shm) that group or others may access.

    :raises StorageError: a directory or the file cannot be created or tightened.
    """
    try:
        _make_dirs(path.parent)
        if path.parent == data_dir():
            # The per-user data dir is prx-email's alone; older releases made it 0755.
            _tighten(path.parent, 0o700)
        try:
            # The file is created here, not by SQLite, which would create it 0644 (umask).
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            for suffix in ("", "-wal", "-shm"):
                _tighten(path.with_name(path.name + suffix), 0o600)
    except OSError as exc:
        raise StorageError(
            f"cannot prepare the store {path}: {exc.strerror or exc}",
            hint="check that this user may create and chmod the file and its directory,"
            " or pass another location with --db / PRX_EMAIL_DB",
        ) from exc


def _tighten(path: Path, private: int) -> None:
    """Drop group and other permissions of ``path`` (when it exists and this user owns it)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        # Not ours to change (another user's shared store): its owner decides.
        with suppress(PermissionError):
            path.chmod(mode & private)


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` with 0700 for every directory it creates (existing ones are left alone)."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it meanwhile
        d.chmod(0o700)  # mkdir's mode is masked by the umask


def _split_sql(script: str) -> Iterator[str]:
    """Split a migration script into statements (executescript would commit mid-transaction)."""
    buf: list[str] = []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf)
        if sqlite3.complete_statement(candidate):
            stmt = candidate.strip()
            if stmt and stmt != ";":
                yield stmt
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        yield rest
