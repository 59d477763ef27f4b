"""Raw RFC 5322 bytes → :class:`ParsedMessage`, fast and total.

Speed matters here (a first sync parses every message of a mailbox). The stdlib parser
costs ~370 µs per 3 KB message with ``policy.default`` and ~30 µs with ``compat32`` on the
reference machine; this module splits header blocks and MIME parts itself (a few C-level
passes per entity) and decodes headers itself, for about the cost of a bare ``compat32``
parse while producing the whole :class:`ParsedMessage`. Input the splitter does not like
goes through the stdlib ``compat32`` parser instead, and if that fails too the raw bytes
become the text body: :func:`parse_message` never raises.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..types import ParsedAttachment
from .addresses import parse_addresses
from .decode import (
    MAX_HEADER_CHARS,
    decode_bytes,
    decode_header_value,
    html_to_text,
    snippet_of,
    unfold,
)
from .visible import visible_html

if TYPE_CHECKING:
    from email.message import Message as MimeMessage

# The stdlib parser and date functions are imported where the slow paths use them: a sync
# that never needs them does not pay for importing email.message and email.utils.

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ParsedMessage",
    "ParsedSummary",
    "parse_message",
    "parse_summary",
]

DEFAULT_MAX_BODY_BYTES = 1_048_576
_MAX_DEPTH = 32  # MIME nesting beyond this is hostile; its parts are ignored
_MAX_PARTS = 1000
_MSGID = re.compile(r"<[^<>\s]+>")
_FIELD = re.compile(r"^([^\s:]+)[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.MULTILINE)


class ParsedMessage(NamedTuple):
    """Everything the store and the services need from one raw message.

    A ``NamedTuple`` rather than a frozen dataclass: it is built once per message on the
    sync hot path, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per
    field) costs twice as much for these 22 fields.

    Address fields come twice: display strings (``Name <addr>``) for people and bare
    addresses for replies. ``index_text`` is the text that full-text search indexes for
    the body: the text part, or the HTML part converted to text when there is none.
    ``size`` and ``sha256`` describe the raw bytes (``sha256`` identifies local imports).
    """

    message_id: str | None
    subject: str
    from_: str
    from_addr: str | None
    to: tuple[str, ...]
    to_addrs: tuple[str, ...]
    cc: tuple[str, ...]
    cc_addrs: tuple[str, ...]
    reply_to: tuple[str, ...]
    reply_to_addrs: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    date: int | None
    headers: tuple[tuple[str, str], ...]  # (name, decoded value), in message order
    body_text: str | None
    body_html: str | None
    body_truncated: bool
    snippet: str
    attachments: tuple[ParsedAttachment, ...]
    size: int
    sha256: str
    index_text: str = ""

    @property
    def has_attachments(self) -> bool:
        return bool(self.attachments)


class ParsedSummary(NamedTuple):
    """The header-level summary of one raw message: what a first sync stores at once.

    The same values :func:`parse_message` gives for these fields (one shared code path),
    for a fraction of the cost: only the top-level header block is split and only the
    summary headers are decoded. ``attachment_hint`` is a guess from the top-level
    Content-Type (``multipart/mixed`` or a non-text single part); the full parse decides.
    """

    message_id: str | None
    subject: str
    from_: str
    from_addr: str | None
    to: tuple[str, ...]
    to_addrs: tuple[str, ...]
    cc: tuple[str, ...]
    cc_addrs: tuple[str, ...]
    reply_to: tuple[str, ...]
    reply_to_addrs: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    date: int | None
    attachment_hint: bool
    size: int


def _truncate(text: str, max_bytes: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``max_bytes`` of UTF-8, on a character boundary."""
    if len(text) * 4 <= max_bytes:
        return text, False
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode("utf-8", "ignore"), True


