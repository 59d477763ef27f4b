"""``prx-email call TOOL [ARGS_JSON]``: run one tool through the sandbox."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import CommandError, open_from_args, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "call",
        help="run one tool and print its JSON envelope",
        description="Run one tool in the sandbox; print the envelope; exit 0 when ok, else 1.",
    )
    p.add_argument("tool", help="tool name, e.g. email.list")
    p.add_argument(
        "args_json",
        nargs="?",
        default="{}",
        metavar="ARGS_JSON",
        help="arguments as a JSON object; '-' reads them from stdin (default: {})",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raw: str = args.args_json
    if raw == "-":
        raw = sys.stdin.read()
    if not raw.strip():
        raise CommandError("ARGS_JSON is empty", hint="pass a JSON object, e.g. '{}'")
    with open_from_args(args) as plugin:
        envelope = plugin.execute(args.tool, raw)
    print_json(envelope)
    return 0 if envelope.get("ok") is True else 1
