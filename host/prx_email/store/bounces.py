"""Bounces at store time (issue 13, schema ``0015_outbox_bounces``).

A synced message that :mod:`prx_email.mail.bounce` recognised becomes a ``bounce`` event
(never ``new_mail``: the sync stores it ``quiet``) whose detail is the parsed bounce, and,
when its original Message-ID is one of the account's outbox rows, one ``outbox_bounces``
row per recipient it names (whose trigger writes the row's ``outbox`` event). All in the
transaction that stores the message.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .events import record_from_messages

if TYPE_CHECKING:  # the store stores what the parser found; it does not parse
    from ..mail.bounce import Bounce

__all__ = ["record_bounces"]

_KEYS = (
    "SELECT m.uid, m.id FROM messages m WHERE m.account_id = ? AND m.folder = ?"
    " AND m.uidvalidity = ? AND m.id > ? AND m.uid IN (SELECT value FROM json_each(?))"
)
# The same notice stored again (a copy in another folder, a folder re-synced after a
# UIDVALIDITY change) links once: the row already holding it is not written twice.
_LINK = (
    "INSERT INTO outbox_bounces (outbox_id, recipient, status, action, kind, reason,"
    " message_key, at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE NOT EXISTS (SELECT 1"
    " FROM outbox_bounces WHERE outbox_id = ?1 AND recipient = ?2 AND status IS ?3"
    " AND action = ?4 AND reason = ?6)"
)
_EVENT_SOURCE = "json_each(?) j JOIN messages m ON m.uid = json_extract(j.value, '$.uid')"
_EVENT_WHERE = "m.account_id = ? AND m.folder = ? AND m.uidvalidity = ? AND m.id > ?"


def record_bounces(
    tx: sqlite3.Connection,
    account_id: int,
    folder: str,
    uidvalidity: int,
    after_key: int,
    found: Sequence[tuple[int, Bounce]],
    *,
    now: float | None = None,
) -> int:
    """Events and outbox links for the bounces ``found`` (uid, bounce) just inserted.

    Only rows inserted after ``after_key`` (this batch's, see
    :func:`~prx_email.store.events.messages_high_water`) count: a UID stored before keeps
    its one event. Returns bounce events written.
    """
    if not found:
        return 0
    ts = time.time() if now is None else now
    keys = dict(
        tx.execute(
            _KEYS, (account_id, folder, uidvalidity, after_key, json.dumps([u for u, _ in found]))
        ).fetchall()
    )
    payload = []
    for uid, bounce in found:
        key = keys.get(uid)
        if key is None:
            continue
        detail = bounce.detail()
        detail["outbox_id"] = _link(tx, account_id, bounce, key, ts)
        payload.append({"uid": uid, "detail": detail})
    if not payload:
        return 0
    return record_from_messages(
        tx,
        "bounce",
        _EVENT_WHERE,
        (json.dumps(payload), account_id, folder, uidvalidity, after_key),
        source=_EVENT_SOURCE,
        detail_sql="json_extract(j.value, '$.detail')",
        now=ts,
    )


def _link(
    tx: sqlite3.Connection, account_id: int, bounce: Bounce, key: int, ts: float
) -> int | None:
    """Link ``bounce`` to the account's outbox row it returns, if any; that row's id."""
    if bounce.original_message_id is None:
        return None
    row = tx.execute(
        "SELECT id FROM outbox WHERE account_id = ? AND message_id = ?",
        (account_id, bounce.original_message_id),
    ).fetchone()
    if row is None:
        return None
    outbox_id = int(row[0])
    tx.executemany(
        _LINK,
        [
            (outbox_id, r.recipient, r.status, r.action, r.kind, r.reason, key, ts)
            for r in bounce.recipients
        ],
    )
    return outbox_id
