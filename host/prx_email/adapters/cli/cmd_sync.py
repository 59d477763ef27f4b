"""``prx-email sync``: sync every configured account and folder (or one), once or ``--watch``.

On a terminal each job gets a progress bar; otherwise one plain line per job result.
``--watch`` keeps running: each round syncs the due jobs (failing ones back off), delivers
due outbox rows when the outbox service provides ``drain_due``, then sleeps until the next
job is due (at most ``--interval`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
import time
from typing import Any, TextIO

from ...errors import EmailError, InvalidArgument


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sync", help="fetch new mail from the configured IMAP accounts")
    p.add_argument("--account", type=int, metavar="ID", help="only this account")
    p.add_argument("--folder", metavar="NAME", help="only this folder")
    p.add_argument("--max-messages", type=int, metavar="N", help="per job and round")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="jobs at once")
    p.add_argument("--watch", action="store_true", help="keep syncing on an interval")
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="S",
        help="seconds between rounds in --watch (default: the accounts' interval_seconds)",
    )
    p.add_argument(
        "--env-prefix",
        default="PRX_EMAIL",
        metavar="PREFIX",
        help="on SIGHUP in --watch, read {PREFIX}_{IMAP,SMTP}_OAUTH_TOKEN (default: PRX_EMAIL)",
    )
    p.set_defaults(handler=run)


class _Bars:
    """One progress bar per job, redrawn in place (TTY only)."""

    WIDTH = 28

    def __init__(self, out: TextIO, labels: list[str]) -> None:
        self.out = out
        self.labels = labels
        self.state = {label: "waiting" for label in labels}
        self.drawn = False

    def update(self, label: str, text: str) -> None:
        self.state[label] = text
        self.draw()

    def bar(self, done: int, total: int) -> str:
        frac = 1.0 if total == 0 else done / total
        fill = int(frac * self.WIDTH)
        return f"[{'#' * fill}{'.' * (self.WIDTH - fill)}] {done}/{total}"

    def draw(self) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{len(self.labels)}F")
        width = max(len(lbl) for lbl in self.labels)
        for label in self.labels:
            self.out.write(f"\x1b[2K{label:<{width}}  {self.state[label]}\n")
        self.out.flush()
        self.drawn = True


def _label(account_id: int, folder: str) -> str:
    return f"account {account_id} {folder}"


async def _round(ctx: Any, args: argparse.Namespace, out: TextIO) -> tuple[float | None, bool]:
    from ...services import scheduler

    jobs = scheduler.load_jobs(ctx, scheduler.jobs_for(ctx, args.account, args.folder))
    if not args.watch:
        # A one-shot run syncs now; only jobs backing off after failures wait their turn.
        jobs = [j if j.failures else dataclasses.replace(j, next_due=0.0) for j in jobs]
    if not jobs:
        print("no IMAP accounts configured", file=out)
        return None, False
    interval = args.interval
    if interval is None:
        intervals = [a.sync.interval_seconds for a in ctx.config.accounts if a.imap]
        interval = min(intervals) if intervals else 300.0
    cfg = scheduler.RunnerConfig(
        max_concurrency=max(1, args.concurrency),
        interval_seconds=interval,
        max_messages=args.max_messages,
    )
    tty = out.isatty()
    bars = _Bars(out, [_label(j.account_id, j.folder) for j in jobs]) if tty else None
    if bars is not None:
        bars.draw()

    def progress(job: scheduler.SyncJob, done: int, total: int) -> None:
        if bars is not None:
            bars.update(_label(job.account_id, job.folder), bars.bar(done, total))

    now = time.time()
    report = await scheduler.run_sync_runner(jobs, now, cfg, ctx=ctx, progress=progress)
    scheduler.save_jobs(ctx, report, now)
    for j in report.jobs:
        label = _label(j.account_id, j.folder)
        if not j.ran:
            line = f"backing off until {time.strftime('%H:%M:%S', time.localtime(j.next_due))}"
        elif j.error_code:
            line = f"error {j.error_code}: {j.error}" + (f" (hint: {j.hint})" if j.hint else "")
        else:
            more = ", more pending" if j.more_pending else ""
            line = f"synced {j.synced} message{'s' if j.synced != 1 else ''}{more}"
        if bars is not None:
            bars.update(label, line)
        elif not (args.watch and (not j.ran or (j.synced == 0 and not j.error_code))):
            # --watch without a terminal: only rounds that did something (or failed).
            print(f"{label}: {line}", file=out, flush=True)
    return report.next_due, any(j.error_code for j in report.jobs)


async def _drain_outbox(ctx: Any, out: TextIO) -> None:
    from ...services import outbox

    drain = getattr(outbox, "drain_due", None)
    if drain is None:
        return
    try:
        rep = await drain(ctx)
    except EmailError as exc:
        print(f"outbox: error {exc.code.envelope}: {exc.message}", file=out, flush=True)
        return
    sent = getattr(rep, "sent", 0)
    failed = getattr(rep, "failed", 0)
    if sent or failed:
        print(f"outbox: sent {sent}, failed {failed}", file=out, flush=True)


async def _main(args: argparse.Namespace, out: TextIO) -> int:
    from ...api import load_config
    from ...auth import default_manager
    from ...config import resolve_db_path
    from ...services.context import ServiceContext
    from ...store.db import Database

    ctx = ServiceContext(
        config=load_config(args.config),
        db=Database(resolve_db_path(args.db)),
        credentials=default_manager(),
    )
    hangup: asyncio.Event | None = None
    if args.watch:
        # `kill -HUP PID` (or `prx-email auth reload --signal PID`) reloads without a restart.
        hangup = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hangup.set)
    try:
        if args.account is not None:
            ctx.account(args.account)  # AccountNotFound before any network
        while True:
            next_due, failed = await _round(ctx, args, out)
            if not args.watch:
                return 1 if failed else 0
            await _drain_outbox(ctx, out)
            cap = args.interval if args.interval is not None else 300.0
            wait = cap if next_due is None else min(cap, max(1.0, next_due - time.time()))
            if await _sleep_or_hangup(hangup, wait):
                _reload(ctx, args, out)
    finally:
        if hangup is not None:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        ctx.db.close()


async def _sleep_or_hangup(hangup: asyncio.Event | None, seconds: float) -> bool:
    """Sleep; True when SIGHUP cut the sleep short (the round then starts at once)."""
    if hangup is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(hangup.wait(), seconds)
    except TimeoutError:
        return False
    hangup.clear()
    return True


def _reload(ctx: Any, args: argparse.Namespace, out: TextIO) -> None:
    """SIGHUP: apply the config file and the OAuth token variables; keep the old on error."""
    from ...auth import CredentialManager, reload_auth_from_env, reload_config

    try:
        result = reload_config(ctx, args.config)
        changed = "unchanged" if result.unchanged else "applied"
        print(f"reload: config {changed}", file=out, flush=True)
        if isinstance(ctx.credentials, CredentialManager):
            reload_auth_from_env(args.env_prefix, manager=ctx.credentials)
            print("reload: OAuth token variables applied", file=out, flush=True)
    except EmailError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        print(f"reload: error {exc.code.envelope}: {exc.message}{hint}", file=out, flush=True)


def run(args: argparse.Namespace) -> int:
    from ...bridge.gate import require_network

    require_network("sync")
    if args.max_messages is not None and args.max_messages < 1:
        raise InvalidArgument("--max-messages must be at least 1")
    return asyncio.run(_main(args, sys.stdout))
