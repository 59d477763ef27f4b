"""The JSON envelope on the host side: the one place that builds it.

``{"ok": true, "data": …}`` or ``{"ok": false, "error": {"code", "message", "hint"}}``; the
hint is never empty: a failure without one gets its code's default hint (``errors.CODES``).
The guest builds the same shape in its own ``_envelope`` module.
"""

from __future__ import annotations

from typing import Any

from .errors import EmailError, default_hint

__all__ = ["Envelope", "error", "from_error", "ok"]

Envelope = dict[str, Any]


def ok(data: object) -> Envelope:
    """The success envelope around ``data`` (plain JSON values)."""
    return {"ok": True, "data": data}


def error(code: str, message: str, hint: str | None = None) -> Envelope:
    """The error envelope; a missing or empty hint falls back to the code's default."""
    return {
        "ok": False,
        "error": {"code": code, "message": message, "hint": hint or default_hint(code)},
    }


def from_error(exc: EmailError) -> Envelope:
    """The error envelope of a host exception (its code, message and hint; ``detail.run_id``
    when a run failed)."""
    env = error(exc.code.envelope, exc.message, exc.hint)
    if exc.run_id is not None:
        env["error"]["detail"] = {"run_id": exc.run_id}
    return env
