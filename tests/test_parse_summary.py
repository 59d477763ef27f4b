"""parse_summary's one-regex header path against _split_head's, on odd header blocks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prx_email.mail import parse as parse_mod
from prx_email.mail.parse import ParsedSummary, parse_message, parse_summary

_FIELDS = [f for f in ParsedSummary._fields if f not in ("attachment_hint", "size")]


def _general(raw: bytes) -> list[str]:
    """What the quick path must give: _split_head's first values, "" when absent."""
    return [value or "" for value in parse_mod._split_fields(raw)]


def _agrees_with_full_parse(raw: bytes) -> None:
    summary, full = parse_summary(raw), parse_message(raw)
    for name in _FIELDS:
        assert getattr(summary, name) == getattr(full, name), name


_BENCH_LIKE = (
    b"From: Sender 3 <sender3@example.org>\r\n"
    b"To: alice@example.org, Bob <bob@example.org>\r\n"
    b"Cc: carol@example.org\r\n"
    b"Subject: Update minutes #3\r\n"
    b"Date: Mon, 04 Jan 2024 03:00:00 +0000\r\n"
    b"Message-ID: <bench3@example.org>\r\n"
    b"In-Reply-To: <bench2@example.org>\r\n"
    b"References: <bench1@example.org> <bench2@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Subject: not a header, the body\r\n"
)


def test_the_usual_message_takes_the_quick_path() -> None:
    values = parse_mod._quick_fields(_BENCH_LIKE)
    assert values == [
        "Sender 3 <sender3@example.org>",
        "alice@example.org, Bob <bob@example.org>",
        "carol@example.org",
        "",
        "Update minutes #3",
        "Mon, 04 Jan 2024 03:00:00 +0000",
        "<bench3@example.org>",
        "<bench2@example.org>",
        "<bench1@example.org> <bench2@example.org>",
        "text/plain; charset=utf-8",
    ]
    assert values == _general(_BENCH_LIKE)
    assert parse_summary(_BENCH_LIKE).date == 1704337200
    _agrees_with_full_parse(_BENCH_LIKE)


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        (b"Subject: first\r\nSUBJECT: second\r\n\r\n", "first"),
        (b"sUbJeCt: caseless\r\n\r\n", "caseless"),
        (b"Subject :  spaced\r\n\r\n", "spaced"),
        (b"Subject\t:\ttabbed\r\n\r\n", "tabbed"),
        (b"Subject: folded\r\n and\r\n\tagain\r\n\r\n", "folded\n and\n\tagain"),
        (b"Subject:\r\n on the next line\r\n\r\n", "\n on the next line"),
        (b"Subject: lf only\nFrom: a@b\n\nbody", "lf only"),
        (b"Subject: mixed\nFrom: a@b\r\n\r\nbody", "mixed"),
        (b"Subject: lone\rCR\r\n\r\n", "lone\rCR"),
        (b"Subject: CR CR LF\r\r\n\r\n", "CR CR LF\r"),
        (b"Subject: last one\r\r\n\r\nbody", "last one\r"),
        (b"Subject: Gr\xc3\xbc\xc3\x9fe\r\n\r\n", "Gr\udcc3\udcbc\udcc3\udc9fe"),
        (b"Subject:\r\nFrom: a@b\r\n\r\n", ""),
        (b"X-Subject: no\r\nSubject-X: no\r\n\r\n", ""),
        (b"\nSubject: in the body\r\n\r\n", ""),
    ],
)
def test_quick_values(raw: bytes, subject: str) -> None:
    values = parse_mod._quick_fields(raw)
    assert values is not None
    assert values[4] == subject
    assert values == _general(raw)
    _agrees_with_full_parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@b\r\ngarbage line\r\nSubject: after the block\r\n\r\n",
        b"From: a@b\r\nNa me: x\r\nSubject: after the block\r\n\r\n",
        b"From: a@b\r\n: no name\r\nSubject: after the block\r\n\r\n",
        b"From: a@b\r\nX-Weird\x0b: x\r\nSubject: s\r\n\r\n",
        b"From: a@b\r\n\x0bSubject: loop-path name\r\n\r\n",
        b"From: a@b\nSubject\x0c: loop-path name\n\n",
        b"From x@y Sat Jan  1 00:00:00 2000\nSubject: mbox line\n\nbody",
        b" leading fold\r\nSubject: s\r\n\r\n",
        b"Subject: CR LF LF ends here\r\n\nFrom: a@b\r\n\r\n",
        b"Subject: LF CR LF is no end\n\r\nFrom: a@b\r\n\r\n",
        b"Subject: no body and no newline",
        b"Subject: no blank line\r\n",
        b"\r\n\r\nSubject: body",
        b"",
    ],
)
def test_unusual_blocks_go_to_the_line_splitter(raw: bytes) -> None:
    assert parse_mod._quick_fields(raw) is None
    _agrees_with_full_parse(raw)


