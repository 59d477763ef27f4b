"""User text → safe search conditions: FTS5 MATCH expressions and escaped LIKE patterns.

What search matches (the text ``docs/tools.md`` states):

- **Filters** ``subject``, ``from``, ``to``, ``body``: case-insensitive *substring* of that
  field, in every script (``elta`` finds ``Delta``, ``école`` finds ``ÉCOLE``, ``会议`` finds
  ``明天会议室``), spaces and punctuation included as typed. Diacritics are not folded
  (``cafe`` does not find ``café``). How: for ``subject``/``from``/``to``, a needle of three
  characters or more selects the rows holding all its trigrams in that field
  (``messages_trgm``, FTS5's ``trigram`` tokenizer, ``detail=column``, header fields
  only); every needle is then checked against the field (``LIKE`` for an ASCII needle,
  else ``prx_contains``, registered by ``store/db.py``: SQLite folds ASCII only). A
  ``body`` needle is checked on the rows the other criteria leave, newest first; a page
  stops that scan once it is full (trigram-indexing bodies doubled the cost of storing a
  message; scanning 10,000 bodies for a needle found nowhere takes ~45 ms).
- **Free text** ``query``: every whitespace-separated word must occur somewhere in subject,
  from, to, cc or body (AND). A word is matched as a *word prefix* (``invoice`` finds
  ``invoices``, not ``reinvoice``; words of one or two letters as whole words) with case
  and diacritics folded (``cafe`` finds ``Café``), except a word holding CJK, kana, Hangul
  or Thai characters, scripts written without spaces: it matches as a substring of any of
  those fields, checked as a ``body`` filter is. At most 32 words count; words without a
  letter or digit are ignored.
- User text is never syntax: FTS5 operators, quotes, ``*``, ``%`` and ``_`` are matched as
  the characters they are.
- A filter, or a query, without any letter or digit (``"???"``, ``"%"``, ``"*"``, blanks)
  is refused with ``InvalidArgument``: it would match everything or nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import InvalidArgument

__all__ = [
    "FTS_COLUMNS",
    "SearchPlan",
    "contains",
    "match_expression",
    "plan_search",
    "searchable",
    "terms",
]

FTS_COLUMNS = frozenset({"subject", "from_addr", "to_addrs", "cc_addrs", "body"})
_MAX_TERMS = 32
_MIN_PREFIX = 3
_MIN_TRIGRAM = 3  # the trigram tokenizer makes no token of a shorter string
_MAX_TRIGRAMS = 12  # per needle: enough to narrow the rows; the check makes it exact
_TRIGRAM_COLUMNS = frozenset({"subject", "from_addr", "to_addrs"})  # in messages_trgm

# Columns of messages that each filter or free-text substring reads, for LIKE.
_BODY_SQL = "coalesce(body_text, body_html_text, '')"
_ALL_SQL = (
    "(subject || char(10) || from_addr || char(10) || to_addrs || char(10) || cc_addrs"
    f" || char(10) || {_BODY_SQL})"
)
_COLUMN_SQL = {
    "subject": "subject",
    "from_addr": "from_addr",
    "to_addrs": "to_addrs",
    "body": _BODY_SQL,
    None: _ALL_SQL,
}
# Scripts written without spaces between words: a "word" there is a whole phrase.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x9FFF),  # CJK radicals, punctuation, kana, CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana
    (0x20000, 0x3FFFF),  # CJK extensions
)


def searchable(text: str) -> bool:
    """Whether ``text`` has a character search can match on (a letter or digit)."""
    return any(ch.isalnum() for ch in text)


def _unspaced(word: str) -> bool:
    return any(lo <= ord(ch) <= hi for ch in word for lo, hi in _UNSPACED)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def terms(text: str) -> list[str]:
    """Quoted word-prefix terms of ``text``; words without a letter or digit are dropped."""
    out: list[str] = []
    for word in text.split():
        if not searchable(word):
            continue  # unicode61 would make an empty phrase of it
        word = word.replace("\x00", "")
        out.append(_quote(word) + "*" if len(word) >= _MIN_PREFIX else _quote(word))
        if len(out) == _MAX_TERMS:
            break
    return out


def match_expression(criteria: list[tuple[str | None, str]]) -> str | None:
    """AND of every word term of every ``(column or None for all, text)``; None when empty."""
    parts: list[str] = []
    for column, text in criteria:
        if column is not None and column not in FTS_COLUMNS:
            raise ValueError(f"not an indexed column: {column}")
        prefix = "" if column is None else "{" + column + "} : "
        parts.extend(prefix + term for term in terms(text))
    return " AND ".join(parts) if parts else None


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards and the escape character escaped (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fold(text: str) -> str:
    """The case folding ``prx_contains`` compares with (``str.lower``: simple folding, as
    the trigram tokenizer's)."""
    return text.lower()


def contains(haystack: str | None, folded_needle: str | None) -> bool:
    """SQL ``prx_contains(text, folded needle)``: a case-insensitive substring test."""
    if haystack is None or folded_needle is None:
        return False
    return folded_needle in fold(haystack)


def _trigrams(needle: str) -> list[str]:
    """Distinct trigrams of ``needle``, at most _MAX_TRIGRAMS spread over its length."""
    grams = list(dict.fromkeys(fold(needle[i : i + 3]) for i in range(len(needle) - 2)))
    if len(grams) > _MAX_TRIGRAMS:
        step = (len(grams) - 1) / (_MAX_TRIGRAMS - 1)
        grams = [grams[round(i * step)] for i in range(_MAX_TRIGRAMS)]
    return grams


class SearchPlan(NamedTuple):
    """The conditions a search adds: each must hold (AND)."""

    words: str | None  # MATCH expression over messages_fts (unicode61, word prefixes)
    trigrams: str | None  # MATCH expression over messages_trgm: candidate rows
    checks: tuple[tuple[str, str], ...]  # (SQL condition with one ?, its parameter)


def _refuse(name: str, text: str) -> InvalidArgument:
    return InvalidArgument(
        f"{name} has no letter or digit to search for: {text[:40]!r}",
        hint=f"give {name} at least one letter or digit (it matches text, never everything),"
        " or leave it out",
    )


def plan_search(
    *,
    text: str | None = None,
    subject: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    body: str | None = None,
) -> SearchPlan:
    """The conditions for these criteria (None: absent).

    :raises InvalidArgument: a criterion without any letter or digit.
    """
    words: list[str] = []
    trigram: list[str] = []
    checks: list[tuple[str, str]] = []

    def substring(column: str | None, needle: str) -> None:
        needle = needle.replace("\x00", "")
        if column in _TRIGRAM_COLUMNS and len(needle) >= _MIN_TRIGRAM:
            # The index narrows the rows to check.
            grams = " AND ".join(_quote(g) for g in _trigrams(needle))
            trigram.append(f"{{{column}}} : ({grams})")
        sql = _COLUMN_SQL[column]
        if needle.isascii():
            # LIKE folds ASCII case only, which is all an ASCII needle needs; it runs in C.
            checks.append((f"{sql} LIKE ? ESCAPE '\\'", like_pattern(needle)))
        else:
            checks.append((f"prx_contains({sql}, ?)", fold(needle)))

    if text is not None:
        if not searchable(text):
            raise _refuse("query", text)
        count = 0
        for word in text.split():
            if not searchable(word):
                continue
            if _unspaced(word):
                substring(None, word)
            else:
                words.extend(terms(word))
            count += 1
            if count == _MAX_TERMS:
                break
    for name, column, value in (
        ("subject", "subject", subject),
        ("from", "from_addr", from_),
        ("to", "to_addrs", to),
        ("body", "body", body),
    ):
        if value is None:
            continue
        if not searchable(value):
            raise _refuse(name, value)
        substring(column, value)
    return SearchPlan(
        " AND ".join(words) if words else None,
        " AND ".join(trigram) if trigram else None,
        tuple(checks),
    )
