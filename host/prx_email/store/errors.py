"""The one place where ``sqlite3`` exceptions become :class:`~prx_email.errors.StorageError`.

Modelled on httpx's ``map_httpcore_exceptions`` (and ``mail/errors.py``): one context
manager, the most specific match first, the original chained with ``from``. Every failure
is ``EMAIL_STORAGE``; the message says what happened to which store file, the hint what to
do about it. Messages carry SQLite's own text at most, never bound parameters (mail
content, addresses).

======================  =================================================================
failure                 SQLite result codes
======================  =================================================================
locked / busy           ``SQLITE_BUSY``, ``SQLITE_LOCKED``
disk full               ``SQLITE_FULL``
not a database          ``SQLITE_NOTADB``, ``SQLITE_CORRUPT``
cannot open             ``SQLITE_CANTOPEN`` (missing file or directory, no permission)
read-only               ``SQLITE_READONLY``, ``SQLITE_PERM``
disk I/O                ``SQLITE_IOERR``
anything else           any other ``sqlite3.Error``
======================  =================================================================
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StorageError

__all__ = ["map_sqlite_errors", "storage_error"]

# Primary result codes (the low byte of an extended code), from sqlite3.h.
_PERM = 3
_BUSY = 5
_LOCKED = 6
_READONLY = 8
_IOERR = 10
_CORRUPT = 11
_FULL = 13
_CANTOPEN = 14
_NOTADB = 26
_BY_TEXT = (
    ("locked", _BUSY),
    ("disk is full", _FULL),
    ("not a database", _NOTADB),
    ("malformed", _CORRUPT),
    ("unable to open", _CANTOPEN),
    ("readonly", _READONLY),
)


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def storage_error(exc: sqlite3.Error, path: Path | str) -> StorageError:
    """The :class:`StorageError` for one sqlite failure on the store at ``path``."""
    where = str(path)
    code = _primary(exc)
    text = str(exc)
    if code is None:  # raised by the sqlite3 module itself, not by SQLite: go by the text
        code = next((c for words, c in _BY_TEXT if words in text), None)
    if code in (_BUSY, _LOCKED):
        return StorageError(
            f"the store {where} is locked by another process or connection",
            hint="another prx-email process (sync --watch, send-due) holds a write lock;"
            " retry in a moment, or stop the other process if it is stuck",
        )
    if code == _FULL:
        return StorageError(
            f"the disk holding the store {where} is full",
            hint="free space on that file system (or move the store with --db), then retry",
        )
    if code in (_NOTADB, _CORRUPT):
        return StorageError(
            f"{where} is not a usable prx-email store (not an SQLite database, or corrupt)",
            hint="check that --db / PRX_EMAIL_DB names the store; restore a corrupt store"
            " from a backup, or move it away and run `prx-email sync` to build a new one",
        )
    if code == _CANTOPEN:
        return StorageError(
            f"cannot open the store {where}",
            hint="check that the file and its directory exist and that this user may"
            " read and write them (the store also creates -wal and -shm files beside it)",
        )
    if code in (_READONLY, _PERM):
        return StorageError(
            f"the store {where} is read-only",
            hint="give this user write permission on the file and its directory"
            " (chmod u+w), or point --db at a writable copy",
        )
    if code == _IOERR:
        return StorageError(
            f"disk I/O error on the store {where}: {text}",
            hint="check the file system (dmesg, df); the last transaction was rolled back",
        )
    return StorageError(
        f"store error on {where}: {text}",
        hint="run `sqlite3 <store> 'PRAGMA integrity_check'`; if the store is fine,"
        " report this as a bug",
    )


def _path_of(conn: sqlite3.Connection) -> str:
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
    except sqlite3.Error:
        return "the store"
    return str(row[2]) if row is not None and row[2] else "the store"


@contextmanager
def map_sqlite_errors(where: Path | str | sqlite3.Connection) -> Iterator[None]:
    """Run store work on the store at ``where`` (a path, or a connection to it); any
    ``sqlite3.Error`` leaves as :class:`StorageError`.

    :raises StorageError: the store is locked, full, corrupt, missing, read-only, or failed.
    """
    try:
        yield
    except sqlite3.Error as exc:
        path = _path_of(where) if isinstance(where, sqlite3.Connection) else where
        raise storage_error(exc, path) from exc
