"""Parsed IMAP responses.

The reader hands over a response as its *parts*: the text segments of the line with the
literals that followed each ``{n}`` in between (``[text, literal, text, ...]``). This module
turns those into values: :func:`parse_values` builds nested lists of ``bytes`` atoms,
``int`` numbers, ``None`` for NIL and the literal bytes; :func:`fetch_items` reads one
``* n FETCH (...)`` response into a dict keyed by upper-case item name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Value = bytes | int | None | list["Value"]

# One token of a text segment: ( ) "quoted" NIL/atoms (with [...] sections) or numbers.
_TOKEN = re.compile(
    rb"""\s*(?:
        (?P<open>\()|
        (?P<close>\))|
        "(?P<quoted>(?:[^"\\]|\\.)*)"|
        (?P<literal>\{\d+\+?\}$)|
        (?P<atom>[^\s()"\[\]{]+(?:\[[^\]]*\](?:<[0-9.]+>)?)?|\[[^\]]*\])
    )""",
    re.VERBOSE,
)
_UNESCAPE = re.compile(rb"\\(.)")


@dataclass(slots=True)
class Response:
    """A complete server response: ``parts`` alternate text segments and literals."""

    parts: list[bytes]

    @property
    def line(self) -> bytes:
        return self.parts[0]


@dataclass(slots=True)
class Tagged:
    """The final status of a command: ``OK``/``NO``/``BAD`` plus the response text."""

    status: str
    text: bytes
    untagged: list[Response] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        """The response code in brackets, e.g. ``NONEXISTENT`` or ``AUTHENTICATIONFAILED``."""
        m = re.match(rb"\[([A-Z0-9.-]+)", self.text)
        return m.group(1).decode("ascii") if m else None


class ParseError(ValueError):
    """The server sent something that does not parse as IMAP."""


def parse_values(parts: list[bytes], start: int = 0) -> list[Value]:
    """Tokens of a response from byte offset ``start`` of its first text segment."""
    root: list[Value] = []
    stack: list[list[Value]] = [root]
    nparts = len(parts)
    for i in range(0, nparts, 2):
        text = parts[i]
        pos = start if i == 0 else 0
        end = len(text)
        while pos < end:
            m = _TOKEN.match(text, pos)
            if m is None:
                if text[pos:].strip() == b"":
                    break
                raise ParseError(f"unexpected data at offset {pos}")
            pos = m.end()
            kind = m.lastgroup
            if kind == "open":
                new: list[Value] = []
                stack[-1].append(new)
                stack.append(new)
            elif kind == "close":
                if len(stack) == 1:
                    raise ParseError("unbalanced parenthesis")
                stack.pop()
            elif kind == "quoted":
                q = m.group("quoted")
                stack[-1].append(_UNESCAPE.sub(rb"\1", q) if b"\\" in q else q)
            elif kind == "literal":
                if i + 1 >= nparts:
                    raise ParseError("literal without data")
                stack[-1].append(parts[i + 1])
            else:
                atom = m.group("atom")
                if atom.isdigit():
                    stack[-1].append(int(atom))
                elif atom == b"NIL":
                    stack[-1].append(None)
                else:
                    stack[-1].append(atom)
    return root


_FETCH_HEAD = re.compile(rb"\* (\d+) FETCH ")
# The shape a sync FETCH nearly always has; parsed with one regex instead of the tokenizer.
_FAST_FETCH = re.compile(
    rb"\* \d+ FETCH \(UID (\d+) FLAGS \(([^()\"{}]*)\)(?: RFC822\.SIZE (\d+))? BODY\[\] \{\d+\}$"
)


def fetch_items(resp: Response) -> dict[bytes, Value] | None:
    """The items of a ``* n FETCH (...)`` response, keys upper-cased; None for other responses."""
    parts = resp.parts
    if len(parts) == 3 and parts[2] == b")":
        f = _FAST_FETCH.match(parts[0])
        if f is not None:
            uid, flag_text, size = f.groups()
            flags: list[Value] = list(flag_text.split())
            if size is None:
                return {b"UID": int(uid), b"FLAGS": flags, b"BODY[]": parts[1]}
            return {
                b"UID": int(uid),
                b"FLAGS": flags,
                b"RFC822.SIZE": int(size),
                b"BODY[]": parts[1],
            }
    m = _FETCH_HEAD.match(parts[0])
    if m is None:
        return None
    values = parse_values(resp.parts, m.end())
    if not values or not isinstance(values[0], list):
        raise ParseError("FETCH response without item list")
    items = values[0]
    out: dict[bytes, Value] = {}
    for k in range(0, len(items) - 1, 2):
        key = items[k]
        if isinstance(key, bytes):
            out[key.upper()] = items[k + 1]
    return out


def parse_uid_set(text: bytes) -> list[int]:
    """``1:3,7`` → [1, 2, 3, 7]."""
    out: list[int] = []
    for piece in text.split(b","):
        if not piece:
            continue
        lo, _, hi = piece.partition(b":")
        a = int(lo)
        b = int(hi) if hi else a
        if a > b:
            a, b = b, a
        out.extend(range(a, b + 1))
    return out


def format_uid_set(uids: list[int]) -> str:
    """[1, 2, 3, 7] → ``1:3,7`` (input need not be sorted)."""
    if not uids:
        raise ValueError("empty UID set")
    s = sorted(set(uids))
    ranges: list[str] = []
    lo = prev = s[0]
    for u in s[1:]:
        if u == prev + 1:
            prev = u
            continue
        ranges.append(f"{lo}:{prev}" if lo != prev else str(lo))
        lo = prev = u
    ranges.append(f"{lo}:{prev}" if lo != prev else str(lo))
    return ",".join(ranges)
