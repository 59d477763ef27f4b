"""Helpers shared by the subcommands: opening the plugin, printing errors."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ...api import Plugin, open_plugin
from ...errors import EmailError


class CommandError(Exception):
    """A failure to report as one line (plus a hint) on stderr."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def report(message: str, hint: str | None = None) -> None:
    print(f"prx-email: error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


def report_error(exc: EmailError | CommandError) -> None:
    report(exc.message, exc.hint)


def open_from_args(args: argparse.Namespace) -> Plugin:
    """The plugin over ``--db`` and ``--config`` (each falling back to its env var)."""
    return open_plugin(db=args.db, config=args.config)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
