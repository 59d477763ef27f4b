"""``prx-email webhooks [list|dead|replay ID|run [--once]]``: the ``[[webhooks]]`` deliveries.

- ``list``: each configured webhook, its cursor (the event-log consumer ``webhook:<name>``),
  how many events were written after it, and its dead letters;
- ``dead [--webhook NAME] [--all]``: dead-lettered deliveries (``--all``: replayed ones too);
- ``replay ID``: POST dead letter ID once more, freshly signed; marked replayed on a 2xx
  (exit 1 and the letter stays otherwise);
- ``run [--once]``: the dispatcher alone, until SIGINT/SIGTERM (``--once``: until nothing is
  pending). ``watch`` and ``sync --watch`` run it too.

``list`` and ``dead`` read the store only; ``replay`` and ``run`` need
``PRX_EMAIL_ENABLE_REAL_NETWORK=1``. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import UTC, datetime
from typing import Any

from ._common import CommandError, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("webhooks", help="webhook deliveries: status, dead letters, replay")
    p.add_argument("action", nargs="?", choices=["list", "dead", "replay", "run"], default="list")
    p.add_argument("id", nargs="?", type=int, help="replay: the dead letter's id")
    p.add_argument("--webhook", metavar="NAME", help="dead: only this webhook's")
    p.add_argument("--all", action="store_true", help="dead: replayed ones too")
    p.add_argument("--once", action="store_true", help="run: stop when nothing is pending")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_webhooks_command)


def _context(args: argparse.Namespace) -> Any:
    from ...api import load_config
    from ...config import resolve_db_path
    from ...services.context import ServiceContext
    from ...store.db import Database

    return ServiceContext(config=load_config(args.config), db=Database(resolve_db_path(args.db)))


def _ts(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def run_webhooks_command(args: argparse.Namespace) -> int:
    if args.action == "replay" and args.id is None:
        raise CommandError(
            "webhooks replay needs the dead letter's ID", "see `prx-email webhooks dead`"
        )
    if args.action != "replay" and args.id is not None:
        raise CommandError(f"webhooks {args.action} takes no ID")
    ctx = _context(args)
    try:
        if args.action == "list":
            return _list(ctx, args)
        if args.action == "dead":
            return _dead(ctx, args)
        if args.action == "replay":
            return _replay(ctx, args)
        return asyncio.run(_run(ctx, args))
    finally:
        ctx.db.close()


def _list(ctx: Any, args: argparse.Namespace) -> int:
    from ...services.webhooks import status

    rows = status(ctx)
    if args.json:
        print_json(
            [
                {
                    "name": r.name,
                    "url": r.url,
                    "cursor": r.cursor,
                    "behind": r.behind,
                    "dead": r.dead,
                }
                for r in rows
            ]
        )
        return 0
    if not rows:
        print("no webhooks configured (see [[webhooks]] in docs/config.md)")
    for r in rows:
        cursor = "not started" if r.cursor is None else f"at event {r.cursor}, {r.behind} behind"
        print(f"{r.name}  {r.url}  {cursor}, {r.dead} dead")
    return 0


def _dead(ctx: Any, args: argparse.Namespace) -> int:
    from ...store.webhooks import DeadLetters

    letters = DeadLetters(ctx.db).list(
        webhook=args.webhook, include_replayed=args.all, limit=10_000
    )
    if args.json:
        print_json([d.to_json() for d in letters])
        return 0
    if not letters:
        print("no dead letters")
    for d in letters:
        replayed = f", replayed {_ts(d.replayed_at)}" if d.replayed_at is not None else ""
        print(
            f"{d.id}  {d.webhook}  event {d.event_id} ({d.event_type}, account {d.account_id})"
            f"  {d.attempts} attempts, last: {d.last_error}  at {_ts(d.created_at)}{replayed}"
        )
    return 0


def _replay(ctx: Any, args: argparse.Namespace) -> int:
    from ...services.webhooks import replay

    letter = asyncio.run(replay(ctx, args.id))
    if args.json:
        print_json(letter.to_json())
    else:
        print(f"dead letter {letter.id} (event {letter.event_id}) delivered to {letter.webhook}")
    return 0


async def _run(ctx: Any, args: argparse.Namespace) -> int:
    from ...services.webhooks import Dispatcher

    if not ctx.config.webhooks:
        raise CommandError("no webhooks configured", "add [[webhooks]] to the config")
    dispatcher = Dispatcher(ctx)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, dispatcher.stop.set)
    try:
        handled = await dispatcher.run(once=args.once)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if args.json:
        print_json({"ok": True, "handled": handled})
    elif args.once:
        print(f"{handled} events delivered or dead-lettered")
    return 0
