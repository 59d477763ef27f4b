"""SQL for send quotas (migration 0009): the sends and first recipients of each account.

:meth:`QuotaRepo.admit` reads an account's usage, lets the caller's check refuse, and runs
the caller's insert, all in one ``BEGIN IMMEDIATE`` transaction: SQLite serialises writers,
so two processes cannot both see the last free slot. No policy here (the check is the
caller's): the windows read are the longest the policy knows, one hour and one day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from .approvals import Hold, unknown_addresses
from .db import Database

HOUR: Final = 3600.0
DAY: Final = 86400.0


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """An account's usage at ``now``: times oldest first, the message's new recipients."""

    now: float
    hour: tuple[float, ...]  # when each message of the last hour was queued
    day: tuple[float, ...]  # the same over the last day
    new: tuple[str, ...]  # recipients of this message the account never sent to
    new_day: tuple[float, ...]  # first_at of the recipients first sent to in the last day


class QuotaRepo:
    """The ``policy_sends`` and ``policy_recipients`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def admit(
        self,
        account_id: int,
        recipients: Iterable[str],
        *,
        now: float,
        check: Callable[[QuotaUsage], None],
        insert: Callable[[Hold | None], int],
        screen: Callable[[tuple[str, ...]], Hold | None] | None = None,
    ) -> int:
        """Check, insert and count one message atomically; returns what ``insert`` returned.

        ``check`` raises to refuse (the transaction is rolled back: nothing stored).
        ``screen(unknown)`` runs before the insert, in the transaction, when some recipients
        are unknown to the account (never queued to, in no stored message's from/to/cc:
        ``store.approvals.unknown_addresses``); a :class:`Hold` it returns is passed to
        ``insert`` (first-contact approval: the row is stored held), and the new recipients
        are not remembered until the row is approved. Without a hold ``insert`` gets None.

        :raises StorageError: the store failed (nothing stored).
        """
        addrs = sorted({r.lower() for r in recipients})
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM policy_sends WHERE account_id = ? AND at <= ?", (account_id, now - DAY)
            )
            day = tuple(
                float(r[0])
                for r in tx.execute(
                    "SELECT at FROM policy_sends WHERE account_id = ? AND at > ? ORDER BY at",
                    (account_id, now - DAY),
                )
            )
            marks = ",".join("?" * len(addrs))
            known = {
                str(r[0])
                for r in tx.execute(
                    "SELECT address FROM policy_recipients WHERE account_id = ?"
                    f" AND address IN ({marks})",
                    (account_id, *addrs),
                )
            }
            new_day = tuple(
                float(r[0])
                for r in tx.execute(
                    "SELECT first_at FROM policy_recipients WHERE account_id = ? AND first_at > ?"
                    " ORDER BY first_at",
                    (account_id, now - DAY),
                )
            )
            new = tuple(a for a in addrs if a not in known)
            hour = tuple(t for t in day if t > now - HOUR)  # a slot frees exactly an hour on
            check(QuotaUsage(now=now, hour=hour, day=day, new=new, new_day=new_day))
            unknown = unknown_addresses(tx, account_id, new) if screen is not None else []
            hold = screen(tuple(unknown)) if screen is not None and unknown else None
            row_id = insert(hold)
            tx.execute(
                "INSERT INTO policy_sends (account_id, at, outbox_id) VALUES (?, ?, ?)",
                (account_id, now, row_id),
            )
            tx.executemany(
                "INSERT OR IGNORE INTO policy_recipients (account_id, address, first_at)"
                " VALUES (?, ?, ?)",
                [] if hold is not None else [(account_id, a, now) for a in new],
            )
        return row_id
