"""Scheduled send: the one place ``send_at`` is parsed and bounded (issue 12).

The host checks every bound, whatever the guest validated: ISO-8601 date-time with a zone
(``Z`` or ``±HH:MM``; a time without one is ambiguous), strictly in the future, and at
most ``[accounts.send] schedule_horizon_days`` ahead. The row then waits as ``scheduled``
with ``next_attempt_at = send_at``, so every drain picks it once it is due and not before.
"""

from __future__ import annotations

import math
from datetime import datetime

from ...config.model import AccountConfig
from ...errors import InvalidArgument

_FORM = 'an ISO-8601 date-time with a zone, e.g. "2026-12-24T09:00:00+01:00" or "…Z"'


def _bad(what: str, hint: str) -> InvalidArgument:
    return InvalidArgument(f"send_at {what}; nothing was queued", hint=hint)


def parse_send_at(account: AccountConfig, text: str | None, now: float) -> float | None:
    """Unix seconds of ``send_at``; None when absent (send at once).

    :raises InvalidArgument: unparsable, no zone, not in the future, beyond the horizon.
    """
    if text is None:
        return None
    value = text.strip()
    try:
        # fromisoformat takes a bare date too: that has no time of day, so no zone either.
        when = datetime.fromisoformat(value) if "T" in value.upper() else None
    except ValueError:
        when = None
    if when is None:
        raise _bad(f"is not a date-time: {text[:60]!r}", f"give {_FORM}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise _bad(f"has no zone: {text[:60]!r}", f"give {_FORM}: add Z for UTC or an offset")
    at = when.timestamp()
    if not math.isfinite(at) or at <= now:
        raise _bad(
            f"is not in the future: {text[:60]!r}",
            "give a later time, or leave send_at out to send at once",
        )
    horizon = account.send.schedule_horizon_days
    if at - now > horizon * 86_400:
        raise _bad(
            f"is more than {horizon:g} days ahead: {text[:60]!r}",
            "give an earlier time; the operator sets the limit in"
            " [accounts.send] schedule_horizon_days",
        )
    return at
