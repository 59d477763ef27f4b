"""Opaque keyset cursors: the (sort_date, id) of the last row of a page, base64url-encoded."""

from __future__ import annotations

import base64
import binascii

from ..errors import InvalidArgument

__all__ = ["NO_DATE", "decode_cursor", "encode_cursor"]

# The sort key of a message without a date: below every real date, so it lists last.
NO_DATE = -(1 << 62)
_PREFIX = "m1:"
_MAX_CURSOR = 200


def encode_cursor(sort_date: int, key: int) -> str:
    raw = f"{_PREFIX}{sort_date}:{key}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """:raises InvalidArgument: the text is not a cursor this store handed out."""
    hint = "pass next_cursor from the previous page unchanged, or omit it for the first page"
    if not cursor or len(cursor) > _MAX_CURSOR or not cursor.isascii():
        raise InvalidArgument("invalid cursor", hint=hint)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not raw.startswith(_PREFIX):
            raise ValueError(raw)
        date_text, key_text = raw[len(_PREFIX) :].split(":")
        sort_date, key = int(date_text), int(key_text)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("invalid cursor", hint=hint) from exc
    if not NO_DATE <= sort_date < (1 << 62) or not 0 <= key < (1 << 63):
        raise InvalidArgument("invalid cursor", hint=hint)
    return sort_date, key
