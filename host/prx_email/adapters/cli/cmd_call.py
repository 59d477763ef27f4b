"""``prx-email call TOOL [ARGS_JSON]``: run one tool through the sandbox.

Every outcome is exactly one JSON envelope on stdout, never a traceback: exit 0 when ok,
1 for an error envelope, 2 for a usage error (built in ``main``). Failures before the
guest runs (arguments that are empty or not UTF-8, a config or store that cannot be
opened) are envelopes too, through the one envelope helper.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...envelope import Envelope, error, from_error
from ...errors import ConfigError, EmailError, ErrorCode
from ._common import print_json

INVALID_JSON = "EMAIL_INVALID_JSON"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "call",
        help="run one tool and print its JSON envelope",
        description="Run one tool in the sandbox; print the envelope; exit 0 when ok, else 1.",
    )
    p.add_argument("tool", metavar="TOOL", help="tool name, e.g. email.list")
    p.add_argument(
        "args_json",
        nargs="?",
        default="{}",
        metavar="ARGS_JSON",
        help="arguments as a JSON object; '-' reads them from stdin (default: {})",
    )
    p.set_defaults(handler=run)


class _BadInput(Exception):
    def __init__(self, envelope: Envelope) -> None:
        super().__init__(envelope["error"]["message"])
        self.envelope = envelope


def _utf8_arg(value: str, what: str) -> str:
    # argv arrives decoded with surrogateescape: a lone surrogate is an undecodable byte.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _BadInput(
            error(INVALID_JSON, f"{what} is not valid UTF-8", hint="pass UTF-8 text only")
        ) from None
    return value


def _args_text(args: argparse.Namespace) -> str:
    raw: str = args.args_json
    if raw == "-":
        data = sys.stdin.buffer.read()
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadInput(
                error(
                    INVALID_JSON,
                    f"ARGS_JSON on stdin is not valid UTF-8 (byte {exc.start})",
                    hint="send the arguments as UTF-8 encoded JSON",
                )
            ) from None
    else:
        raw = _utf8_arg(raw, "ARGS_JSON")
    if not raw.strip():
        raise _BadInput(
            error(INVALID_JSON, "ARGS_JSON is empty", hint="pass a JSON object, e.g. '{}'")
        )
    return raw


def _config_envelope(exc: ConfigError, args: argparse.Namespace) -> Envelope:
    """A config file that cannot be used; the message always names the path read."""
    from ...config import resolve_config_path

    path = str(resolve_config_path(args.config))
    message = exc.message if path in exc.message else f"{exc.message} (config read: {path})"
    return error(exc.code.envelope, message, exc.hint)


def _normalised(envelope: Envelope) -> Envelope:
    """The plugin's envelope, with the code's default hint where it carries none."""
    err = envelope.get("error")
    if envelope.get("ok") is False and isinstance(err, dict) and not err.get("hint"):
        return error(str(err.get("code")), str(err.get("message")), None)
    return envelope


def _execute(args: argparse.Namespace) -> Envelope:
    from ...api import load_config, open_plugin

    try:
        tool = _utf8_arg(args.tool, "TOOL")
        raw = _args_text(args)
    except _BadInput as bad:
        return bad.envelope
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _config_envelope(exc, args)
    try:
        with open_plugin(db=args.db, config=config, entry_point="cli") as plugin:
            return _normalised(plugin.execute(tool, raw))
    except EmailError as exc:  # the component, the store: anything open_plugin refuses
        return from_error(exc)


def run(args: argparse.Namespace) -> int:
    try:
        envelope = _execute(args)
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # never a traceback: an unexpected failure is an envelope too
        envelope = error(
            ErrorCode.INTERNAL.envelope,
            f"unexpected {type(exc).__name__}",
            hint="this is a bug; report it with the command that caused it",
        )
    print_json(envelope)
    return 0 if envelope.get("ok") is True else 1
