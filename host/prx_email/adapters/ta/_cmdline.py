"""The ``prx-email-ta`` command line: ``[--timeout SECONDS] [--db PATH] [--config PATH]``.

Parsed by hand rather than with argparse: building an argparse parser imports gettext,
locale and shutil (the help formatter), 10-25 ms of a process that answers one request.
``prx-email ta`` goes through the CLI's argparse parser instead (``add_options``).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: see prx_email/__init__.py
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

TIMEOUT_ENV = "PRX_EMAIL_TA_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
TIMEOUT_HELP = (
    f"answer ok:false after this long (default: ${TIMEOUT_ENV}, else {DEFAULT_TIMEOUT:g})"
)
_OPTIONS = {
    "--timeout": ("SECONDS", TIMEOUT_HELP),
    "--db": ("PATH", "the store (default: $PRX_EMAIL_DB)"),
    "--config": ("PATH", "the config (default: $PRX_EMAIL_CONFIG)"),
}


class ArgError(Exception):
    """A bad command line; ``str(exc)`` says what is wrong."""


class HelpRequested(Exception):
    """``-h``/``--help``: the usage went to stderr."""


class Options:
    """The parsed command line (a plain class: dataclasses imports inspect and re)."""

    __slots__ = ("config", "db", "timeout")

    def __init__(
        self, timeout: float | None = None, db: str | None = None, config: str | None = None
    ) -> None:
        self.timeout, self.db, self.config = timeout, db, config


def usage(prog: str) -> str:
    lines = [
        f"usage: {prog} [-h] " + " ".join(f"[{o} {m}]" for o, (m, _) in _OPTIONS.items()),
        "",
        "TA messaging-plugin protocol v1 over stdin/stdout.",
        "",
        "options:",
        "  -h, --help            show this help message and exit",
    ]
    lines += [f"  {f'{o} {m}':<22}{h}" for o, (m, h) in _OPTIONS.items()]
    return "\n".join(lines) + "\n"


def parse_argv(argv: Sequence[str], prog: str) -> Options:
    """:raises ArgError: an unknown option, a missing value, a timeout that is not a number.
    :raises HelpRequested: ``-h``/``--help`` (the usage is printed on stderr)."""
    values: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            sys.stderr.write(usage(prog))
            raise HelpRequested
        name, eq, value = arg.partition("=")
        if name not in _OPTIONS:
            raise ArgError(f"unrecognized arguments: {arg}")
        if not eq:
            if not args or (args[0].startswith("--") and args[0] != "--"):
                raise ArgError(f"argument {name}: expected one argument")
            value = args.pop(0)
        values[name[2:]] = value
    timeout: float | None = None
    if "timeout" in values:
        try:
            timeout = float(values["timeout"])
        except ValueError:
            raise ArgError(
                f"argument --timeout: invalid float value: {values['timeout'][:32]!r}"
            ) from None
    return Options(timeout, values.get("db"), values.get("config"))


def add_options(p: argparse.ArgumentParser) -> None:
    """The adapter's own option on the CLI's ``prx-email ta`` subparser."""
    p.add_argument("--timeout", type=float, metavar="SECONDS", help=TIMEOUT_HELP)


def resolve_timeout(given: float | None) -> float:
    """``given``, else ``PRX_EMAIL_TA_TIMEOUT``, else the default.

    :raises ArgError: not a number, or outside (0, 86400).
    """
    if given is not None:
        value = given
    else:
        raw = os.environ.get(TIMEOUT_ENV, "").strip()
        try:
            value = float(raw) if raw else DEFAULT_TIMEOUT
        except ValueError:
            raise ArgError(f"{TIMEOUT_ENV} is not a number: {raw[:32]!r}") from None
    if not 0 < value < 86400 or value != value:
        raise ArgError(f"the timeout must be between 0 and 86400 seconds, got {value:g}")
    return value
