"""``prx-email message ID [--account N] [--html] [--json]``: a stored message as received.

For the operator, not the agent: what the agent gets (``email.get``) is cleaned on the way
out of the sandbox — hidden HTML, comments, zero-width and bidi controls removed — and this
shows the store's copy untouched (headers as decoded, the text body, with ``--html`` the
HTML source, the attachments). It reads the store only: no network, no sandbox.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from ._common import CommandError, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "message", help="show a stored message as received (not cleaned: for the operator)"
    )
    p.add_argument("id", type=int, help="the message's id (as email.list shows it)")
    p.add_argument("--account", type=int, metavar="ID", help="its account (default: the only one)")
    p.add_argument("--html", action="store_true", help="also print the HTML body's source")
    p.add_argument("--json", action="store_true", help="print the stored message as JSON")
    p.set_defaults(handler=run_message)


def _account(args: argparse.Namespace, ctx: Any) -> int:
    if args.account is not None:
        return int(args.account)
    ids = [a.id for a in ctx.config.accounts]
    if len(ids) == 1:
        return int(ids[0])
    raise CommandError(f"{len(ids)} accounts are configured", hint="say which with --account ID")


def run_message(args: argparse.Namespace) -> int:
    from ...services import mailbox
    from .cmd_outbox import context

    ctx = context(args)
    try:
        account = _account(args, ctx)
        found = mailbox.get_message(ctx.db, account, args.id)
    finally:
        ctx.db.close()
    if found is None:
        raise CommandError(
            f"no stored message {args.id} in account {account}",
            hint="prx-email call email.list shows the ids",
        )
    # The one line that says what this is, where a pipe into a file does not catch it.
    print(
        "as received and stored: not cleaned (the agent sees email.get's version)", file=sys.stderr
    )
    if args.json:
        data = dataclasses.asdict(found)
        del data["untrusted"], data["removed"]  # the agent's markers; nothing was cleaned here
        print_json({"raw": True, **data})
        return 0
    for header in found.headers:
        print(f"{header.name}: {header.value}")
    print()
    print(found.body_text if found.body_text is not None else "(no text body)")
    if args.html and found.body_html is not None:
        print("\n--- HTML source ---")
        print(found.body_html)
    for att in found.attachments:
        print(f"[attachment] {att.filename or '(no name)'} {att.content_type} {att.size} bytes")
    return 0
