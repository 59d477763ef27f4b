"""``prx-email watch`` (and ``sync --watch``): keep every configured folder in sync as it changes.

Each (account, folder) gets one persistent IMAP connection in IDLE, or polling where the
server has no IDLE (``services.watch``). Output, one line each:

- a startup line per folder naming the mode: ``account 1 INBOX: watching with IDLE
  (re-issued every 28 min)`` or ``account 1 INBOX: polling every 300 s (the server does not
  offer IDLE)``; with ``--json`` ``{"ok": true, "watching": {"account", "folder", "mode",
  "reason", "reissue_seconds", "poll_seconds"}}``;
- each sync that changed something or failed, as ``sync`` prints it (``--json``: one
  ``{"ok", "jobs": [...]}`` line per sync, and one per interval for a job backing off).

Between syncs the outbox is drained every ``--interval`` (default: the smallest
``interval_seconds``), and configured ``[[webhooks]]`` receive each new event
(``services.webhooks``). SIGHUP reloads the config and the OAuth token variables (the folders
are re-watched when the config changed); SIGINT and SIGTERM end every IDLE, log out and
exit 0. An account with ``idle = "required"`` whose server lacks IDLE ends the command with
``EMAIL_CONFIG`` (exit 1) at startup.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from typing import Any, TextIO

from ..._aio import cancel_and_wait
from .cmd_sync import (
    MIN_INTERVAL_SECONDS,
    NoJobs,
    add_arguments,
    drain_outbox,
    format_time,
    job_json,
    job_line,
    label_of,
    no_jobs,
    outbox_due,
    quiet,
    reload,
    round_interval,
    run,
)

__all__ = ["register", "watch_main"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "watch",
        help="keep the configured folders in sync as they change (IMAP IDLE, else polling)",
    )
    add_arguments(p)
    p.set_defaults(handler=run, watch=True)


class _Printer:
    """Turns the watcher's reports into lines on ``out``."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json

    def __call__(self, rep: Any) -> None:
        from ...services.watch import WatchStarted

        if isinstance(rep, WatchStarted):
            self._started(rep)
        elif self.as_json:
            self._json({"ok": rep.ok, "jobs": [job_json(rep)]})
        elif not quiet(rep):
            retry = f"; retrying at {format_time(rep.next_due)}" if rep.error_code else ""
            self._line(f"{label_of(rep.account_id, rep.folder)}: {job_line(rep)}{retry}")

    def _started(self, rep: Any) -> None:
        if self.as_json:
            self._json(
                {
                    "ok": True,
                    "watching": {
                        "account": rep.account_id,
                        "folder": rep.folder,
                        "mode": rep.mode.value,
                        "reason": rep.reason,
                        "reissue_seconds": rep.reissue_seconds,
                        "poll_seconds": rep.poll_seconds,
                    },
                }
            )
            return
        if rep.reissue_seconds is not None:
            how = f"watching with IDLE (re-issued every {_duration(rep.reissue_seconds)})"
        else:
            how = f"polling every {_duration(rep.poll_seconds)} ({rep.reason})"
        self._line(f"{label_of(rep.account_id, rep.folder)}: {how}")

    def no_jobs(self, exc: NoJobs) -> None:
        if self.as_json:
            from ...envelope import from_error

            self._json({"ok": False, "jobs": [], "error": from_error(exc)["error"]})
        else:
            self._line(f"{exc.message} (hint: {exc.hint})")

    def webhooks_off(self, exc: Any) -> None:
        """Webhook delivery could not start (a secret, the network flag); watching goes on."""
        if self.as_json:
            from ...envelope import from_error

            self._json({"ok": False, "webhooks": "off", "error": from_error(exc)["error"]})
        else:
            self._line(f"webhooks are off: {exc.message} (hint: {exc.hint})")

    def _json(self, doc: dict[str, Any]) -> None:
        self._line(json.dumps(doc, ensure_ascii=False))

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


async def watch_main(ctx: Any, args: argparse.Namespace, out: TextIO) -> int:
    """Watch until SIGINT/SIGTERM (exit 0).

    :raises NoJobs: no accounts at all (accounts without IMAP wait for a reload instead).
    :raises IdleUnavailable: an account requires IDLE its server does not offer.
    """
    loop = asyncio.get_running_loop()
    hangup, stop = asyncio.Event(), asyncio.Event()
    # `kill -HUP PID` (or `prx-email auth reload --signal PID`) reloads without a restart.
    loop.add_signal_handler(signal.SIGHUP, hangup.set)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from ...services.webhooks import run_webhooks

    printer = _Printer(out, args.json)
    outbox = asyncio.create_task(_outbox_loop(ctx, args, out))
    # [[webhooks]] deliveries (issue 13); with none configured the task ends at once.
    hooks = asyncio.create_task(run_webhooks(ctx, report=printer.webhooks_off))
    try:
        while not stop.is_set():
            await _watch_until_changed(ctx, args, printer, hangup, stop)
        return 0
    finally:
        await cancel_and_wait(outbox, hooks)
        for background in (outbox, hooks):
            with contextlib.suppress(asyncio.CancelledError):
                await background
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _watch_until_changed(
    ctx: Any,
    args: argparse.Namespace,
    printer: _Printer,
    hangup: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Watch the selected folders until stopped or a reload changed the config."""
    from ...services import scheduler
    from ...services.watch import WatchSettings, watch

    jobs = scheduler.jobs_for(ctx, args.account, args.folder)
    task: asyncio.Task[None] | None = None
    if jobs:
        settings = WatchSettings(
            max_concurrency=max(1, args.concurrency),
            max_messages=args.max_messages,
            poll_seconds=args.interval,
        )
        task = asyncio.create_task(watch(ctx, jobs, settings, printer))
    else:
        exc = no_jobs(ctx, args)
        if exc.fatal:
            raise exc
        # Accounts without IMAP: say so every interval (a SIGHUP reload may add one).
        printer.no_jobs(exc)
    try:
        while True:
            waits: set[asyncio.Future[Any]] = {
                asyncio.ensure_future(hangup.wait()),
                asyncio.ensure_future(stop.wait()),
            }
            if task is not None:
                waits.add(task)
            timeout = None if task is not None else round_interval(ctx, args)
            try:
                await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
            finally:
                for w in waits:
                    if w is not task:
                        w.cancel()
            if task is not None and task.done():
                task.result()  # IdleUnavailable: the command fails
            if stop.is_set():
                return
            if hangup.is_set():
                hangup.clear()
                if reload(ctx, args, printer.out) or task is None:
                    return  # re-watch under the new config
            elif task is None:
                return  # the interval passed: look for IMAP accounts again
    finally:
        if task is not None and not task.done():
            await cancel_and_wait(task)
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _outbox_loop(ctx: Any, args: argparse.Namespace, out: TextIO) -> None:
    """Deliver due outbox rows every interval, as ``sync --watch`` always has, and at the
    time of the next scheduled (or retried) row when that comes sooner."""
    while True:
        await drain_outbox(ctx, out)  # failures are printed, never raised
        wait = round_interval(ctx, args)
        due = outbox_due(ctx)
        if due is not None:
            wait = min(wait, max(MIN_INTERVAL_SECONDS, due - time.time()))
        await asyncio.sleep(wait)
