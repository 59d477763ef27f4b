"""``prx-email outbox [list|show ID|retry ID [--now]|cancel ID]`` and ``prx-email send-due``.

``outbox list|show`` reads the store only (scheduled rows show their time); ``outbox cancel``
cancels a row that has not started sending (no network). ``outbox retry`` delivers one row
(``--now``: even when not due yet, and a ``held`` one); ``send-due`` delivers due rows (and
settles rows whose worker died mid-send, Sent copies and sent drafts still pending); with
``--watch`` it keeps running and sleeps until the next row is due (a scheduled one too) or
``--interval`` seconds passed. Like every network operation they need
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
    p.add_argument("action", nargs="?", choices=["list", "show", "retry", "cancel"], default="list")
    p.add_argument("id", nargs="?", type=int, help="outbox id (for show, retry and cancel)")
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
    d.add_argument(
        "--watch", action="store_true", help="keep delivering: wake when the next row is due"
    )
    d.add_argument(
        "--interval",
        type=float,
        default=60.0,
        metavar="S",
        help="--watch: look for rows queued by other processes at least every S seconds",
    )
    d.set_defaults(handler=run_send_due)


def context(args: argparse.Namespace) -> Any:
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


def entry_json(entry: OutboxEntry, approval_hash: str | None = None) -> dict[str, Any]:
    """The row as JSON; ``approval_hash`` (awaiting_approval rows) is what `approve` takes."""
    data = dataclasses.asdict(entry)
    data["status"] = entry.status.value
    data["recipients"] = list(entry.recipients)
    if approval_hash is not None:
        data["approval_hash"] = approval_hash
    return data


def _human(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _retry(args: argparse.Namespace, ctx: Any) -> int:
    from ...bridge.gate import require_network
    from ...services import outbox
    from ...services.audit import audited

    if args.id is None:
        raise CommandError("outbox retry needs an id", hint="prx-email outbox retry 12 --now")
    require_network("outbox retry")
    with audited(ctx.db, "retry", {"outbox-id": args.id, "now": args.now}, entry_point="cli"):
        entry = asyncio.run(outbox.retry(ctx, args.id, now=args.now))
    if args.json:
        print_json(entry_json(entry))
    else:
        print(f"outbox #{entry.id}: {entry.status.value}")
    return 0


def _cancel(args: argparse.Namespace, ctx: Any) -> int:
    from ...services import outbox
    from ...services.audit import audited

    if args.id is None:
        raise CommandError("outbox cancel needs an id", hint="prx-email outbox cancel 12")
    with audited(ctx.db, "cancel", {"outbox-id": args.id}, entry_point="cli"):
        entry = outbox.cancel(ctx, args.id)
    if args.json:
        print_json(entry_json(entry))
    else:
        print(f"outbox #{entry.id}: {entry.status.value}")
    return 0


def _when(e: OutboxEntry) -> str:
    if e.sent_at:
        return _ts(e.sent_at)
    if e.status is OutboxStatus.SCHEDULED:
        return f"at {_ts(e.send_at)}"
    return f"next {_ts(e.next_attempt_at)}"


def run_outbox(args: argparse.Namespace) -> int:
    from ...services import outbox
    from ...store.approvals import ApprovalRepo
    from ...store.outbox import OutboxRepo

    ctx = context(args)
    try:
        if args.action == "retry":
            return _retry(args, ctx)
        if args.action == "cancel":
            return _cancel(args, ctx)
        if args.action == "show":
            if args.id is None:
                raise CommandError("outbox show needs an id", hint="prx-email outbox show 12")
            entry = outbox.get_entry(ctx, args.id)
            attempts = OutboxRepo(ctx.db).attempts(args.id)
            digest = ApprovalRepo(ctx.db).hashes([entry.id]).get(entry.id)
            if args.json:
                data = entry_json(entry, digest)
                data["attempt_log"] = [dataclasses.asdict(a) for a in attempts]
                print_json(data)
                return 0
            for key, value in entry_json(entry, digest).items():
                if key == "bounces":
                    continue  # one line each, below
                value = _ts(value) if key.endswith("_at") else _human(value)
                print(f"{key:16} {value}")
            for b in entry.bounces:
                print(
                    f"  bounced {b.recipient}: {b.kind} {b.status or ''} {b.action}"
                    f" at {_ts(b.at)}  {b.reason}".rstrip()
                )
            for a in attempts:
                print(
                    f"  {a.attempt_key}: {a.outcome or 'in progress'}"
                    f" {a.smtp_code or ''} {a.server_reply or ''}".rstrip()
                    + (f"  [run {a.run_id}]" if a.run_id else "")
                )
            return 0
        status = OutboxStatus(args.status) if args.status else None
        page = outbox.list_outbox(
            ctx,
            OutboxQuery(
                account_id=args.account, status=status, limit=args.limit, cursor=args.cursor
            ),
        )
        hashes = ApprovalRepo(ctx.db).hashes(
            [e.id for e in page.entries if e.status is OutboxStatus.AWAITING_APPROVAL]
        )
        if args.json:
            print_json(
                {
                    "entries": [entry_json(e, hashes.get(e.id)) for e in page.entries],
                    "next_cursor": page.next_cursor,
                }
            )
            return 0
        for e in page.entries:
            print(
                f"{e.id:>6}  {e.status.value:9} acct {e.account_id}  tries {e.attempts}"
                f"  {_when(e)}  {e.subject[:50]!r}  {e.last_error or ''}".rstrip()
                + (f"  ({len(e.bounces)} bounced)" if e.bounces else "")
            )
            if e.id in hashes:
                print(f"        approve: prx-email approve {e.id} --hash {hashes[e.id]}")
        if page.next_cursor:
            print(f"more: --cursor {page.next_cursor}")
        return 0
    finally:
        ctx.db.close()


def run_send_due(args: argparse.Namespace) -> int:
    from ...bridge.gate import require_network
    from ...services import outbox

    require_network("send-due")
    ctx = context(args)
    try:
        if args.watch:
            return _watch(args, ctx)
        report = asyncio.run(outbox.drain_due(ctx, limit=args.limit))
    finally:
        ctx.db.close()
    _print_report(args, report)
    return 0 if not report.errors else 1


def _print_report(args: argparse.Namespace, report: Any) -> None:
    if args.json:
        print_json(dataclasses.asdict(report))
        return
    skipped = f", circuit open: {report.skipped_accounts}" if report.skipped_accounts else ""
    print(
        f"sent {report.sent}, failed {report.failed}, dead {report.dead},"
        f" held {report.held}, recovered {report.recovered}, requeued {report.requeued},"
        f" Sent copies repaired {report.copies_repaired},"
        f" drafts removed {report.drafts_removed}{skipped}",
        flush=True,
    )


def _watch(args: argparse.Namespace, ctx: Any) -> int:
    """``send-due --watch``: one report line per drain that did something, until SIGINT/TERM."""
    import signal

    from ...services import outbox

    if not args.interval > 0:
        raise CommandError("--interval must be greater than zero", hint="e.g. --interval 60")

    def report(rep: Any) -> None:
        if (
            rep.claimed
            or rep.recovered
            or rep.requeued
            or rep.copies_repaired
            or rep.drafts_removed
        ):
            _print_report(args, rep)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await outbox.watch(ctx, interval=args.interval, stop=stop, on_report=report)

    asyncio.run(main())
    return 0
