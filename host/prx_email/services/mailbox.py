"""Local mailbox reads: list, get and search over the store (no network)."""

from __future__ import annotations

from ..errors import InvalidArgument
from ..store.db import Database
from ..store.messages import MessageStore
from ..types import AccountId, ListQuery, Message, MessageKey, MessagePage, SearchQuery

__all__ = ["get_message", "list_messages", "search_local"]


def list_messages(db: Database, q: ListQuery) -> MessagePage:
    """One page of an account's messages, newest first.

    :raises InvalidArgument: a limit outside 1..=500 or a cursor this store did not issue.
    """
    return MessageStore(db).list_page(q)


def get_message(db: Database, account_id: AccountId, key: MessageKey) -> Message | None:
    """The stored message with this key, or None (also when it belongs to another account)."""
    return MessageStore(db).get(account_id, key)


def search_local(db: Database, q: SearchQuery) -> MessagePage:
    """Search the local store; every present criterion must match. ``q.remote`` is ignored.

    :raises InvalidArgument: a limit outside 1..=500, a cursor this store did not issue, or
        ``since`` after ``before``.
    """
    if q.since is not None and q.before is not None and q.since > q.before:
        raise InvalidArgument(
            "since is after before",
            hint="since is inclusive and before exclusive; pass since <= before",
        )
    return MessageStore(db).search(q)
