"""Argument kinds: each checks one JSON value and describes itself as a JSON Schema fragment.

A kind's ``check`` returns the value converted for the host call (e.g. a timestamp string
becomes Unix seconds) or raises ``GuestError(EMAIL_INVALID_ARGUMENT)`` naming the argument.
The schema fragment states what JSON Schema can state; the checks are at least as strict.
"""

from __future__ import annotations

import re
from typing import Any, Final, Generic, NamedTuple, TypeVar

from prx_email_guest import _codes
from prx_email_guest._codes import GuestError
from prx_email_guest._envelope import show
from prx_email_guest._timefmt import S64_MAX, S64_MIN, parse_iso

__all__ = [
    "Addresses",
    "AttachmentArg",
    "Attachments",
    "Boolean",
    "Choice",
    "Ids",
    "Integer",
    "Kind",
    "Names",
    "Text",
    "Timestamp",
    "invalid",
    "json_type",
]

T = TypeVar("T")
Schema = dict[str, Any]

U32_MAX: Final = 2**32 - 1
U64_MAX: Final = 2**64 - 1

# NUL and lone surrogates are refused everywhere (they cannot cross the boundary as UTF-8);
# single-line text also refuses CR, LF and the other C0 controls except TAB, and DEL.
_BAD_TEXT: Final = re.compile("[\x00\ud800-\udfff]")
_BAD_LINE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")

# A plausible bare address, local@domain (no quoting, no comments).
_ATOM: Final = r"[\w!#$%&'*+/=?^`{|}~-]+"
_ALNUM: Final = r"[^\W_]"
_LABEL: Final = rf"{_ALNUM}(?:(?:{_ALNUM}|-){{0,61}}{_ALNUM})?"
_ADDRESS: Final = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@({_LABEL}(?:\.{_LABEL})*)")
ADDRESS_MAX: Final = 320
# ``Name <local@domain>`` with a plain name: the host's parser (mail.compose.parse_mailbox)
# refuses the same specials (and any control character, TAB included), so one string is
# always exactly one address.
_NAMED: Final = re.compile(r" *([^<>@,;:\"\\\[\]\x00-\x1f\x7f]*?) *<([^<>\x00-\x1f]*)> *")
NAMED_MAX: Final = 512

