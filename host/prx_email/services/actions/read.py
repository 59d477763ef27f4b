"""Store reads for actions: ``thread`` and ``get_many`` (no network).

Both complete the pending rows they return first (``services/completion.py``), like every
other read, so no caller sees a row without its body.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import NotFound
from ...store import mailbox as store
from ...store.messages import MessageStore
from ...types import AccountId, Message, MessageKey, Thread
from ..completion import complete_pending, lenient_saver
from ..context import ServiceContext
from ._session import check_ids

__all__ = ["GET_MANY_LIMIT", "get_many", "thread"]

#: Most messages one ``get_many`` returns.
GET_MANY_LIMIT = 20
#: Named in the over-the-limit hint (the guest uses the same words).
GET_MANY_SETTING = "email.get_many's maximum"


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
    wanted = check_ids(ids, GET_MANY_LIMIT, setting=GET_MANY_SETTING)
    complete_pending(ctx.db, account, keys=wanted, saver=lenient_saver)
    ms = MessageStore(ctx.db)
    return [ms.get(account, k) for k in wanted]
