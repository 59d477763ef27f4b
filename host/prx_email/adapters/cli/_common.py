"""Helpers shared by the subcommands: opening the plugin, printing errors and values."""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Mapping
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
    return open_plugin(db=args.db, config=args.config, entry_point="cli")


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def human(value: object) -> str:
    """A value as people read it, never a Python repr: lists joined, no ``None``.

    ``("a@x", "b@y")`` → ``a@x, b@y``; ``None`` and empty → ``-``; ``True`` → ``yes``.
    """
    if value is None or value == "" or value == () or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return human(value.value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {human(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(human(v) for v in value)
    return str(value)
