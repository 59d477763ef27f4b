"""User text → a safe FTS5 MATCH expression.

User text never reaches FTS5 as syntax: every whitespace-separated word becomes a quoted
string (a phrase of its tokens), so ``AND``, ``NEAR``, ``*``, ``:``, quotes and parentheses
are matched as text, never interpreted. Words of three characters or more match as
prefixes (``invoice`` finds ``invoices``); shorter ones match whole tokens only, since a
one- or two-letter prefix matches most of a mailbox and costs a scan of the whole index.
"""

from __future__ import annotations

__all__ = ["FTS_COLUMNS", "match_expression", "terms"]

FTS_COLUMNS = frozenset({"subject", "from_addr", "to_addrs", "cc_addrs", "body"})
_MAX_TERMS = 32
_MIN_PREFIX = 3


def terms(text: str) -> list[str]:
    """Quoted terms of ``text``; words without a letter or digit are dropped."""
    out: list[str] = []
    for word in text.split():
        if not any(ch.isalnum() for ch in word):
            continue  # unicode61 would make an empty phrase of it
        word = word.replace("\x00", "")
        quoted = '"' + word.replace('"', '""') + '"'
        out.append(quoted + "*" if len(word) >= _MIN_PREFIX else quoted)
        if len(out) == _MAX_TERMS:
            break
    return out


def match_expression(criteria: list[tuple[str | None, str]]) -> str | None:
    """AND of every term of every ``(column or None for all, text)``; None when empty."""
    parts: list[str] = []
    for column, text in criteria:
        if column is not None and column not in FTS_COLUMNS:
            raise ValueError(f"not an indexed column: {column}")
        prefix = "" if column is None else "{" + column + "} : "
        parts.extend(prefix + term for term in terms(text))
    return " AND ".join(parts) if parts else None
