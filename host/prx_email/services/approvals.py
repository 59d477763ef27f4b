"""First-contact approval (issue 16): an operator's decision on a held row.

::

    send/reply/forward/draft_send ──admit──▶ awaiting_approval ──approve(hash)──▶ pending ─▶ sent
    (first_contact = "approve",              │  (within approval_ttl_hours)      (or scheduled)
     an address never seen)                  ├──reject──▶ rejected   (terminal, never sent)
                                             └──email.cancel──▶ cancelled

An approval names the sha256 of the exact stored bytes and envelope
(:func:`~prx_email.store.approvals.approval_hash`), compared with the row in the same
transaction that releases it: a row whose bytes, sender or recipients changed since the
operator read the hash is refused. Past its TTL a row can only be rejected. After each
decision the hooks registered with :func:`add_decision_hook` are called (the audit log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from ..errors import InvalidArgument, InvalidState, NotFound
from ..store.approvals import ApprovalRepo, Awaiting, Decided
from ..store.outbox import OutboxRepo
from ..types import OutboxEntry
from .context import ServiceContext

__all__ = ["Decision", "DecisionHook", "add_decision_hook", "approve", "on_decision", "reject"]

log = logging.getLogger(__name__)

Decision = Literal["approved", "rejected"]
#: Called after a decision is stored, with the row as it was decided on.
DecisionHook = Callable[[Awaiting, Decision], None]

_hooks: list[DecisionHook] = []


def add_decision_hook(hook: DecisionHook) -> Callable[[], None]:
    """Call ``hook(row, decision)`` after every approval and rejection; returns its remover."""
    _hooks.append(hook)
    return lambda: _hooks.remove(hook) if hook in _hooks else None


def on_decision(row: Awaiting, decision: Decision) -> None:
    """Run the registered hooks (none by default). A failing hook is logged, not raised:
    the decision is stored already."""
    for hook in tuple(_hooks):
        try:
            hook(row, decision)
        except Exception:
            log.exception("approval decision hook failed for outbox #%d", row.id)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_awaiting(ctx: ServiceContext, outbox_id: int) -> Exception:
    entry = OutboxRepo(ctx.db).entry(outbox_id)
    if entry is None:
        return NotFound(f"no outbox row {outbox_id}", hint="see prx-email outbox list")
    return InvalidState(
        f"outbox #{outbox_id} is {entry.status.value}, not awaiting_approval",
        hint="only held first contacts are approved or rejected: prx-email outbox list"
        " --status awaiting_approval",
    )


def approve(ctx: ServiceContext, outbox_id: int, digest: str) -> OutboxEntry:
    """Release a held row to ``pending`` (``scheduled`` if its time is ahead), for whatever
    drains the outbox; returns the row.

    :raises NotFound: no such row.
    :raises InvalidState: the row is not awaiting approval, or its approval expired.
    :raises InvalidArgument: ``digest`` is not the hash of the row as stored now.
    :raises StorageError:
    """
    outcome, row = ApprovalRepo(ctx.db).approve(outbox_id, digest, now=ctx.clock())
    if outcome is Decided.NOT_AWAITING or row is None:
        raise _not_awaiting(ctx, outbox_id)
    if outcome is Decided.EXPIRED:
        raise InvalidState(
            f"the approval of outbox #{outbox_id} expired at {_iso(row.expires_at)}"
            " ([accounts.policy] approval_ttl_hours); it can only be rejected now",
            hint=f"prx-email reject {outbox_id}; the agent may send it again to ask anew",
        )
    if outcome is Decided.MISMATCH:
        raise InvalidArgument(
            f"the hash does not match outbox #{outbox_id} as stored: the message or its"
            " envelope is not the one that hash approves; nothing was released",
            hint=f"read the row again (prx-email outbox show {outbox_id}) and approve the hash"
            " it shows, if you approve that exact message",
        )
    on_decision(row, "approved")
    entry = OutboxRepo(ctx.db).entry(outbox_id)
    assert entry is not None
    return entry


def reject(ctx: ServiceContext, outbox_id: int) -> OutboxEntry:
    """Move a held row (expired or not) to the terminal ``rejected``; returns the row.

    :raises NotFound: no such row.
    :raises InvalidState: the row is not awaiting approval.
    :raises StorageError:
    """
    row = ApprovalRepo(ctx.db).reject(
        outbox_id, now=ctx.clock(), note="rejected by an operator (first-contact approval)"
    )
    if row is None:
        raise _not_awaiting(ctx, outbox_id)
    on_decision(row, "rejected")
    entry = OutboxRepo(ctx.db).entry(outbox_id)
    assert entry is not None
    return entry
