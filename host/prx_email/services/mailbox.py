"""Local mailbox reads: list, get and search over the store (no network).

Each read is: store read → complete the pending rows it needs (``services/completion.py``)
→ answer, so no caller ever sees a row without its body:

- ``list_messages`` reads its page once, completes only its pending rows and patches
  those summaries in memory (snippet, attachments, and any field the full parse corrects);
- ``get_message`` completes the one row, then reads it;
- ``search_local`` completes the account's pending rows (their bodies are not indexed
  yet), then searches.
"""

from __future__ import annotations

import dataclasses

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

__all__ = ["get_message", "list_messages", "search_local"]


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
