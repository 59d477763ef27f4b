"""Store reads for actions: ``thread`` and ``get_many`` (no network).

Both complete the pending rows they return first (``services/completion.py``), like every
other read, so no caller sees a row without its body.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import NotFound
from ...store import mailbox as store
from ...types import AccountId, Message, MessageKey, Thread
from .. import mailbox
from ..completion import complete_pending, lenient_saver
from ..context import ServiceContext
from ..mailbox import GET_MANY_LIMIT

__all__ = ["GET_MANY_LIMIT", "get_many", "thread"]


def thread(
    ctx: ServiceContext, account: AccountId, key: MessageKey, *, window_days: int = 30
) -> Thread:
    """Every stored message of the conversation of ``key``, oldest first.

    :raises NotFound: no stored message with that id in this account.
    :raises StorageError:
    """
    ctx.account(account)
    found = store.thread_of(ctx.db, account, key, window_days=window_days)
    if found is None:
        raise NotFound(
            f"no stored message with id {key}", hint="ids come from email.list or email.search"
        )
    tid, keys = found
    complete_pending(ctx.db, account, keys=keys, saver=lenient_saver)
    rows = store.summaries(ctx.db, account, keys)
    return Thread(tid, tuple(rows[k] for k in keys if k in rows))


def get_many(
    ctx: ServiceContext, account: AccountId, ids: Sequence[MessageKey]
) -> list[Message | None]:
    """Up to 20 full messages, in the order given; None for an unknown id.

    :raises InvalidArgument: no ids or more than 20.
    :raises StorageError:
    """
    ctx.account(account)
    return mailbox.get_many(ctx.db, account, ids)
