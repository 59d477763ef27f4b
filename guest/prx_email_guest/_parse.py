"""``args_json`` → a dict, refusing what the tools never need before the JSON parser sees it.

Limits (each refused with ``EMAIL_INVALID_ARGUMENT`` before parsing): 8 MiB of UTF-8,
nesting depth 32 (the deepest valid argument is 3 levels), 2,000 brackets, 20,000 strings
and 20,000 commas outside strings. Also refused: duplicate keys (last-wins would hide
mistakes) and NaN/Infinity. Text that is not JSON at all is ``EMAIL_INVALID_JSON``.
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

# Valid arguments have a handful of arrays/objects and at most a few hundred strings; these caps
# bound the structure scan below and refuse floods before the parser allocates for them.
MAX_BRACKETS: Final = 2_000  # [ ] { } outside strings
MAX_STRINGS: Final = 20_000
MAX_COMMAS: Final = 20_000  # outside strings: a bound on the number of values

_BRACKET: Final = re.compile(r"[\[\]{}]")


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


# Built once: ``json.loads`` with hooks constructs a decoder on every call (a quarter of
# parsing a small object, more in the sandbox's CPython).
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _structure_problem(text: str) -> GuestError | None:
    """Refuse nesting deeper than MAX_DEPTH *before* the C parser recurses into it.

    Inside the component a few thousand levels exhaust the wasm stack and trap the instance
    (seen with CPython 3.14 / componentize-py 0.25), so this cannot be left to RecursionError.
    The scan jumps from string to string with ``str.find`` and counts brackets between them
    with ``str.count``: Python-level work is per string and per bracket outside strings, and
    both are capped. Ordinary arguments (≤ MAX_DEPTH brackets, few quotes and commas in all)
    skip it entirely.
    """
    few_brackets = text.count("[") + text.count("{") <= MAX_DEPTH
    few_quotes = text.count('"') <= 2 * MAX_STRINGS + text.count('\\"')
    if few_brackets and few_quotes and text.count(",") <= MAX_COMMAS:
        return None
    t = text
    if '\\"' in t:  # backslashes matter only where one precedes a quote
        # Drop escaped backslashes, then escaped quotes: every '"' left delimits a string.
        t = t.replace("\\\\", "").replace('\\"', "")
    n = len(t)
    pos = depth = brackets = strings = commas = 0
    while True:
        quote = t.find('"', pos)
        end = n if quote < 0 else quote
        opens = t.count("[", pos, end) + t.count("{", pos, end)
        closes = t.count("]", pos, end) + t.count("}", pos, end)
        brackets += opens + closes
        commas += t.count(",", pos, end)
        if commas > MAX_COMMAS:
            return invalid(
                f"args_json has more than {MAX_COMMAS} values",
                "No tool takes that many values: send less at once.",
            )
        if brackets > MAX_BRACKETS:
            return invalid(
                f"args_json has more than {MAX_BRACKETS} array/object brackets",
                "No tool takes that many values: pass a flat object of arguments.",
            )
        if depth + opens > MAX_DEPTH:
            for m in _BRACKET.finditer(t, pos, end):
                depth += 1 if m.group() in "[{" else -1
                if depth > MAX_DEPTH:
                    return invalid(
                        f"args_json nests deeper than {MAX_DEPTH} levels",
                        "Pass a flat JSON object of arguments.",
                    )
                if depth < 0:
                    return None  # the parser stops at this stray closing bracket
        else:
            depth += opens - closes
            if depth < 0:
                return None
        if quote < 0:
            return None
        closing = t.find('"', quote + 1)
        if closing < 0:
            return None  # unterminated string: the parser reports it
        strings += 1
        if strings > MAX_STRINGS:
            return invalid(
                f"args_json has more than {MAX_STRINGS} strings",
                "No tool takes that many values: send less at once.",
            )
        pos = closing + 1


def parse_args(args_json: str) -> dict[str, object]:
    """The arguments object.

    :raises GuestError: ``EMAIL_INVALID_ARGUMENT`` when over a limit or not an object,
        ``EMAIL_INVALID_JSON`` when not JSON.
    """
    n = len(args_json)
    # Characters ≤ bytes ≤ 4 × characters; encode only when that cannot decide it.
    if n > MAX_ARGS_BYTES or (
        n > MAX_ARGS_BYTES // 4
        and not args_json.isascii()
        and len(args_json.encode("utf-8", "surrogatepass")) > MAX_ARGS_BYTES
    ):
        raise invalid(
            f"args_json is larger than {MAX_ARGS_BYTES} bytes",
            "Send less at once: shorter bodies, attachments by path instead of base64.",
        )
    if not args_json.strip():
        raise GuestError(_codes.INVALID_JSON, "args_json is empty", "Pass {} for no arguments.")
    problem = _structure_problem(args_json)
    if problem is not None:
        raise problem
    try:
        value = _DECODER.decode(args_json)
    except _Duplicate as exc:
        raise invalid(
            f"argument {show(exc.args[0])} is given twice",
            "Give every argument once.",
        ) from None
    except RecursionError:
        raise invalid("args_json nests too deeply", "Pass a flat JSON object.") from None
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
