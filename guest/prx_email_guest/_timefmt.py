"""Timestamps in and out, by arithmetic only: the sandbox has no clock and no tz database.

In: an ISO-8601 date (``2026-11-22``) or date-time (``2026-11-22T10:30``, ``…:05``,
``…:05.250``, a ``Z`` or ``±HH:MM`` offset; naive means UTC), or Unix seconds as an integer.
Out: Unix seconds → ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

__all__ = ["S64_MAX", "S64_MIN", "format_iso", "parse_iso"]

S64_MIN: Final = -(2**63)
S64_MAX: Final = 2**63 - 1

_EPOCH_ORDINAL: Final = datetime.date(1970, 1, 1).toordinal()
_DAY: Final = 86_400

_ISO: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?"
)


def parse_iso(text: str) -> int | None:
    """Unix seconds for an ISO-8601 date or date-time, or None when it is not one.

    Fractions of a second are dropped (floor: the fraction is never negative).
    """
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    year, month, day, hh, mm, ss, zulu, sign, oh, om = m.groups()
    try:
        ordinal = datetime.date(int(year), int(month), int(day)).toordinal()
    except ValueError:
        return None
    hour = int(hh) if hh else 0
    minute = int(mm) if mm else 0
    second = int(ss) if ss else 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    if sign:
        off_h, off_m = int(oh), int(om)
        if off_h > 23 or off_m > 59:
            return None
        offset = (off_h * 3600 + off_m * 60) * (1 if sign == "+" else -1)
    del zulu  # "Z" and no offset at all both mean UTC
    return (ordinal - _EPOCH_ORDINAL) * _DAY + hour * 3600 + minute * 60 + second - offset


# Day number → "YYYY-MM-DDT". A page's dates fall on few days, and in the sandbox's CPython
# building the date was most of the cost (about 10 µs a timestamp, 20 of them per listing).
_DAYS: dict[int, str] = {}
_DAYS_MAX: Final = 4096
_TWO: Final = tuple(f"{i:02d}" for i in range(60))  # a lookup: no formatting per call


def format_iso(seconds: int | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC) for Unix seconds; None when absent or outside years 1–9999."""
    if seconds is None:
        return None
    days, rest = divmod(seconds, _DAY)
    prefix = _DAYS.get(days)
    if prefix is None:
        try:
            date = datetime.date.fromordinal(_EPOCH_ORDINAL + days)
        except (ValueError, OverflowError):
            return None
        if len(_DAYS) >= _DAYS_MAX:
            _DAYS.clear()
        prefix = _DAYS[days] = f"{date.year:04d}-{date.month:02d}-{date.day:02d}T"
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{prefix}{_TWO[hour]}:{_TWO[minute]}:{_TWO[second]}Z"
