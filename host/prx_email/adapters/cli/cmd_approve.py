"""``prx-email approve ID --hash HASH [--send]`` and ``prx-email reject ID``: decide on a
first contact held by ``[accounts.policy] first_contact = "approve"``.

The hash is the one ``prx-email outbox list|show`` prints for the row: the approval is
bound to exactly those bytes and that envelope. An approved row is pending: whatever drains
the outbox (``send-due``, ``sync --watch``) delivers it, or ``--send`` now (this needs
``PRX_EMAIL_ENABLE_REAL_NETWORK=1``). ``reject`` needs no network.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ._common import print_json
from .cmd_outbox import context, entry_json


def register(subparsers: Any) -> None:
    a = subparsers.add_parser("approve", help="approve a held first-contact message by its hash")
    a.add_argument("id", type=int, help="outbox id of the awaiting_approval row")
    a.add_argument(
        "--hash", required=True, metavar="SHA256", help="the hash `outbox show ID` prints"
    )
    a.add_argument("--send", action="store_true", help="deliver it now instead of queueing it")
    a.add_argument("--json", action="store_true", help="print the row as JSON")
    a.set_defaults(handler=run_approve)

    r = subparsers.add_parser("reject", help="reject a held first-contact message (never sent)")
    r.add_argument("id", type=int, help="outbox id of the awaiting_approval row")
    r.add_argument("--json", action="store_true", help="print the row as JSON")
    r.set_defaults(handler=run_reject)


def _print(args: argparse.Namespace, entry: Any) -> None:
    if args.json:
        print_json(entry_json(entry))
    else:
        print(f"outbox #{entry.id}: {entry.status.value}")


def run_approve(args: argparse.Namespace) -> int:
    from ...bridge.gate import require_network
    from ...services import approvals, outbox
    from ...types import OutboxStatus

    if args.send:
        require_network("approve --send")  # before anything changes
    from ...services.audit import audited

    ctx = context(args)
    try:
        # The decision is audited (ok, or why it was refused: a wrong hash, an expired hold).
        decision = {"outbox-id": args.id, "hash": args.hash}
        with audited(ctx.db, "approve", decision, entry_point="cli"):
            entry = approvals.approve(ctx, args.id, args.hash)
        if args.send and entry.status is OutboxStatus.PENDING:
            with audited(ctx.db, "retry", {"outbox-id": args.id, "now": True}, entry_point="cli"):
                entry = asyncio.run(outbox.retry(ctx, args.id, now=True))
    finally:
        ctx.db.close()
    _print(args, entry)
    return 0


def run_reject(args: argparse.Namespace) -> int:
    from ...services import approvals
    from ...services.audit import audited

    ctx = context(args)
    try:
        with audited(ctx.db, "reject", {"outbox-id": args.id}, entry_point="cli"):
            entry = approvals.reject(ctx, args.id)
    finally:
        ctx.db.close()
    _print(args, entry)
    return 0