# RFC 5322's own shape, ``[Mon, ]4 Jan 2024 03:00:00 +0000``: most Date headers. Computed
# directly; anything else (and ``-0000``, "unknown zone"; years below 1000, which the
# stdlib reads as two-digit years) goes through the stdlib.
_RFC_DATE = re.compile(
    r"[ \t]*(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Za-z]{3}) ([1-9]\d{3}) (\d\d):(\d\d):(\d\d) "
    r"([+-])(\d\d)(\d\d)[ \t]*\Z"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (linear in ``day``, as timegm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


# The commonest layout of all, ``Mon, 04 Jan 2024 03:00:00 +0000``, read by four dict
# lookups on its last 14 characters and the rest (int() and a regex match are slow here).
# Each dict holds only pieces _QUICK_DATE accepted, so a value they cover is one that
# _RFC_DATE's branch below would compute, with the same result.
_QUICK_DATE = re.compile(
    r"((?:[A-Za-z]{3}, )?([0-9]{1,2}) ([A-Za-z]{3}) ([1-9][0-9]{3}) )"
    r"(([0-9]{2}):([0-9]{2}))(:[0-9]{2})( ([+-])([0-9]{2})([0-9]{2}))\Z"
)
_DAY_SECONDS: dict[str, int] = {}  # "Mon, 04 Jan 2024 " -> 1704326400
_HOUR_MINUTE_SECONDS: dict[str, int] = {}  # "03:00" -> 10800
_SECONDS = {f":{i:02d}": i for i in range(100)}  # ":07" -> 7
_ZONE_SECONDS: dict[str, int] = {}  # " -0130" -> -5400 (never " -0000", no zone at all)
_DATE_CACHE_MAX = 4096


def _learn_date(value: str) -> int | None:
    """``value`` in _QUICK_DATE's layout, computed, its pieces cached; else None."""
    m = _QUICK_DATE.match(value)
    if m is None:
        return None
    day_part, day, mon, year, hour_minute, hh, mm, colon_ss, zone, sign, oh, om = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None or (sign == "-" and oh == "00" and om == "00"):
        return None
    day_seconds = _days_from_civil(int(year), month, int(day)) * 86_400
    hour_minute_seconds = int(hh) * 3600 + int(mm) * 60
    offset = (int(oh) * 3600 + int(om) * 60) * (-1 if sign == "-" else 1)
    for cache, key, seconds in (
        (_DAY_SECONDS, day_part, day_seconds),
        (_HOUR_MINUTE_SECONDS, hour_minute, hour_minute_seconds),
        (_ZONE_SECONDS, zone, offset),
    ):
        if len(cache) >= _DATE_CACHE_MAX:
            cache.clear()
        cache[key] = seconds
    return day_seconds + hour_minute_seconds + _SECONDS[colon_ss] - offset


def _parse_date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        stamp: int | None = (
            _DAY_SECONDS[value[:-14]]
            + _HOUR_MINUTE_SECONDS[value[-14:-9]]
            + _SECONDS[value[-9:-6]]
            - _ZONE_SECONDS[value[-6:]]
        )
    except KeyError:
        stamp = _learn_date(value)
    if stamp is not None:
        if not -2_208_988_800 <= stamp <= 253_402_300_799:
            return None
        return stamp
    m = _RFC_DATE.match(value)
    if m is not None:
        # One groups() call and integer arithmetic instead of nine group() calls and
        # calendar.timegm: half the cost of this fast path, same results.
        day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
        month = _MONTHS.get(mon.lower())
        if month is not None and (sign == "+" or oh != "00" or om != "00"):
            offset = int(oh) * 3600 + int(om) * 60
            if sign == "-":
                offset = -offset
            stamp = (
                _days_from_civil(int(year), month, int(day)) * 86_400
                + int(hh) * 3600
                + int(mm) * 60
                + int(ss)
                - offset
            )
            if not -2_208_988_800 <= stamp <= 253_402_300_799:
                return None
            return stamp
    from email.utils import mktime_tz, parsedate_tz

    try:
        parsed = parsedate_tz(value)
        if parsed is None:
            return None
        stamp = mktime_tz(parsed)
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    # Years outside 1900..9999 are garbage; they would also break datetime conversions later.
    if not -2_208_988_800 <= stamp <= 253_402_300_799:
        return None
    return stamp


# Senders and recipient lists repeat across a mailbox (colleagues, lists, one's own
# address); their parsed form is immutable, so parse each distinct header value once.
_ADDRESS_CACHE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_ADDRESS_CACHE_MAX = 4096
_NO_ADDRESSES: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


def _addresses(raw: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not raw:
        return _NO_ADDRESSES
    found = _ADDRESS_CACHE.get(raw)
    if found is None:
        found = parse_addresses(raw)
        if len(raw) <= 1024:
            if len(_ADDRESS_CACHE) >= _ADDRESS_CACHE_MAX:
                _ADDRESS_CACHE.clear()
            _ADDRESS_CACHE[raw] = found
    return found


def _first_msgid(value: str | None) -> str | None:
    if not value:
        return None
    m = _MSGID.search(value)
    if m:
        return m.group(0)
    value = value.strip()
    return value or None


class _Bodies:
    __slots__ = ("attachments", "html", "parts", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.html: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.parts = 0

    def add_text(self, ctype: str, text: str) -> None:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        (self.text if ctype == "text/plain" else self.html).append(text)

    def add_attachment(self, filename: str | None, ctype: str, data: bytes) -> None:
        self.attachments.append(
            ParsedAttachment(
                filename=filename,
                content_type=ctype,
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )


# --- the fast path: our own splitter for headers and MIME parts --------------------------


def _split_head(raw: bytes, with_body: bool = True) -> tuple[list[tuple[str, str]], bytes]:
    """Header fields (name, raw value with folds) and the body of one entity.

    ``with_body=False`` (the summary path) skips copying the body: the fields are the same,
    the body returned is then meaningless.
    """
    crlf = raw.find(b"\r\n\r\n")
    lf = raw.find(b"\n\n", 0, len(raw) if crlf == -1 else crlf)
    if crlf != -1 and (lf == -1 or crlf < lf):
        head, body = raw[:crlf], raw[crlf + 4 :] if with_body else b""
    elif lf != -1:
        head, body = raw[:lf], raw[lf + 2 :] if with_body else b""
    else:
        head, body = raw, b""
    if raw[:2] == b"\r\n":
        return [], raw[2:]
    if raw[:1] == b"\n":
        return [], raw[1:]
    text = head.decode("ascii", "surrogateescape")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if text[:1] not in (" ", "\t"):
        found = _FIELD.findall(text)
        # Every line is a field start or a fold: the common case, all in one C pass.
        if len(found) == text.count("\n") + 1 - text.count("\n ") - text.count("\n\t"):
            return found, body
    fields: list[tuple[str, str]] = []
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if line and line[0] in " \t":
            if fields:
                name, value = fields[-1]
                fields[-1] = (name, value + "\n" + line.rstrip("\r"))
            continue
        colon = line.find(":")
        name = line[:colon].strip() if colon > 0 else ""
        if not name or " " in name:
            if n == 0 and line.startswith("From "):
                continue  # an mbox envelope line that slipped through
            # Not a header: the header block ended early; the rest is body.
            rest = "\n".join(lines[n:]).encode("ascii", "surrogateescape")
            return fields, rest + (b"\n\n" if body else b"") + body
        fields.append((name, line[colon + 1 :].rstrip("\r").lstrip(" \t")))
    return fields, body


def _params(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; k=v; k="v"`` → (lowercase first item, params by lowercase key)."""
    if '"' in value:
        items: list[str] = []
        buf: list[str] = []
        quoted = escaped = False
        for ch in value:
            if escaped:
                escaped = False
            elif ch == "\\" and quoted:
                escaped = True
            elif ch == '"':
                quoted = not quoted
            elif ch == ";" and not quoted:
                items.append("".join(buf))
                buf = []
                continue
            buf.append(ch)
        items.append("".join(buf))
    else:
        items = value.split(";")
    params: dict[str, str] = {}
    for item in items[1:]:
        key, eq, val = item.partition("=")
        if not eq:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params.setdefault(key.strip().lower(), val)
    return items[0].strip().lower(), params


def _split_parts(body: bytes, boundary: bytes) -> list[bytes] | None:
    """Body parts between ``--boundary`` lines; None when no delimiter line is present."""
    delim = b"--" + boundary
    dlen = len(delim)
    parts: list[bytes] = []
    start = -1  # where the current part's content begins
    i = body.find(delim)
    while i != -1:
        after = body[i + dlen : i + dlen + 2]
        at_line_start = i == 0 or body[i - 1] == 0x0A
        close = after == b"--"
        if at_line_start and (close or after[:1] in (b"", b"\r", b"\n", b" ", b"\t")):
            if start != -1:
                end = i
                if body[end - 2 : end] == b"\r\n":
                    end -= 2
                elif body[end - 1 : end] == b"\n":
                    end -= 1
                parts.append(body[start:end])
            if close:
                return parts
            eol = body.find(b"\n", i)
            if eol == -1:
                return parts
            start = eol + 1
            i = body.find(delim, start)
        else:
            i = body.find(delim, i + 1)
    if start == -1:
        return None
    parts.append(body[start:])  # no closing delimiter: keep what there is
    return parts


def _transfer_decode(body: bytes, cte: str) -> bytes:
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            stripped = b"".join(body.split())
            try:
                return binascii.a2b_base64(stripped + b"=" * (-len(stripped) % 4))
            except (binascii.Error, ValueError):
                return body
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _attachment_name(fields: list[tuple[str, str]]) -> str | None:
    """The filename of a part, RFC 2231 and encoded-words included (the stdlib does this)."""
    from email import message_from_bytes

    head = "".join(f"{name}: {value}\r\n" for name, value in fields).encode(
        "ascii", "surrogateescape"
    )
    return _filename(message_from_bytes(head + b"\r\n"))


def _entity(raw: bytes, out: _Bodies, depth: int) -> list[tuple[str, str]]:
    """Parse one MIME entity into ``out``; returns its header fields."""
    out.parts += 1
    if depth > _MAX_DEPTH or out.parts > _MAX_PARTS:
        return []
    fields, body = _split_head(raw)
    ctype_raw = cte = disp_raw = None
    for name, value in fields:
        if name[:8].lower() != "content-":
            continue
        key = name.lower()
        if key == "content-type" and ctype_raw is None:
            ctype_raw = value
        elif key == "content-transfer-encoding" and cte is None:
            cte = value.strip().lower()
        elif key == "content-disposition" and disp_raw is None:
            disp_raw = value
    ctype, params = _params(unfold(ctype_raw)) if ctype_raw else ("text/plain", {})
    if ctype.count("/") != 1:
        ctype = "text/plain"  # RFC 2045 §5.2: invalid types default to text/plain
    if ctype.startswith("multipart/"):
        boundary = params.get("boundary")
        parts = (
            _split_parts(body, boundary.encode("ascii", "surrogateescape")) if boundary else None
        )
        if parts is not None:
            for part in parts:
                _entity(part, out, depth + 1)
            return fields
        ctype = "text/plain"  # a multipart without its boundary: keep the text
    disposition, dparams = _params(unfold(disp_raw)) if disp_raw else ("", {})
    named = any(k.startswith(("name", "filename")) for k in (*params, *dparams))
    data = _transfer_decode(body, cte or "")
    if (
        (ctype == "text/plain" or ctype == "text/html")
        and disposition != "attachment"
        and not named
    ):
        out.add_text(ctype, decode_bytes(data, params.get("charset")))
    else:
        out.add_attachment(_attachment_name(fields) if named else None, ctype, data)
    return fields


# --- the slow path: the stdlib parser, for whatever the fast path could not handle -------


def _payload_bytes(part: MimeMessage) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape")
    return b""


def _filename(part: MimeMessage) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if not name:
        return None
    if not isinstance(name, str):
        name = str(name)
    name = decode_header_value(name)
    return name or None


def _walk(part: MimeMessage, out: _Bodies, depth: int) -> None:
    from email.message import Message as MimeMessage

    out.parts += 1
    if depth > _MAX_DEPTH or out.parts > _MAX_PARTS:
        return
    ctype = part.get_content_type()
    if ctype == "message/rfc822" or ctype == "message/global":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], MimeMessage):
            try:
                data = inner[0].as_bytes()
            except Exception:
                data = b""
        else:
            data = _payload_bytes(part)
        out.add_attachment(_filename(part), ctype, data)
        return
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, MimeMessage):
                    _walk(sub, out, depth + 1)
        return
    disposition = part.get_content_disposition()
    is_text = ctype == "text/plain" or ctype == "text/html"
    if is_text and disposition != "attachment" and _filename(part) is None:
        out.add_text(ctype, decode_bytes(_payload_bytes(part), part.get_content_charset()))
        return
    out.add_attachment(_filename(part), ctype, _payload_bytes(part))


def _decode_fields(
    fields: list[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, str], tuple[tuple[str, str], ...]]:
    """First raw and first decoded value of each header by lowercase name, and the list."""
    first: dict[str, str] = {}
    first_decoded: dict[str, str] = {}
    decoded: list[tuple[str, str]] = []
    for name, value in fields:
        if not isinstance(value, str):
            value = str(value)
        if (
            value.isascii()
            and "=?" not in value
            and "\n" not in value
            and "\t" not in value
            and len(value) <= MAX_HEADER_CHARS
        ):
            text = value.strip()  # the common case, without the call
        else:
            text = decode_header_value(value)
        key = name.lower()
        if key not in first:
            first[key] = value
            first_decoded[key] = text
        if not name.isascii():
            name = name.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        decoded.append((name, text))
    return first, first_decoded, tuple(decoded)


_SUMMARY_HEADERS = (
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "content-type",
)


def _summary(values: Sequence[str | None], raw: bytes, attachment_hint: bool) -> ParsedSummary:
    """The summary fields from the first raw value of each of ``_SUMMARY_HEADERS``.

    An absent header may be None or "": every field below treats the two alike.
    """
    from_, to_, cc_, reply_to_, subject, date, message_id, in_reply_to, refs, _ctype = values
    # The address cache lookup and the plain-subject case inline, fields by position:
    # calls and keyword arguments were a third of a summary's cost.
    from_display, from_addrs = _ADDRESS_CACHE.get(from_) or _addresses(from_)  # type: ignore[arg-type]
    to, to_addrs = _ADDRESS_CACHE.get(to_) or _addresses(to_)  # type: ignore[arg-type]
    cc, cc_addrs = _ADDRESS_CACHE.get(cc_) or _addresses(cc_)  # type: ignore[arg-type]
    reply_to, reply_to_addrs = _ADDRESS_CACHE.get(reply_to_) or _addresses(reply_to_)  # type: ignore[arg-type]
    if not subject:
        subject = ""
    elif (
        subject.isascii()
        and "=?" not in subject
        and "\n" not in subject
        and "\t" not in subject
        and len(subject) <= MAX_HEADER_CHARS
    ):
        subject = subject.strip()  # the common case, as in _decode_fields
    else:
        subject = decode_header_value(subject)
    # tuple.__new__ directly: NamedTuple.__new__ is a Python-level wrapper around it.
    return tuple.__new__(
        ParsedSummary,
        (
            _first_msgid(message_id),
            subject,
            ", ".join(from_display),
            from_addrs[0] if from_addrs else None,
            to,
            to_addrs,
            cc,
            cc_addrs,
            reply_to,
            reply_to_addrs,
            _first_msgid(in_reply_to),
            tuple(_MSGID.findall(refs)) if refs else (),
            _parse_date(date),
            attachment_hint,
            len(raw),
        ),
    )


def _caseless(name: str) -> bytes:
    # Classes rather than IGNORECASE: sre skips a branch whose first item is a class the
    # next byte misses without entering it, not one whose first item is a caseless literal.
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in name).encode()


# A field's value with its folds, up to the LF that ends it (a CR before that LF included).
# [^\n] rather than [^\r\n]: sre runs a negated literal in a tight loop, a class bytewise.
_VALUE = rb"[^\n]*+(?:\n[ \t][^\n]*+)*+"
# One match over the raw message for a well-formed header block. Each line is a summary
# header (group i captures its first value: later ones meet the (?(i)...) condition) or
# another field whose name is _FIELD's (the class is str \s over ASCII, plus ':'); the
# block then ends at the empty line that _split_head finds first (CRLF CRLF after a CRLF
# line, LF LF after an LF line). Atomic and possessive throughout: no branch is retried,
# so a mismatch costs one pass.
_QUICK_HEAD = re.compile(
    rb"(?:(?>"
    + b"|".join(
        _caseless(name) + rb"[ \t]*+:[ \t]*+(?(%d)" % i + _VALUE + b"|(" + _VALUE + b"))"
        for i, name in enumerate(_SUMMARY_HEADERS, 1)
    )
    + rb"|[^\t-\r\x1c-\x20:]++[ \t]*+:"
    + _VALUE
    + rb")\r?\n)*+(?:(?<=\r\n)\r\n|(?<!\r\n)\n)()"
)


def _quick_fields(raw: bytes) -> list[str] | None:
    """The first raw value of each summary header ("" if absent), or None to ask
    :func:`_split_head`.

    When it answers, every header line is a field or a fold, so ``_split_head`` takes its
    one-regex path, whose values this reproduces. Anything else (a malformed line
    anywhere, a leading fold, an mbox ``From`` line, CR LF LF ending the block) gives
    None, and ``_split_head`` decides (there a malformed line ends the block).
    """
    m = _QUICK_HEAD.match(raw)
    if m is None:
        return None
    # Each value ends where its line's LF follows (the last, empty group lends one to the
    # last value), and an absent one reads as an empty line. CRLF lines without folds,
    # the usual case: values are what CRLFs separate, one split.
    groups = m.groups(b"\r")
    text = b"\n".join(groups).decode("ascii", "surrogateescape")
    values = text.split("\r\n")
    if len(values) != 11 or text.count("\n") != 10:
        # LF lines or folds: a value holds no LF LF (an LF in it starts a fold), so LF LF
        # separates them, and one replace turns CRLFs into LFs as _split_head does,
        # dropping each value's final CR and keeping a lone one.
        joined = b"\n\n".join(groups).replace(b"\r\n", b"\n")
        values = joined.decode("ascii", "surrogateescape").split("\n\n")
    values.pop()
    return values


def _split_fields(raw: bytes) -> list[str | None]:
    """The first raw value of each summary header (None if absent), from _split_head."""
    fields, _body = _split_head(raw, with_body=False)
    first: dict[str, str] = {}
    for name, value in fields:
        key = name.lower()
        if key in _SUMMARY_SET and key not in first:
            first[key] = value
    return [first.get(key) for key in _SUMMARY_HEADERS]


_SUMMARY_SET = frozenset(_SUMMARY_HEADERS)
# Content-Type values repeat across a mailbox; the hint depends on nothing else.
_HINT_CACHE: dict[str, bool] = {}


def _attachment_hint(ctype_raw: str | None) -> bool:
    if not ctype_raw:
        return False
    hint = _HINT_CACHE.get(ctype_raw)
    if hint is None:
        ctype = ctype_raw.split(";", 1)[0].strip().lower()
        hint = ctype == "multipart/mixed" or not (
            ctype.startswith(("text/", "multipart/")) or ctype.count("/") != 1
        )
        if len(ctype_raw) <= 1024:
            if len(_HINT_CACHE) >= _ADDRESS_CACHE_MAX:
                _HINT_CACHE.clear()
            _HINT_CACHE[ctype_raw] = hint
    return hint


def _summary_fast(raw: bytes) -> ParsedSummary:
    values: Sequence[str | None] | None = _quick_fields(raw)
    if values is None:
        values = _split_fields(raw)
    return _summary(values, raw, _attachment_hint(values[9]))


def parse_summary(raw: bytes) -> ParsedSummary:
    """The summary of one raw message (top-level headers only). Never raises.

    Agrees with :func:`parse_message` on every summary field whenever parse_message's own
    splitter accepts the message: the header values are ``_split_head``'s (one regex match
    gives them for a well-formed block) and the same code computes the fields; should the
    header split fail, the full parse is used, so the two agree there too.
    """
    data = bytes(raw)
    try:
        return _summary_fast(data)
    except Exception:  # what parse_message's fast path would also reject
        pass
    full = parse_message(data, max_body_bytes=0)
    return ParsedSummary(
        message_id=full.message_id,
        subject=full.subject,
        from_=full.from_,
        from_addr=full.from_addr,
        to=full.to,
        to_addrs=full.to_addrs,
        cc=full.cc,
        cc_addrs=full.cc_addrs,
        reply_to=full.reply_to,
        reply_to_addrs=full.reply_to_addrs,
        in_reply_to=full.in_reply_to,
        references=full.references,
        date=full.date,
        attachment_hint=full.has_attachments,
        size=len(data),
    )


def _build(raw: bytes, max_body_bytes: int, *, fast: bool) -> ParsedMessage:
    bodies = _Bodies()
    if fast:
        fields = _entity(raw, bodies, 0)
    else:
        from email import message_from_bytes

        msg = message_from_bytes(raw)
        fields = list(msg.raw_items())
        _walk(msg, bodies, 0)
    first, _first_decoded, headers = _decode_fields(fields)

    truncated = False
    body_text: str | None = None
    body_html: str | None = None
    if bodies.text:
        body_text, truncated = _truncate("\n".join(bodies.text), max_body_bytes)
    if bodies.html:
        body_html, cut = _truncate("\n".join(bodies.html), max_body_bytes)
        truncated = truncated or cut
    if body_text is not None:
        index_text = body_text
    elif body_html is not None:
        # Only what a reader sees: the snippet (listed, in events) and the search text of an
        # HTML-only message must not carry text the sender hid from people.
        index_text = html_to_text(visible_html(body_html)[0])
    else:
        index_text = ""

    summ = _summary([first.get(key) for key in _SUMMARY_HEADERS], raw, False)

    return ParsedMessage(
        message_id=summ.message_id,
        subject=summ.subject,
        from_=summ.from_,
        from_addr=summ.from_addr,
        to=summ.to,
        to_addrs=summ.to_addrs,
        cc=summ.cc,
        cc_addrs=summ.cc_addrs,
        reply_to=summ.reply_to,
        reply_to_addrs=summ.reply_to_addrs,
        in_reply_to=summ.in_reply_to,
        references=summ.references,
        date=summ.date,
        headers=headers,
        body_text=body_text,
        body_html=body_html,
        body_truncated=truncated,
        snippet=snippet_of(index_text),
        attachments=tuple(bodies.attachments),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        index_text=index_text,
    )


def _fallback(raw: bytes, max_body_bytes: int) -> ParsedMessage:
    """What we keep of a message the MIME parser choked on: its bytes as text."""
    text, truncated = _truncate(decode_bytes(raw, "utf-8"), max_body_bytes)
    return ParsedMessage(
        message_id=None,
        subject="",
        from_="",
        from_addr=None,
        to=(),
        to_addrs=(),
        cc=(),
        cc_addrs=(),
        reply_to=(),
        reply_to_addrs=(),
        in_reply_to=None,
        references=(),
        date=None,
        headers=(),
        body_text=text,
        body_html=None,
        body_truncated=truncated,
        snippet=snippet_of(text),
        attachments=(),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        index_text=text,
    )


def parse_message(raw: bytes, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> ParsedMessage:
    """Parse one raw message. Never raises: malformed input degrades, it does not fail.

    Bodies longer than ``max_body_bytes`` (UTF-8) are cut and ``body_truncated`` is set.
    """
    data = bytes(raw)
    try:
        return _build(data, max_body_bytes, fast=True)
    except Exception:  # our splitter met something odd: let the stdlib parser try
        pass
    try:
        return _build(data, max_body_bytes, fast=False)
    except Exception:  # a parser bug on hostile input must not lose the message
        return _fallback(data, max_body_bytes)
