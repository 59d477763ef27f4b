"""``prx-email ta``: the TA messaging-plugin adapter (same as the ``prx-email-ta`` command)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from ..ta._main import add_options

    p = subparsers.add_parser(
        "ta",
        help="answer one TA messaging-plugin request (JSON line on stdin)",
        description="Read one TA protocol v1 request line on stdin, write one response line.",
    )
    add_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..ta._main import _claim_stdout, _timeout, respond
    from ..ta._protocol import encode, failure

    out = _claim_stdout()
    try:
        timeout = _timeout(args.timeout)
    except Exception as exc:
        out.write(encode(failure(f"bad command line for prx-email ta: {exc}")))
        out.flush()
        return 0
    return respond(out, timeout, getattr(args, "db", None), getattr(args, "config", None))
