"""The JSON envelope every tool call answers: ``{"ok": true, "data": …}`` or
``{"ok": false, "error": {"code", "message", "hint"}}`` — built here and nowhere else.

Every error carries a non-empty hint: a failure without one of its own gets its code's default.
"""

from __future__ import annotations

from typing import Any

from .errors import EmailError, ErrorCode

__all__ = ["error", "from_error", "ok"]

Envelope = dict[str, Any]

_GENERIC_HINT = "see the message; `prx-email tools` lists the tools and their arguments"

#: Default hints by envelope code, for failures that carry none of their own.
_DEFAULT_HINTS: dict[str, str] = {
    "EMAIL_INVALID_JSON": 'pass the arguments as one JSON object, e.g. {"account_id": 1}',
    ErrorCode.INVALID_ARGUMENT.envelope: (
        "check the arguments against the tool's input_schema (`prx-email tools`)"
    ),
    ErrorCode.CONFIG.envelope: "fix the configuration file (the message names the path and key)",
    ErrorCode.STORAGE.envelope: "check that --db / PRX_EMAIL_DB points at a prx-email store",
    ErrorCode.TIMEOUT.envelope: "retry later, or raise the timeout the message names",
    ErrorCode.AUTH_FAILED.envelope: "check the account's username and credential",
    ErrorCode.CONNECTION_FAILED.envelope: "check the server host and port, then retry",
    ErrorCode.INTERNAL.envelope: "this is a bug; report it with the command that caused it",
}


def ok(data: Any) -> Envelope:
    """A success envelope."""
    return {"ok": True, "data": data}


def error(code: str, message: str, hint: str | None = None) -> Envelope:
    """An error envelope; an empty ``hint`` falls back to the code's default."""
    return {
        "ok": False,
        "error": {"code": code, "message": message, "hint": hint or _default_hint(code)},
    }


def from_error(exc: EmailError) -> Envelope:
    """The error envelope of one of our exceptions."""
    return error(exc.code.envelope, exc.message, exc.hint)


def _default_hint(code: str) -> str:
    return _DEFAULT_HINTS.get(code, _GENERIC_HINT)
