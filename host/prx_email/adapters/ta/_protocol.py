"""TA messaging-plugin protocol v1: parsing one request line, shaping one response line.

A request is one JSON object ``{"op": NAME, …flat params}``; a response is
``{"ok": true, …result fields}`` or ``{"ok": false, "error": "<message>"}``. Everything a
caller can get wrong is a :class:`ProtocolError` whose text becomes that ``error``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._main import MAX_REQUEST_BYTES  # defined where stdin is read

VERSION: Final = 1

#: Params each op accepts, and which of them are required.
OPS: Final[Mapping[str, tuple[frozenset[str], frozenset[str]]]] = {
    "fetch": (frozenset({"since", "account", "limit"}), frozenset({"since"})),
    "create_draft": (frozenset({"draft", "account"}), frozenset({"draft"})),
    "draft_status": (frozenset({"draft_id", "account"}), frozenset({"draft_id"})),
    "health": (frozenset({"account"}), frozenset()),
    "capabilities": (frozenset(), frozenset()),
}
DRAFT_FIELDS: Final = frozenset(
    {"to", "subject", "body_html", "body_text", "in_reply_to", "thread_id"}
)
DRAFT_REQUIRED: Final = frozenset({"to", "subject", "body_html"})
FETCH_LIMIT_MAX: Final = 1000
FETCH_LIMIT_DEFAULT: Final = 100


class ProtocolError(Exception):
    """A request the adapter refuses; ``str(exc)`` is the response's ``error``."""


@dataclass(frozen=True, slots=True)
class Request:
    op: str
    params: dict[str, Any]


def _no_constants(name: str) -> float:
    raise ProtocolError(f"the request is not valid JSON: {name} is not a JSON number")


def _names(keys: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(keys)) or "none"


def parse_line(data: bytes) -> Request:
    """The request in ``data`` (stdin: exactly one line, a trailing newline optional).

    :raises ProtocolError: empty, several lines, not UTF-8, not JSON, not an object, an
        unknown op or param, a missing param or one of the wrong type.
    """
    if len(data) > MAX_REQUEST_BYTES:
        raise ProtocolError(f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"the request is not valid UTF-8 (byte {exc.start})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ProtocolError('empty request: send one JSON object line, e.g. {"op": "health"}')
    if len(lines) > 1:
        raise ProtocolError(f"expected exactly one request line, got {len(lines)}")
    try:
        value = json.loads(lines[0], parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"the request is not valid JSON: {exc.msg} at column {exc.colno}"
        ) from None
    except RecursionError:
        raise ProtocolError("the request is not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"the request must be a JSON object, got {_json_type(value)}")
    return check_request(value)


def check_request(value: dict[str, Any]) -> Request:
    """:raises ProtocolError: see :func:`parse_line`."""
    op = value.get("op")
    if not isinstance(op, str):
        raise ProtocolError(
            f'the request needs "op" as a string (one of {_names(set(OPS))}), '
            f"got {_json_type(op) if 'op' in value else 'nothing'}"
        )
    if op not in OPS:
        extra = (
            " (this plugin never sends: write a draft with create_draft)" if op == "send" else ""
        )
        raise ProtocolError(f"unknown op {op!r}{extra}; supported: {_names(set(OPS))}")
    allowed, required = OPS[op]
    params = {k: v for k, v in value.items() if k != "op"}
    unknown = set(params) - allowed
    if unknown:
        raise ProtocolError(
            f"{op}: unknown field(s) {_names(unknown)}; accepted: {_names(allowed)}"
        )
    missing = required - set(params)
    if missing:
        raise ProtocolError(f"{op}: missing required field(s) {_names(missing)}")
    for key in ("since", "account", "draft_id"):
        if key in params:
            _string(op, key, params[key])
    if "limit" in params:
        limit = params["limit"]
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise ProtocolError(f"{op}: limit must be an integer, got {_json_type(limit)}")
        if not 1 <= limit <= FETCH_LIMIT_MAX:
            raise ProtocolError(f"{op}: limit must be between 1 and {FETCH_LIMIT_MAX}, got {limit}")
    if "draft" in params:
        _check_draft(params["draft"])
    return Request(op, params)


def _string(op: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        got = _json_type(value) if not isinstance(value, str) else "an empty string"
        raise ProtocolError(f"{op}: {key} must be a non-empty string, got {got}")
    return value


def _check_draft(draft: object) -> None:
    if not isinstance(draft, dict):
        raise ProtocolError(f"create_draft: draft must be an object, got {_json_type(draft)}")
    unknown = set(draft) - DRAFT_FIELDS
    if unknown:
        raise ProtocolError(
            f"create_draft: unknown draft field(s) {_names(unknown)}; "
            f"accepted: {_names(set(DRAFT_FIELDS))}"
        )
    missing = DRAFT_REQUIRED - set(draft)
    if missing:
        raise ProtocolError(f"create_draft: draft is missing {_names(missing)}")
    for key, value in draft.items():
        if value is None and key not in DRAFT_REQUIRED:
            continue
        if not isinstance(value, str):
            raise ProtocolError(
                f"create_draft: draft.{key} must be a string, got {_json_type(value)}"
            )
    if not any(part.strip() for part in draft["to"].split(",")):
        raise ProtocolError("create_draft: draft.to needs at least one address")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def ok(**fields: Any) -> dict[str, Any]:
    """A success response; None fields are left out (not applicable)."""
    return {"ok": True, **{k: v for k, v in fields.items() if v is not None}}


def failure(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def encode(response: Mapping[str, Any]) -> bytes:
    """One line of JSON, ASCII only (so no byte of it can be mangled by a locale)."""
    for value in response.values():
        if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover
            raise ValueError("non-finite number in a response")
    return (json.dumps(response, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
