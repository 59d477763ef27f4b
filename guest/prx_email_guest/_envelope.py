"""The JSON envelope every tool call returns: ``{"ok": true, "data": …}`` or
``{"ok": false, "error": {"code", "message", "hint"}}``.

Keys come out in a fixed order (insertion order, never sorted) and the text is compact.
``data`` is plain JSON values, or a ``RawJSON`` text the caller already encoded exactly as
this module's encoder would (the message pages: ``_results.message_page``).
"""

from __future__ import annotations

import json
from typing import Final

from prx_email_guest import _codes
from prx_email_guest._codes import GuestError

__all__ = ["TEXT", "RawJSON", "error", "from_guest_error", "memory_error", "ok", "show"]

_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
)
# User-supplied text echoed in a message goes through this one: ASCII only, quoted, short.
_QUOTE: Final = json.JSONEncoder(ensure_ascii=True)
_SHOW_MAX: Final = 64
#: One string as ``_ENCODER`` writes it (``ensure_ascii=False``: the C ``encode_basestring``).
TEXT: Final = json.encoder.encode_basestring


class RawJSON(str):
    """JSON text encoded as ``_ENCODER`` would encode the value it stands for."""

    __slots__ = ()


def ok(data: object) -> str:
    """The success envelope around ``data`` (plain JSON values, or ``RawJSON``)."""
    if type(data) is RawJSON:
        return '{"ok":true,"data":' + data + "}"
    return '{"ok":true,"data":' + _ENCODER.encode(data) + "}"


def error(code: str, message: str, hint: str | None = None, run_id: str | None = None) -> str:
    """The error envelope; a missing hint falls back to the code's default hint.

    ``run_id``: the host's id of the failed run, as ``detail.run_id`` (the host's own
    envelopes use the same shape).
    """
    if not hint:
        hint = _codes.default_hint(code)
    body: dict[str, object] = {"code": code, "message": message, "hint": hint}
    if run_id is not None:
        body["detail"] = {"run_id": run_id}
    return '{"ok":false,"error":' + _ENCODER.encode(body) + "}"


def from_guest_error(exc: GuestError) -> str:
    return error(exc.code, exc.message, exc.hint, exc.run_id)


def show(text: str) -> str:
    """Quote user text for a message: JSON-quoted, ASCII-escaped, cut at 64 characters."""
    if len(text) > _SHOW_MAX:
        return _QUOTE.encode(text[:_SHOW_MAX]) + "…"
    return _QUOTE.encode(text)


# Built once at import: after a MemoryError there may be no memory left to build it.
_MEMORY: Final = error(
    _codes.SANDBOX_MEMORY, "the request ran out of memory inside the sandbox", None
)


def memory_error() -> str:
    return _MEMORY
