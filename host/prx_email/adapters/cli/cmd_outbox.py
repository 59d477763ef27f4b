"""``prx-email outbox [list|show ID|retry ID [--now]]`` and ``prx-email send-due``.

``outbox list|show`` reads the store only. ``outbox retry`` delivers one row (``--now``: even
when not due yet, and a ``held`` one); ``send-due`` delivers due rows (and settles rows whose
worker died mid-send, and Sent copies still pending); like every network operation they need
``PRX_EMAIL_ENABLE_REAL_NETWORK=1``. Several ``send-due`` processes may run at once.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

from ...types import OutboxEntry, OutboxQuery, OutboxStatus
from ._common import CommandError, print_json

_STATUSES = [s.value for s in OutboxStatus]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("outbox", help="show queued, sent, failed and dead messages")
    p.add_argument("action", nargs="?", choices=["list", "show", "retry"], default="list")
    p.add_argument("id", nargs="?", type=int, help="outbox id (for show and retry)")
    p.add_argument("--now", action="store_true", help="retry: deliver now, even if not due or held")
    p.add_argument("--status", choices=_STATUSES, help="only rows in this status")
    p.add_argument("--account", type=int, metavar="ID", help="only rows of this account")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="rows per page")
    p.add_argument("--cursor", metavar="C", help="next_cursor of a previous page")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_outbox)

    d = subparsers.add_parser("send-due", help="deliver due outbox rows now")
    d.add_argument("--limit", type=int, default=10_000, metavar="N", help="at most N rows")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.set_defaults(handler=run_send_due)


def _context(args: argparse.Namespace) -> Any:
    from ...api import load_config
    from ...auth import default_manager
    from ...config import resolve_db_path
    from ...services.context import ServiceContext
    from ...store.db import Database

    return ServiceContext(
        config=load_config(args.config),
        db=Database(resolve_db_path(args.db)),
        credentials=default_manager(),
    )


def _ts(value: int | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _entry_json(entry: OutboxEntry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    data["status"] = entry.status.value
    data["recipients"] = list(entry.recipients)
    return data


def _human(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _retry(args: argparse.Namespace, ctx: Any) -> int:
    from ...bridge.gate import require_network
    from ...services import outbox

    if args.id is None:
        raise CommandError("outbox retry needs an id", hint="prx-email outbox retry 12 --now")
    require_network("outbox retry")
    entry = asyncio.run(outbox.retry(ctx, args.id, now=args.now))
    if args.json:
        print_json(_entry_json(entry))
    else:
        print(f"outbox #{entry.id}: {entry.status.value}")
    return 0


def run_outbox(args: argparse.Namespace) -> int:
    from ...services import outbox
    from ...store.outbox import OutboxRepo

    ctx = _context(args)
    try:
        if args.action == "retry":
            return _retry(args, ctx)
        if args.action == "show":
            if args.id is None:
                raise CommandError("outbox show needs an id", hint="prx-email outbox show 12")
            entry = outbox.get_entry(ctx, args.id)
            attempts = OutboxRepo(ctx.db).attempts(args.id)
            if args.json:
                data = _entry_json(entry)
                data["attempt_log"] = [dataclasses.asdict(a) for a in attempts]
                print_json(data)
                return 0
            for key, value in _entry_json(entry).items():
                value = _ts(value) if key.endswith("_at") else _human(value)
                print(f"{key:16} {value}")
            for a in attempts:
                print(
                    f"  {a.attempt_key}: {a.outcome or 'in progress'}"
                    f" {a.smtp_code or ''} {a.server_reply or ''}".rstrip()
                )
            return 0
        status = OutboxStatus(args.status) if args.status else None
        page = outbox.list_outbox(
            ctx,
            OutboxQuery(
                account_id=args.account, status=status, limit=args.limit, cursor=args.cursor
            ),
        )
        if args.json:
            print_json(
                {
                    "entries": [_entry_json(e) for e in page.entries],
                    "next_cursor": page.next_cursor,
                }
            )
            return 0
        for e in page.entries:
            when = _ts(e.sent_at) if e.sent_at else f"next {_ts(e.next_attempt_at)}"
            print(
                f"{e.id:>6}  {e.status.value:8} acct {e.account_id}  tries {e.attempts}"
                f"  {when}  {e.subject[:50]!r}  {e.last_error or ''}".rstrip()
            )
        if page.next_cursor:
            print(f"more: --cursor {page.next_cursor}")
        return 0
    finally:
        ctx.db.close()


def run_send_due(args: argparse.Namespace) -> int:
    from ...bridge.gate import require_network
    from ...services import outbox

    require_network("send-due")
    ctx = _context(args)
    try:
        report = asyncio.run(outbox.drain_due(ctx, limit=args.limit))
    finally:
        ctx.db.close()
    if args.json:
        print_json(dataclasses.asdict(report))
    else:
        skipped = f", circuit open: {report.skipped_accounts}" if report.skipped_accounts else ""
        print(
            f"sent {report.sent}, failed {report.failed}, dead {report.dead},"
            f" held {report.held}, recovered {report.recovered}, requeued {report.requeued},"
            f" Sent copies repaired {report.copies_repaired}{skipped}"
        )
    return 0 if not report.errors else 1
