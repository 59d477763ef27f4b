"""``prx-email events [--follow] [--after ID] [--consumer NAME]``: the event log as NDJSON.

One event per line on stdout, flushed line by line (a pipe sees each at once). Reads the
store only: no network flag needed. Without ``--follow`` it prints what is stored and
exits; with it, it then waits for new events until SIGINT/SIGTERM (exit 0).

``--consumer NAME`` makes the reader a named consumer: it starts after NAME's stored
cursor (``--after`` overrides it) and acknowledges each event once its line is written,
so a consumer restarted later resumes where it stopped (at-least-once: a crash between
writing and acknowledging prints that line again).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ._common import CommandError

#: Seconds one wait lasts; ends of the wait are when a stop request is noticed at the latest.
_WAIT = 1.0


def register(subparsers: Any) -> None:
    from ...types import EVENT_TYPES

    p = subparsers.add_parser("events", help="print the durable event log as NDJSON")
    p.add_argument("--follow", "-f", action="store_true", help="keep waiting for new events")
    p.add_argument("--after", type=int, metavar="ID", help="only events after this id")
    p.add_argument(
        "--consumer", metavar="NAME", help="a named consumer: resume after, and acknowledge"
    )
    p.add_argument(
        "--type", action="append", choices=EVENT_TYPES, dest="types", help="only this type"
    )
    p.add_argument("--account", type=int, metavar="ID", help="only events of this account")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    p.set_defaults(handler=run_events)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """A stop flag set by SIGINT/SIGTERM (the wait notices it within a poll interval)."""
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_events(args: argparse.Namespace) -> int:
    from ...config import resolve_db_path
    from ...store.db import Database
    from ...store.events import MAX_LIMIT, EventLog

    if args.limit is not None and args.limit < 1:
        raise CommandError("--limit must be at least 1")
    if args.after is not None and args.after < 0:
        raise CommandError("--after must be an event id (0 or more)")
    db = Database(resolve_db_path(args.db))
    try:
        log = EventLog(db)
        cursor = args.after
        if args.consumer is not None:
            stored = log.register(args.consumer, at=args.after or 0)
            cursor = stored if args.after is None else args.after
        cursor = cursor or 0
        left = args.limit
        out = sys.stdout
        with _stop_on_signals() as stop:
            while not stop.is_set() and (left is None or left > 0):
                batch = min(MAX_LIMIT, left or MAX_LIMIT)
                if args.follow:
                    found = log.wait(
                        cursor,
                        timeout=_WAIT,
                        limit=batch,
                        types=args.types,
                        account_id=args.account,
                        stop=stop,
                    )
                else:
                    found = log.read(cursor, batch, args.types, args.account)
                    if not found:
                        break
                for event in found:
                    out.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
                    out.flush()
                    cursor = event.id
                    if args.consumer is not None:
                        log.ack(args.consumer, cursor)
                if left is not None:
                    left -= len(found)
    finally:
        db.close()
    return 0
