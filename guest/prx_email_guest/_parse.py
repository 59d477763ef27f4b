"""``args_json`` → a dict, refusing what the tools never need before the JSON parser sees it.

Limits: 8 MiB of UTF-8, nesting depth 32 (the deepest valid argument is 3 levels), no
duplicate keys (last-wins would hide mistakes), no NaN/Infinity.
"""

from __future__ import annotations

import json
import re
from typing import Final

from prx_email_guest import _codes
from prx_email_guest._codes import GuestError
from prx_email_guest._envelope import show
from prx_email_guest._kinds import invalid, json_type

__all__ = ["MAX_ARGS_BYTES", "MAX_DEPTH", "parse_args"]

MAX_ARGS_BYTES: Final = 8 * 1024 * 1024
MAX_DEPTH: Final = 32

_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_INNER_PAIR: Final = re.compile(r"\[\]|\{\}")


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return out


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH or do not balance.

    Cheap unless there are many brackets: peel innermost ``[]``/``{}`` pairs at most MAX_DEPTH
    times; anything left is too deep or unbalanced (invalid either way, and the parser would
    have recursed into it first).
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        reduced = _INNER_PAIR.sub("", brackets)
        if reduced == brackets:
            break
        brackets = reduced
    return bool(brackets)


def parse_args(args_json: str) -> dict[str, object]:
    """The arguments object.

    :raises GuestError: ``EMAIL_INVALID_ARGUMENT`` when too large or not an object,
        ``EMAIL_INVALID_JSON`` when not JSON or nested too deeply.
    """
    n = len(args_json)
    if n > MAX_ARGS_BYTES or (
        n > MAX_ARGS_BYTES // 4 and len(args_json.encode("utf-8", "surrogatepass")) > MAX_ARGS_BYTES
    ):
        raise invalid(
            f"args_json is larger than {MAX_ARGS_BYTES} bytes",
            "Send less at once: shorter bodies, attachments by path instead of base64.",
        )
    if not args_json.strip():
        raise GuestError(_codes.INVALID_JSON, "args_json is empty", "Pass {} for no arguments.")
    if _too_deep(args_json):
        raise GuestError(
            _codes.INVALID_JSON,
            f"args_json nests deeper than {MAX_DEPTH} levels or its brackets do not balance",
            "Pass a flat JSON object of arguments.",
        )
    try:
        value = json.loads(args_json, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Duplicate as exc:
        raise invalid(
            f"argument {show(exc.args[0])} is given twice",
            "Give every argument once.",
        ) from None
    except RecursionError:
        raise GuestError(
            _codes.INVALID_JSON, "args_json nests too deeply", "Pass a flat JSON object."
        ) from None
    except ValueError as exc:  # json.JSONDecodeError, overlong integers, NaN
        raise GuestError(
            _codes.INVALID_JSON, f"args_json is not valid JSON: {_reason(exc)}"
        ) from None
    if not isinstance(value, dict):
        raise invalid(
            f"args_json must be a JSON object, got {json_type(value)}",
            'Wrap the arguments in an object, e.g. {"account_id": 1}.',
        )
    return value


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    text = str(exc)
    return text if text.isascii() and len(text) < 120 else "malformed value"
