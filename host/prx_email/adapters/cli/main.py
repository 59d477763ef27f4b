"""``prx-email``: argparse entry point; each subcommand lives in its own ``cmd_*`` module.

Every command module exposes ``register(subparsers) -> None`` and sets a ``handler``
(``args -> exit code``). Errors print one line and a hint on stderr, never a traceback;
``call`` answers every outcome, usage errors included, with one JSON envelope on stdout.
The global options (``--db``, ``--config``, ``--log-format``, ``--log-level``) are accepted
before or after the subcommand; log lines go to stderr (``prx_email.logging_setup``).
A closed stdout (``prx-email tools | head -1``) ends the command quietly with exit 141.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

from ... import logging_setup
from ...config.model import LoggingSettings
from ...errors import EmailError
from ._common import CommandError, report, report_error

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

COMMANDS = (
    "cmd_call",
    "cmd_tools",
    "cmd_import",
    "cmd_sync",
    "cmd_watch",
    "cmd_outbox",
    "cmd_message",
    "cmd_approve",
    "cmd_auth",
    "cmd_ta",
    "cmd_warmup",
    "cmd_doctor",
    "cmd_metrics",
    "cmd_mcp",
    "cmd_events",
    "cmd_audit",
    "cmd_webhooks",
    "cmd_console",
)

#: The exit code of a process killed by SIGPIPE (128 + 13), as a shell reports it.
EXIT_BROKEN_PIPE = 141
EXIT_USAGE = 2

#: Options every subcommand accepts, before or after its name: (flags, metavar, help).
GLOBAL_OPTIONS = (
    ("--db", "PATH", "the store (default: $PRX_EMAIL_DB, else per-user data dir)"),
    (
        "--config",
        "PATH",
        "the config file (default: $PRX_EMAIL_CONFIG, else per-user config dir)",
    ),
    (
        "--log-format",
        "text|json",
        "log lines on stderr as text or JSON (default: $PRX_EMAIL_LOG_FORMAT, else the "
        "config's [logging] format, else text)",
    ),
    (
        "--log-level",
        "LEVEL",
        "debug, info, warning or error (default: $PRX_EMAIL_LOG_LEVEL, else the config's "
        "[logging] level, else warning)",
    ),
)


class UsageError(Exception):
    """What argparse would print and exit 2 for; ``prog`` names the (sub)command."""

    def __init__(self, prog: str, usage: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage
        self.message = message


class _Parser(argparse.ArgumentParser):
    """Raises :class:`UsageError` instead of exiting, so ``call`` can answer an envelope."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, self.format_usage(), message)

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse swallows OSError here; a closed stdout must exit like every other write.
        if message:
            (file or sys.stderr).write(message)


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


def _version() -> str:
    try:
        return metadata.version("prx-email")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    for flag, metavar, help_text in GLOBAL_OPTIONS:
        if top:
            parser.add_argument(flag, metavar=metavar, help=help_text)
        else:
            # SUPPRESS: an option not given after the subcommand keeps the value given before.
            parser.add_argument(flag, metavar=metavar, help=help_text, default=argparse.SUPPRESS)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                found.append(sub)
                found.extend(_subparsers(sub))
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prx-email", description="A WebAssembly-sandboxed email plugin.")
    parser.add_argument("--version", action="version", version=f"prx-email {_version()}")
    _add_global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(subparsers)
    for sub in _subparsers(parser):
        known = {flag for action in sub._actions for flag in action.option_strings}
        if not known & {flag for flag, _, _ in GLOBAL_OPTIONS}:
            _add_global_options(sub, top=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (skipping the global options before it)."""
    takes_value = {flag for flag, _, _ in GLOBAL_OPTIONS}
    items = iter(argv)
    for item in items:
        if item in takes_value:
            next(items, None)
        elif not item.startswith("-"):
            return item
    return None


def _usage_error(parser: argparse.ArgumentParser, exc: UsageError, argv: Sequence[str]) -> int:
    if exc.prog == "prx-email call" or _command_of(argv) == "call":
        from ...envelope import error
        from ._common import print_json

        call = next((p for p in _subparsers(parser) if p.prog == "prx-email call"), parser)
        usage = " ".join(call.format_usage().split())
        print_json(error("EMAIL_INVALID_JSON", f"usage error: {exc.message}", hint=usage))
    else:
        sys.stderr.write(exc.usage)
        print(f"{exc.prog}: error: {exc.message}", file=sys.stderr)
    return EXIT_USAGE


def _quiet_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, not at interpreter exit, so EPIPE is caught below
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


def _run(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _usage_error(parser, exc, argv)
    except SystemExit as exc:  # --help, --version: their text is flushed (or EPIPE) in main
        return exc.code if isinstance(exc.code, int) else 0
    try:
        settings = _log_settings(args)
    except ValueError as exc:
        print(f"prx-email: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with logging_setup.configure(settings):
            code: int = args.handler(args)
    except (EmailError, CommandError) as exc:
        report_error(exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except OSError as exc:
        report(str(exc))
        return 1
    return code


def _log_settings(args: argparse.Namespace) -> LoggingSettings:
    """Flags, env, then the config file's ``[logging]`` (read only when still needed).

    :raises ValueError: an unknown format or level.
    """
    fmt, level = getattr(args, "log_format", None), getattr(args, "log_level", None)
    env = os.environ
    config = None
    if not (fmt or env.get(logging_setup.FORMAT_ENV)) or not (
        level or env.get(logging_setup.LEVEL_ENV)
    ):
        from ...config.resolve import load_config

        with contextlib.suppress(EmailError):  # the command itself reports a broken config
            config = load_config(getattr(args, "config", None)).logging
    return logging_setup.resolve_settings(fmt, level, config)


if __name__ == "__main__":
    sys.exit(main())
