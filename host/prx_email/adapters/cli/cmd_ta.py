"""``prx-email ta``: the TA messaging-plugin adapter (same as the ``prx-email-ta`` command)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from ..ta import add_options

    p = subparsers.add_parser(
        "ta",
        help="answer one TA messaging-plugin request (JSON line on stdin)",
        description="Read one TA protocol v1 request line on stdin, write one response line.",
    )
    add_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..ta import answer

    return answer(args.timeout, getattr(args, "db", None), getattr(args, "config", None))