def test_a_header_after_a_malformed_line_is_not_picked_up() -> None:
    raw = b"From: a@b\r\ngarbage line\r\nSubject: after the block\r\n\r\nbody"
    assert parse_summary(raw).subject == ""
    assert parse_summary(raw).from_addr == "a@b"


_NAMES = st.sampled_from(
    [
        "From",
        "FROM",
        "to",
        "Cc",
        "Reply-To",
        "Subject",
        "sUBJECT",
        "Date",
        "Message-ID",
        "message-id",
        "In-Reply-To",
        "References",
        "Content-Type",
        "content-type",
        "Received",
        "DKIM-Signature",
        "List-Id",
        "X-From",
        "From-X",
        "Tox",
        "Subject ",
        "Date\t",
        "Na me",
        "",
        "\x0bSubject",
        "Subject\x0c",
        "Sub\x1cject",
        "X-\xe9",
        " From",
        "From x@y",
    ]
)
_VALUE_TEXT = st.lists(
    st.sampled_from(
        [
            "a",
            "b",
            " ",
            "\t",
            ":",
            "<",
            ">",
            "@",
            ",",
            '"',
            "\r",
            "=?utf-8?q?caf=C3=A9?=",
            "\xe9",
            "\x00",
            "\x0b",
            "Mon, 04 Jan 2024 03:00:00 +0000",
        ]
    ),
    max_size=12,
).map("".join)
_EOL = st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r\r\n", "\r"])
_LINE = st.one_of(
    st.tuples(_NAMES, st.sampled_from([":", ": ", ":\t", ":  "]), _VALUE_TEXT).map("".join),
    st.tuples(st.sampled_from([" ", "\t"]), _VALUE_TEXT).map("".join),  # a fold
    _VALUE_TEXT,  # usually malformed
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.tuples(_LINE, _EOL), max_size=12),
    end=st.sampled_from(["\r\n\r\n", "\n\n", "\r\n\n", "\n\r\n", "\r\n", "", "\n"]),
    body=st.sampled_from(["", "body\r\n", "Subject: in body\r\n\r\nFrom: x@y\r\n"]),
)
def test_quick_path_equals_the_line_splitter(
    lines: list[tuple[str, str]], end: str, body: str
) -> None:
    text = "".join(line + eol for line, eol in lines)
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    raw = (text + end + body).encode("latin-1")
    quick = parse_mod._quick_fields(raw)
    if quick is not None:
        assert quick == _general(raw)
    _agrees_with_full_parse(raw)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(
        st.sampled_from(["From", "To", "Subject", "Date", "References", "X-A", "Received"]),
        min_size=1,
        max_size=8,
    ),
    crlf=st.booleans(),
)
def test_well_formed_blocks_always_take_the_quick_path(names: list[str], crlf: bool) -> None:
    eol = "\r\n" if crlf else "\n"
    raw = (eol.join(f"{n}: v{i}{eol} fold{i}" for i, n in enumerate(names)) + eol * 2).encode()
    quick = parse_mod._quick_fields(raw)
    assert quick is not None
    assert quick == _general(raw)


_MONTHS = ["Jan", "feb", "MAR", "Sep", "Dec", "Foo"]


@settings(max_examples=500, deadline=None)
@given(
    day=st.sampled_from(["", "Mon, ", "Xyz, ", "mon,", "1ab, "]),
    dd=st.integers(0, 39),
    month=st.sampled_from(_MONTHS),
    year=st.integers(0, 10_500),
    hms=st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
    zone=st.sampled_from(["+0000", "-0000", "+0130", "-0945", "+9999", "GMT", "+00000"]),
)
def test_cached_date_pieces_give_the_regex_result(
    day: str, dd: int, month: str, year: int, hms: tuple[int, int, int], zone: str
) -> None:
    h, m, s = hms
    for y in (str(year), f"{year:04d}"):
        value = f"{day}{dd:02d} {month} {y} {h:02d}:{m:02d}:{s:02d} {zone}"
        for cache in (
            parse_mod._DAY_SECONDS,
            parse_mod._HOUR_MINUTE_SECONDS,
            parse_mod._ZONE_SECONDS,
        ):
            cache.clear()
        expected = _stdlib_date(value)
        assert parse_mod._parse_date(value) == expected, value  # learns the pieces
        assert parse_mod._parse_date(value) == expected, value  # reads them back


def _stdlib_date(value: str) -> int | None:
    from email.utils import mktime_tz, parsedate_tz

    try:
        parsed = parsedate_tz(value)
        stamp = None if parsed is None else mktime_tz(parsed)
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    if stamp is None or not -2_208_988_800 <= stamp <= 253_402_300_799:
        return None
    return stamp
