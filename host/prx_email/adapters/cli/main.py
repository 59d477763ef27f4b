"""``prx-email``: argparse entry point; each subcommand lives in its own ``cmd_*`` module.

Every command module exposes ``register(subparsers) -> None`` and sets a ``handler``
(``args -> exit code``). Errors print one line and a hint on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from ...errors import EmailError
from ._common import CommandError, report, report_error

COMMANDS = ("cmd_call", "cmd_tools", "cmd_import", "cmd_sync", "cmd_outbox", "cmd_auth")


def _command_modules() -> list[ModuleType]:
    modules = []
    for name in COMMANDS:
        qualified = f"{__package__}.{name}"
        try:
            modules.append(importlib.import_module(qualified))
        except ModuleNotFoundError as exc:
            if exc.name != qualified:  # a command that exists but misses a dependency
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prx-email", description="A WebAssembly-sandboxed email plugin."
    )
    parser.add_argument(
        "--db", metavar="PATH", help="the store (default: $PRX_EMAIL_DB, else per-user data dir)"
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="the config file (default: $PRX_EMAIL_CONFIG, else per-user config dir)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (EmailError, CommandError) as exc:
        report_error(exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        report(str(exc))
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
