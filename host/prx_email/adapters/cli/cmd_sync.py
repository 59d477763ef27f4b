"""``prx-email sync``: sync every configured account and folder (or one), once or ``--watch``.

A one-shot ``sync`` (what cron runs) always tries every selected job — the stored backoff
is for the watcher — and exits non-zero when any job failed, when there was nothing to
sync, or when the config has no accounts. Each job reports new messages, flag changes and
expunges; ``--json`` prints the same as one JSON document. Times are shown in UTC with
their zone. On a terminal each job gets a progress bar; otherwise one plain line per job.

``--watch`` is ``prx-email watch`` (``cmd_watch``): one IMAP connection per folder in IDLE
(or polling), the outbox drained between syncs, one JSON line per sync with ``--json``.
With ``--metrics HOST:PORT`` (or ``[metrics] listen``) it serves the Prometheus metrics
meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from ...config.model import DEFAULT_SYNC_INTERVAL
from ...errors import ConfigError, EmailError, InvalidArgument

if TYPE_CHECKING:
    from ...services.scheduler import JobReport

#: The shortest --interval: a watch loop must never turn into a login storm.
MIN_INTERVAL_SECONDS = 1.0


def interval_seconds(text: str) -> float:
    """argparse type for ``--interval``: a finite number of seconds, at least one."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < MIN_INTERVAL_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_INTERVAL_SECONDS:g} second, got {text!r}"
        )
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sync", help="fetch new mail from the configured IMAP accounts")
    add_arguments(p)
    p.add_argument(
        "--watch", action="store_true", help="keep watching (the same as `prx-email watch`)"
    )
    p.set_defaults(handler=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``sync`` and ``watch`` share."""
    p.add_argument("--account", type=int, metavar="ID", help="only this account")
    p.add_argument("--folder", metavar="NAME", help="only this folder")
    p.add_argument("--max-messages", type=int, metavar="N", help="per job and round")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="jobs at once")
    p.add_argument(
        "--interval",
        type=interval_seconds,
        default=None,
        metavar="S",
        help="when watching: seconds between polls of a folder without IDLE and between "
        "outbox drains, at least 1 (default: the accounts' interval_seconds)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="with --watch, serve Prometheus metrics on HOST:PORT (loopback unless "
        "[metrics] allow_remote; default: the config's [metrics] listen)",
    )
    p.add_argument(
        "--env-prefix",
        default="PRX_EMAIL",
        metavar="PREFIX",
        help="on SIGHUP when watching, read {PREFIX}_{IMAP,SMTP}_OAUTH_TOKEN (default: PRX_EMAIL)",
    )


def format_time(ts: float) -> str:
    """``2026-12-01 20:04:43 UTC``: human output always names its zone."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(ts: float) -> str:
    """``2026-12-01T20:04:43Z`` for the JSON report."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


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


def label_of(account_id: int, folder: str) -> str:
    return f"account {account_id} {folder}"


class NoJobs(ConfigError):
    """Nothing to sync: no accounts at all, or none with an IMAP server (exit non-zero)."""

    def __init__(self, message: str, hint: str, *, fatal: bool) -> None:
        super().__init__(message, hint=hint)
        #: No accounts at all: ``--watch`` stops too (a reload could not add IMAP to nothing
        #: it was told about; waiting silently forever is what cron users hit).
        self.fatal = fatal


def no_jobs(ctx: Any, args: argparse.Namespace) -> NoJobs:
    """What to say when the selection has no IMAP job (``fatal``: no accounts at all)."""
    from ...config import resolve_config_path

    source = ctx.config.source or resolve_config_path(args.config)
    # No file at the default path: the config holds only the built-in local account.
    if not ctx.config.accounts or ctx.config.source_missing:
        state = "which does not exist" if not source.exists() else "which has no accounts"
        return NoJobs(
            f"no accounts configured: read {source}, {state}",
            hint="add an [[accounts]] table with [accounts.imap] (see README), "
            "or pass --config PATH",
            fatal=True,
        )
    what = f"account {args.account}" if args.account is not None else "any account"
    return NoJobs(
        f"no IMAP accounts configured: {what} in {source} has no [accounts.imap] table",
        hint="add an [accounts.imap] table to the account, or pass --config PATH",
        fatal=False,
    )


def job_line(j: JobReport) -> str:
    """One job's outcome for people: counts, or the error and hint, or the backoff."""
    if not j.ran:
        return (
            f"backing off until {format_time(j.next_due)}"
            f" after {_plural(j.failures, 'failure', 'failures')}"
        )
    if j.error_code:
        line = f"error {j.error_code}: {j.error}" + (f" (hint: {j.hint})" if j.hint else "")
        # The run id finds this run's log lines (--log-format json: "run_id").
        return line + (f" [run {j.run_id}]" if j.run_id else "")
    parts = [
        f"{j.synced} new",
        _plural(j.flags_changed, "flag change", "flag changes"),
        f"{j.expunged} expunged",
    ]
    if j.uidvalidity_reset:
        parts.append("UIDVALIDITY changed, folder reloaded")
    if j.more_pending:
        parts.append("more pending")
    return ", ".join(parts)


def job_json(j: JobReport) -> dict[str, Any]:
    """One job of the ``--json`` report; ``error`` is an envelope error (with a hint and a
    ``detail.run_id``) or null; ``run_id`` is null for a job that did not run."""
    error = None
    if j.error_code:
        from ...envelope import error as envelope_error

        error = envelope_error(j.error_code, j.error or "", j.hint)["error"]
        error["detail"] = {"run_id": j.run_id}
    return {
        "account": j.account_id,
        "folder": j.folder,
        "ok": j.ok,
        "ran": j.ran,
        "new": j.synced,
        "flags_changed": j.flags_changed,
        "expunged": j.expunged,
        "uidvalidity_reset": j.uidvalidity_reset,
        "more_pending": j.more_pending,
        "failures": j.failures,
        "error": error,
        "next_due": iso_time(j.next_due),
        "run_id": j.run_id,
    }


def quiet(j: JobReport) -> bool:
    """When watching, only syncs that did something (or failed) print a line."""
    if not j.ran:
        return True
    busy = j.synced or j.flags_changed or j.expunged or j.uidvalidity_reset or j.error_code
    return not busy


def round_interval(ctx: Any, args: argparse.Namespace) -> float:
    """``--interval``, else the smallest ``interval_seconds`` of the IMAP accounts."""
    if args.interval is not None:
        return float(args.interval)
    intervals = [a.sync.interval_seconds for a in ctx.config.accounts if a.imap]
    return max(MIN_INTERVAL_SECONDS, min(intervals) if intervals else DEFAULT_SYNC_INTERVAL)


async def _round(ctx: Any, args: argparse.Namespace, out: TextIO) -> bool:
    """One run of every selected job; returns whether any job failed.

    :raises NoJobs: nothing to sync.
    """
    from ...services import scheduler

    jobs = scheduler.load_jobs(ctx, scheduler.jobs_for(ctx, args.account, args.folder))
    # An explicit one-shot run always tries: the backoff is for the watcher.
    jobs = [dataclasses.replace(j, next_due=0.0) for j in jobs]
    if not jobs:
        raise no_jobs(ctx, args)
    cfg = scheduler.RunnerConfig(
        max_concurrency=max(1, args.concurrency),
        interval_seconds=round_interval(ctx, args),
        max_messages=args.max_messages,
    )
    tty = out.isatty() and not args.json
    bars = _Bars(out, [label_of(j.account_id, j.folder) for j in jobs]) if tty else None
    if bars is not None:
        bars.draw()

    def progress(job: scheduler.SyncJob, done: int, total: int) -> None:
        if bars is not None:
            bars.update(label_of(job.account_id, job.folder), bars.bar(done, total))

    now = time.time()
    report = await scheduler.run_sync_runner(jobs, now, cfg, ctx=ctx, progress=progress)
    scheduler.save_jobs(ctx, report, now)
    bad = any(not j.ok for j in report.jobs)
    if args.json:
        doc = {"ok": not bad, "jobs": [job_json(j) for j in report.jobs]}
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return bad
    for j in report.jobs:
        label = label_of(j.account_id, j.folder)
        line = job_line(j)
        if bars is not None:
            bars.update(label, line)
        else:
            print(f"{label}: {line}", file=out, flush=True)
    return bad


async def drain_outbox(ctx: Any, out: TextIO) -> None:
    """Deliver due outbox rows (what a watcher does between syncs); one line if any."""
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


def outbox_due(ctx: Any) -> float | None:
    """When the outbox next has work (a scheduled row wakes the watch at its time)."""
    from ...services import outbox

    due = getattr(outbox, "next_due", None)
    try:
        return due(ctx) if due is not None else None
    except EmailError:
        return None


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
    server = None
    try:
        server = _metrics_server(ctx, args)
        if args.account is not None:
            ctx.account(args.account)  # AccountNotFound before any network
        if args.watch:
            from .cmd_watch import watch_main

            return await watch_main(ctx, args, out)
        return 1 if await _round(ctx, args, out) else 0
    finally:
        if server is not None:
            server.close()
        ctx.db.close()


def _metrics_server(ctx: Any, args: argparse.Namespace) -> Any:
    """The metrics endpoint of ``--watch`` (flag, else ``[metrics] listen``), or None.

    :raises InvalidArgument: ``--metrics`` without ``--watch``.
    :raises ConfigError: a bad or non-loopback address, or a port in use.
    """
    if not args.watch:
        if args.metrics is None:
            return None
        raise InvalidArgument(
            "--metrics needs --watch", hint="a one-shot sync exits at once; use `prx-email metrics`"
        )
    from ...metrics import serve_configured

    server = serve_configured(ctx, args.metrics)
    if server is not None:
        print(f"metrics: serving {server.url}", file=sys.stderr, flush=True)
    return server


def reload(ctx: Any, args: argparse.Namespace, out: TextIO) -> bool:
    """SIGHUP: apply the config file and the OAuth token variables; keep the old on error.

    Returns whether the configuration changed.
    """
    from ...auth import CredentialManager, reload_auth_from_env, reload_config
    from ...services.audit import audited

    try:
        shown = {"config": None if args.config is None else str(args.config)}
        with audited(ctx.db, "config-reload", shown, entry_point="cli"):
            result = reload_config(ctx, args.config)
        changed = "unchanged" if result.unchanged else "applied"
        print(f"reload: config {changed}", file=out, flush=True)
        if isinstance(ctx.credentials, CredentialManager):
            reload_auth_from_env(args.env_prefix, manager=ctx.credentials)
            print("reload: OAuth token variables applied", file=out, flush=True)
    except EmailError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        print(f"reload: error {exc.code.envelope}: {exc.message}{hint}", file=out, flush=True)
        return False
    return not result.unchanged


def run(args: argparse.Namespace) -> int:
    from ...bridge.gate import require_network

    try:
        require_network("sync")
        if args.max_messages is not None and args.max_messages < 1:
            raise InvalidArgument("--max-messages must be at least 1")
        return asyncio.run(_main(args, sys.stdout))
    except EmailError as exc:
        if not args.json:
            raise
        from ...envelope import from_error

        doc = {"ok": False, "jobs": [], "error": from_error(exc)["error"]}
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 1
