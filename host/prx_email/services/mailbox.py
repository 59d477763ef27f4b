"""Local mailbox reads: list, get and search over the store (no network).

Each read is: store read → complete the pending rows it needs (``services/completion.py``)
→ answer, so no caller ever sees a row without its body:

- ``list_messages`` reads its page once, completes only its pending rows and patches
  those summaries in memory (snippet, attachments, and any field the full parse corrects);
- ``get_message`` completes the one row, then reads it; ``get_many`` the same for up to
  ``GET_MANY_LIMIT`` rows at once (one completion pass, one bound check);
- ``search_local`` completes the account's pending rows (their bodies are not indexed
  yet), then searches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..errors import InvalidArgument
from ..store.db import Database
from ..store.fts import plan_search
from ..store.messages import CompletedRow, MessageStore
from ..types import (
    AccountId,
    ListQuery,
    Message,
    MessageKey,
    MessagePage,
    MessageSummary,
    SearchQuery,
)
from .completion import complete_keys, complete_pending, lenient_saver

__all__ = [
    "GET_MANY_LIMIT",
    "check_ids",
    "get_many",
    "get_message",
    "list_messages",
    "search_local",
]

#: Most messages one ``get_many`` returns.
GET_MANY_LIMIT = 20
#: Named in the over-the-limit hint (the guest uses the same words).
GET_MANY_SETTING = "email.get_many's maximum"


def _patched(summary: MessageSummary, done: CompletedRow) -> MessageSummary:
    p = done.parsed
    return dataclasses.replace(
        summary,
        message_id=p.message_id,
        subject=p.subject,
        from_=p.from_,
        to=p.to,
        cc=p.cc,
        date=p.date,
        snippet=p.snippet,
        has_attachments=bool(done.attachments),
    )


def list_messages(db: Database, q: ListQuery) -> MessagePage:
    """One page of an account's messages, newest first.

    :raises InvalidArgument: a cursor this store did not issue.
    :raises StorageError:
    """
    listed = MessageStore(db).list_page(q)
    if not listed.pending:
        return listed.page
    done = {
        row.pending.key: row
        for row in complete_keys(db, q.account_id, keys=listed.pending, saver=lenient_saver)
    }
    messages = tuple(_patched(m, done[m.id]) if m.id in done else m for m in listed.page.messages)
    return MessagePage(messages, listed.page.next_cursor)


def get_message(db: Database, account_id: AccountId, key: MessageKey) -> Message | None:
    """The stored message with this key, or None (also when it belongs to another account).

    :raises StorageError:
    """
    complete_pending(db, account_id, keys=(key,), saver=lenient_saver)
    return MessageStore(db).get(account_id, key)


def check_ids(ids: Sequence[MessageKey], limit: int, what: str, setting: str) -> list[MessageKey]:
    """Distinct ids in the order given. :raises InvalidArgument: none, or over ``limit``.

    The guest refuses with the same words (``prx_email_guest._kinds.Ids``).
    """
    out = list(dict.fromkeys(int(i) for i in ids))
    if not out:
        raise InvalidArgument(f"no {what} given", hint="pass one message id or a list of ids")
    if len(out) > limit:
        raise InvalidArgument(
            f"{len(out)} {what} given, over the limit of {limit}",
            hint=f"split the call into batches of {limit} ({setting})",
        )
    return out


def get_many(
    db: Database, account_id: AccountId, ids: Sequence[MessageKey]
) -> list[Message | None]:
    """Up to ``GET_MANY_LIMIT`` full messages, in the order given; None for an unknown id.

    :raises InvalidArgument: no ids or more than the limit.
    :raises StorageError:
    """
    wanted = check_ids(ids, GET_MANY_LIMIT, "ids", GET_MANY_SETTING)
    complete_pending(db, account_id, keys=wanted, saver=lenient_saver)
    ms = MessageStore(db)
    return [ms.get(account_id, k) for k in wanted]


def search_local(db: Database, q: SearchQuery) -> MessagePage:
    """Search the local store; every present criterion must match. ``q.remote`` is ignored.

    What the text criteria match: ``prx_email.store.fts``.

    :raises InvalidArgument: a cursor this store did not issue, ``since`` after
        ``before``, or a text criterion without any letter or digit.
    :raises StorageError:
    """
    if q.since is not None and q.before is not None and q.since > q.before:
        raise InvalidArgument(
            "since is after before",
            hint="since is inclusive and before exclusive; pass since <= before",
        )
    # Refuse unsearchable text before completing the account's pending rows for nothing.
    plan_search(text=q.text, subject=q.subject, from_=q.from_, to=q.to, body=q.body)
    complete_pending(db, q.account_id, saver=lenient_saver)
    return MessageStore(db).search(q)