_MIME_TYPE: Final = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]{0,126}/[A-Za-z0-9][\w!#$&^.+-]{0,126}")
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def invalid(message: str, hint: str | None = None) -> GuestError:
    return GuestError(_codes.INVALID_ARGUMENT, message, hint)


class Kind(Generic[T]):
    """One argument kind. Subclasses implement ``check`` and ``schema``."""

    def check(self, name: str, value: object) -> T:
        raise NotImplementedError

    def schema(self) -> Schema:
        raise NotImplementedError


class Integer(Kind[int]):
    """A JSON integer (not a boolean, not a number with a fraction) within bounds."""

    def __init__(
        self, minimum: int, maximum: int, example: int = 1, hint: str | None = None
    ) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.example = example
        self.hint = hint

    def check(self, name: str, value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(
                f"{name} must be an integer, got {json_type(value)}",
                self.hint or f"Give {name} as a JSON integer, e.g. {self.example}.",
            )
        if not self.minimum <= value <= self.maximum:
            raise invalid(
                f"{name} must be between {self.minimum} and {self.maximum}, got {value}",
                f"Give {name} within {self.minimum}..{self.maximum}, e.g. {self.example}.",
            )
        return value

    def schema(self) -> Schema:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


class Boolean(Kind[bool]):
    """A JSON boolean; 0/1 and "true" are refused."""

    def check(self, name: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise invalid(
                f"{name} must be a boolean, got {json_type(value)}",
                f"Give {name} as true or false.",
            )
        return value

    def schema(self) -> Schema:
        return {"type": "boolean"}


class Text(Kind[str]):
    """A string with a length range; ``single_line`` also refuses CR, LF and controls."""

    def __init__(self, max_length: int, *, min_length: int = 0, single_line: bool = False) -> None:
        self.max_length = max_length
        self.min_length = min_length
        self.single_line = single_line

    def check(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise invalid(
                f"{name} must be a string, got {json_type(value)}",
                f"Give {name} as a JSON string.",
            )
        n = len(value)
        if n > self.max_length:
            raise invalid(
                f"{name} is too long: {n} characters, at most {self.max_length}",
                f"Shorten {name}.",
            )
        if n < self.min_length:
            if n == 0 or self.min_length == 1:
                raise invalid(f"{name} must not be empty", f"Give a non-empty {name} or omit it.")
            raise invalid(
                f"{name} is too short: {n} characters, at least {self.min_length}",
                f"Give a complete {name}.",
            )
        if self.single_line:
            if _BAD_LINE.search(value):
                raise invalid(
                    f"{name} must be one line: no CR, LF, NUL or control characters",
                    f"Remove line breaks and control characters from {name}.",
                )
        elif _BAD_TEXT.search(value):
            raise invalid(
                f"{name} contains NUL or an unpaired surrogate",
                f"Give {name} as valid Unicode text without NUL characters.",
            )
        return value

    def schema(self) -> Schema:
        s: Schema = {"type": "string", "maxLength": self.max_length}
        if self.min_length:
            s["minLength"] = self.min_length
        return s


class Choice(Kind[str]):
    """One string out of a fixed set."""

    def __init__(self, *values: str) -> None:
        self.values = values

    def check(self, name: str, value: object) -> str:
        if not isinstance(value, str) or value not in self.values:
            got = json_type(value) if not isinstance(value, str) else "an unknown value"
            raise invalid(
                f"{name} must be one of {', '.join(self.values)}; got {got}",
                f"Give {name} as one of: {', '.join(self.values)}.",
            )
        return value

    def schema(self) -> Schema:
        return {"type": "string", "enum": list(self.values)}


class ChoiceList(Kind[list[str]]):
    """One string out of a fixed set, or a list of them (duplicates dropped)."""

    def __init__(self, *values: str) -> None:
        self._one = Choice(*values)

    def check(self, name: str, value: object) -> list[str]:
        items = value if isinstance(value, list) else [value]
        if len(items) > 4 * len(self._one.values):
            raise invalid(
                f"{name} has {len(items)} items",
                f"Give each of {', '.join(self._one.values)} at most once.",
            )
        return list(dict.fromkeys(self._one.check(name, item) for item in items))

    def schema(self) -> Schema:
        one = self._one.schema()
        return {"anyOf": [one, {"type": "array", "items": one, "uniqueItems": True}]}


class Timestamp(Kind[int]):
    """ISO-8601 date or date-time (naive = UTC), or Unix seconds; becomes Unix seconds."""

    _HINT: Final = (
        'Use an ISO-8601 date or date-time such as "2026-11-22" or "2026-11-22T10:30:00Z" '
        "(no offset means UTC), or Unix seconds as an integer."
    )

    def check(self, name: str, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            if not S64_MIN <= value <= S64_MAX:
                raise invalid(f"{name} is out of range", self._HINT)
            return value
        if isinstance(value, str):
            seconds = parse_iso(value) if len(value) <= 64 else None
            if seconds is None:
                raise invalid(f"{name} is not an ISO-8601 date or date-time", self._HINT)
            return seconds
        raise invalid(f"{name} must be a string or an integer, got {json_type(value)}", self._HINT)

    def schema(self) -> Schema:
        return {
            "anyOf": [
                {"type": "string", "format": "date", "maxLength": 64},
                {"type": "string", "format": "date-time", "maxLength": 64},
                {"type": "integer", "minimum": S64_MIN, "maximum": S64_MAX},
            ]
        }


def check_address(name: str, value: object) -> str:
    """One plausible address, bare or ``Name <addr>``; the host validates again."""
    hint = (
        'Give one address per item: alice@example.com or "Alice Smith <alice@example.com>" '
        "(a plain name: no quotes, commas, @ or line breaks)."
    )
    if not isinstance(value, str):
        raise invalid(f"{name} must contain strings, got {json_type(value)}", hint)
    if len(value) > NAMED_MAX:
        raise invalid(f"{name}: address longer than {NAMED_MAX} characters", hint)
    addr = value
    if "<" in value or ">" in value:
        named = _NAMED.fullmatch(value)
        if named is None:
            raise invalid(f"{name}: {show(value)} is not one plausible email address", hint)
        addr = named.group(2).strip()
    m = _ADDRESS.fullmatch(addr) if len(addr) <= ADDRESS_MAX else None
    if m is None or len(m.group(1)) > 64 or len(m.group(2)) > 255:
        raise invalid(f"{name}: {show(value)} is not a plausible email address", hint)
    return value


class Addresses(Kind[list[str]]):
    """One address as a string, or a list of addresses.

    ``max_items`` is published in the schema; the count itself is checked over to, cc and
    bcc together (the recipient cap), so the refusal always names the cap.
    """

    def __init__(self, max_items: int, *, min_items: int = 0) -> None:
        self.max_items = max_items
        self.min_items = min_items

    def check(self, name: str, value: object) -> list[str]:
        items: list[object]
        if isinstance(value, str):
            items = [value]
        elif isinstance(value, list):
            items = value
        else:
            raise invalid(
                f"{name} must be an address or a list of addresses, got {json_type(value)}",
                f'Give {name} as "alice@example.com" or ["alice@example.com", …].',
            )
        if len(items) < self.min_items:
            raise invalid(f"{name} needs at least {self.min_items} address", None)
        return [check_address(name, item) for item in items]

    def schema(self) -> Schema:
        # Not "format": "email": that format has no display name.
        one: Schema = {"type": "string", "minLength": 3, "maxLength": NAMED_MAX}
        many: Schema = {
            "type": "array",
            "items": one,
            "minItems": self.min_items,
            "maxItems": self.max_items,
        }
        if self.min_items == 0:
            del many["minItems"]
        return {"anyOf": [one, many]}


class Ids(Kind[list[int]]):
    """One message id or a list of them: distinct, in the order given, at most ``max_items``.

    The refusals are the host's words (``services.actions._session.check_ids``): the host
    counts distinct ids too, so a repeated id never counts twice on either side.
    """

    def __init__(self, max_items: int, setting: str) -> None:
        self.max_items = max_items
        self.setting = setting
        self._one = Integer(1, U64_MAX, example=42)

    def check(self, name: str, value: object) -> list[int]:
        items = value if isinstance(value, list) else [value]
        out = list(dict.fromkeys(self._one.check(name, item) for item in items))
        if not out:
            raise invalid(f"no {name} given", "pass one message id or a list of ids")
        if len(out) > self.max_items:
            raise invalid(
                f"{len(out)} {name} given, over the limit of {self.max_items}",
                f"split the call into batches of {self.max_items} ({self.setting})",
            )
        return out

    def schema(self) -> Schema:
        one = self._one.schema()
        many: Schema = {"type": "array", "items": one, "minItems": 1, "maxItems": self.max_items}
        return {"anyOf": [one, many]}


class Names(Kind[list[str]]):
    """One name (flag, keyword, label) or a list of them; the host validates each again."""

    def __init__(self, max_items: int, max_length: int) -> None:
        self.max_items = max_items
        self._one = Text(max_length, min_length=1, single_line=True)

    def check(self, name: str, value: object) -> list[str]:
        items = value if isinstance(value, list) else [value]
        if len(items) > self.max_items:
            raise invalid(
                f"{name} has {len(items)} items, at most {self.max_items}",
                f"Give at most {self.max_items} names in {name}.",
            )
        return [self._one.check(name, item) for item in items]

    def schema(self) -> Schema:
        one = self._one.schema()
        return {"anyOf": [one, {"type": "array", "items": one, "maxItems": self.max_items}]}


class AttachmentArg(NamedTuple):
    """A validated attachment: exactly one of ``path`` or ``content_base64`` is set."""

    path: str | None
    content_base64: str | None
    filename: str | None
    content_type: str | None


_ATTACHMENT_KEYS: Final = ("path", "content_base64", "filename", "content_type")
_PATH: Final = Text(4096, min_length=1, single_line=True)
_FILENAME: Final = Text(255, min_length=1, single_line=True)
_CONTENT_TYPE: Final = Text(255, min_length=3, single_line=True)


class Attachments(Kind[list[AttachmentArg]]):
    """A list of ``{path | content_base64, filename?, content_type?}`` objects."""

    def __init__(self, max_items: int, base64_max: int) -> None:
        self.max_items = max_items
        self.base64_max = base64_max

    def check(self, name: str, value: object) -> list[AttachmentArg]:
        hint = (
            'Give attachments as [{"path": "report.pdf"}] (a file under the host\'s attachment '
            'root) or [{"content_base64": "…", "filename": "a.txt", "content_type": '
            '"text/plain"}].'
        )
        if not isinstance(value, list):
            raise invalid(f"{name} must be an array, got {json_type(value)}", hint)
        if len(value) > self.max_items:  # the host's words (ToolLimits.check_outgoing)
            raise invalid(
                f"{name} has {len(value)} items, at most {self.max_items}",
                f"Send at most {self.max_items} attachments per message.",
            )
        return [self._one(f"{name}[{i}]", item, hint) for i, item in enumerate(value)]

    def _one(self, name: str, item: object, hint: str) -> AttachmentArg:
        if not isinstance(item, dict):
            raise invalid(f"{name} must be an object, got {json_type(item)}", hint)
        unknown = [k for k in item if k not in _ATTACHMENT_KEYS]
        if unknown:
            names = ", ".join(show(k) for k in unknown[:5])
            raise invalid(f"{name}: unknown key(s) {names}", hint)
        path = item.get("path")
        data = item.get("content_base64")
        if (path is None) == (data is None):
            raise invalid(f"{name} needs exactly one of path or content_base64", hint)
        filename = item.get("filename")
        content_type = item.get("content_type")
        if path is not None:
            path = _PATH.check(f"{name}.path", path)
        if data is not None:
            data = _check_base64(f"{name}.content_base64", data, hint, self.base64_max)
        if filename is not None:
            filename = _FILENAME.check(f"{name}.filename", filename)
        if content_type is not None:
            content_type = _CONTENT_TYPE.check(f"{name}.content_type", content_type)
            if _MIME_TYPE.fullmatch(content_type) is None:
                raise invalid(
                    f"{name}.content_type must be a MIME type like text/plain (no parameters)",
                    hint,
                )
        return AttachmentArg(path, data, filename, content_type)

    def schema(self) -> Schema:
        common: Schema = {
            "filename": _FILENAME.schema(),
            "content_type": _CONTENT_TYPE.schema(),
        }
        by_path: Schema = {
            "type": "object",
            "properties": {"path": _PATH.schema(), **common},
            "required": ["path"],
            "additionalProperties": False,
        }
        inline: Schema = {
            "type": "object",
            "properties": {
                "content_base64": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "minLength": 4,
                    "maxLength": self.base64_max,
                },
                **common,
            },
            "required": ["content_base64"],
            "additionalProperties": False,
        }
        return {"type": "array", "items": {"oneOf": [by_path, inline]}, "maxItems": self.max_items}


def _check_base64(name: str, value: object, hint: str, maximum: int) -> str:
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string, got {json_type(value)}", hint)
    if len(value) > maximum:  # the host's words (ToolLimits.check_outgoing)
        raise invalid(
            f"{name} is larger than {maximum} characters",
            "Attach a large file by path (under the host's attachment root).",
        )
    compact = "".join(value.split()) if not value.isalnum() else value
    if not compact or len(compact) % 4 or _BASE64.fullmatch(compact) is None:
        raise invalid(f"{name} is not valid base64", hint)
    return compact
