"""Cheap "did anything change?" reads for watchers (the MCP server's resource updates).

``data_version`` is SQLite's per-connection counter that moves whenever *another*
connection commits: a watcher asks it on one thread (so always on the same connection) and
reads ``stamps`` only after it moved. A stamp is a small tuple per account and one for the
outbox; two equal stamps mean nothing a reader of that part could see has changed
(new or removed messages, flags read/unread, outbox rows created or updated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .db import Database

__all__ = ["ChangeStamps", "change_stamps", "data_version"]

#: (message count, highest id, unseen count) of one account.
AccountStamp = tuple[int, int, int]
#: (row count, highest id, latest updated_at) of the outbox.
OutboxStamp = tuple[int, int, float]


@dataclass(frozen=True, slots=True)
class ChangeStamps:
    """What the store holds, summarised per account and for the outbox."""

    accounts: dict[int, AccountStamp] = field(default_factory=dict)
    outbox: OutboxStamp = (0, 0, 0.0)


def data_version(db: Database) -> int:
    """This thread's connection's ``PRAGMA data_version`` (moves on others' commits).

    :raises StorageError: the store cannot be read.
    """
    with db.reading() as conn:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])


def change_stamps(db: Database) -> ChangeStamps:
    """One consistent read of every account's stamp and the outbox's.

    :raises StorageError: the store cannot be read.
    """
    with db.transaction(immediate=False) as conn:
        rows = conn.execute(
            "SELECT account_id, COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(seen = 0), 0)"
            " FROM messages GROUP BY account_id"
        ).fetchall()
        outbox = conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(MAX(updated_at), 0) FROM outbox"
        ).fetchone()
    accounts = {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}
    return ChangeStamps(accounts, (int(outbox[0]), int(outbox[1]), float(outbox[2])))
