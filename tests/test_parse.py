"""mail.parse: raw bytes → ParsedMessage, on good mail and on hostile mail."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.growth import assert_linear
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prx_email.mail import parse as parse_mod
from prx_email.mail.parse import ParsedMessage, parse_message
from prx_email.services.importer import iter_mbox

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.mbox"


def msg(*headers: str, body: str = "Hello.\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")


def test_plain_message_fields() -> None:
    raw = msg(
        "From: Alice Example <alice@example.com>",
        "To: Bob <bob@example.org>, carol@example.org",
        'Cc: "Doe, Jane" <jane@example.net>',
        "Reply-To: Help <help@example.com>",
        "Subject: Quarterly numbers",
        "Date: Mon, 2 Mar 2026 10:00:00 +0100",
        "Message-ID: <abc@example.com>",
        "In-Reply-To: <prev@example.com>",
        "References: <first@example.com>\r\n <prev@example.com>",
        body="Line one.\r\nLine two.\r\n",
    )
    p = parse_message(raw)
    assert p.subject == "Quarterly numbers"
    assert p.from_ == "Alice Example <alice@example.com>"
    assert p.from_addr == "alice@example.com"
    assert p.to == ("Bob <bob@example.org>", "carol@example.org")
    assert p.to_addrs == ("bob@example.org", "carol@example.org")
    assert p.cc == ('"Doe, Jane" <jane@example.net>',)
    assert p.cc_addrs == ("jane@example.net",)
    assert p.reply_to_addrs == ("help@example.com",)
    assert p.message_id == "<abc@example.com>"
    assert p.in_reply_to == "<prev@example.com>"
    assert p.references == ("<first@example.com>", "<prev@example.com>")
    assert p.date == 1772442000
    assert p.body_text == "Line one.\nLine two.\n"
    assert p.body_html is None
    assert p.snippet == "Line one. Line two."
    assert not p.body_truncated
    assert p.attachments == ()
    assert p.size == len(raw)
    assert p.sha256 == hashlib.sha256(raw).hexdigest()
    assert [name for name, _ in p.headers][:3] == ["From", "To", "Cc"]


def test_encoded_words_in_subject_and_names() -> None:
    raw = msg(
        "From: =?iso-8859-1?q?Ren=E9e_Dupont?= <renee@example.com>",
        "To: =?utf-8?b?5L2Q6Jek?= <sato@example.jp>",
        "Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_r=C3=A9sum=C3=A9?= and more",
    )
    p = parse_message(raw)
    assert p.subject == "Café résumé and more"
    assert p.from_ == "Renée Dupont <renee@example.com>"
    assert p.to == ("佐藤 <sato@example.jp>",)
    assert ("Subject", "Café résumé and more") in p.headers


def test_eight_bit_headers_are_decoded() -> None:
    raw = "Subject: Grüße aus Köln\r\nFrom: Jörg <j@example.de>\r\n\r\nHi\r\n".encode()
    p = parse_message(raw)
    assert p.subject == "Grüße aus Köln"
    assert p.from_ == "Jörg <j@example.de>"
    latin1 = "Subject: Caf\xe9\r\n\r\nx".encode("latin-1")
    assert parse_message(latin1).subject == "Café"


def test_html_only_message_gets_text_snippet() -> None:
    raw = msg(
        "Content-Type: text/html; charset=utf-8",
        body="<html><head><style>p{}</style><script>alert(1)</script></head>"
        "<body><h1>Digest</h1><p>Five&nbsp;tips &amp; tricks</p></body></html>",
    )
    p = parse_message(raw)
    assert p.body_text is None
    assert p.body_html is not None and "<h1>Digest</h1>" in p.body_html
    assert p.snippet == "Digest Five\xa0tips & tricks".replace("\xa0", " ") or p.snippet.startswith(
        "Digest"
    )
    assert "alert" not in p.index_text and "p{}" not in p.index_text
    assert "tricks" in p.index_text


def test_multipart_alternative_and_attachment() -> None:
    data = b"a,b\n1,2\n"
    raw = msg(
        "Subject: report",
        'Content-Type: multipart/mixed; boundary="outer"',
        body=(
            "preamble\r\n--outer\r\n"
            'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
            "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain body\r\n"
            "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html body</p>\r\n"
            "--inner--\r\n"
            "--outer\r\nContent-Type: text/csv; name=r.csv\r\n"
            'Content-Disposition: attachment; filename="r.csv"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(data).decode()
            + "\r\n--outer--\r\nepilogue\r\n"
        ),
    )
    p = parse_message(raw)
    assert p.body_text == "plain body"
    assert p.body_html == "<p>html body</p>"
    assert p.snippet == "plain body"
    assert len(p.attachments) == 1
    att = p.attachments[0]
    assert (att.filename, att.content_type, att.data) == ("r.csv", "text/csv", data)
    assert att.sha256 == hashlib.sha256(data).hexdigest()
    assert p.has_attachments


def test_rfc2231_and_encoded_word_filenames() -> None:
    raw = msg(
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            "--b\r\nContent-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n\r\n"
            "%PDF\r\n"
            "--b\r\nContent-Type: image/png; name==?utf-8?q?=C3=A9t=C3=A9.png?=\r\n\r\nPNG\r\n"
            "--b--\r\n"
        ),
    )
    p = parse_message(raw)
    assert [a.filename for a in p.attachments] == ["résumé.pdf", "été.png"]
    assert p.body_text == "see attached"


def test_forwarded_message_is_one_attachment() -> None:
    inner = "Subject: inner\r\nFrom: x@example.com\r\n\r\ninner body\r\n"
    raw = msg(
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            "--b\r\nContent-Type: text/plain\r\n\r\nFYI\r\n"
            "--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--b--\r\n"
        ),
    )
    p = parse_message(raw)
    assert p.body_text == "FYI"
    assert [a.content_type for a in p.attachments] == ["message/rfc822"]
    assert b"inner body" in p.attachments[0].data


def test_quoted_printable_and_charsets() -> None:
    raw = msg(
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: quoted-printable",
        body="caf=E9 cr=E8me =\r\nsuite\r\n",
    )
    assert parse_message(raw).body_text == "café crème suite\n"


def test_unknown_charset_falls_back() -> None:
    raw = msg("Content-Type: text/plain; charset=x-no-such-charset", body="ok \xff\xfe")
    p = parse_message(raw)
    assert p.body_text is not None and p.body_text.startswith("ok ")
    lying = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nna\xc3\xafve\r\n"
    assert parse_message(lying).body_text == "naïve\n"


def test_truncation_flag() -> None:
    raw = msg("Subject: long", body="é" * 5000)
    p = parse_message(raw, max_body_bytes=1001)
    assert p.body_truncated
    assert p.body_text is not None and len(p.body_text.encode()) <= 1001
    assert p.body_text == "é" * 500
    assert not parse_message(raw).body_truncated


@pytest.mark.parametrize(
    "value",
    ["", "not a date", "Mon, 99 Foo 2026 99:99:99 +9999", "Tue, 1 Jan 99999 00:00:00 +0000"],
)
def test_malformed_dates_become_none(value: str) -> None:
    assert parse_message(msg(f"Date: {value}")).date is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"just a body without any headers",
        b"Subject: only headers, no body",
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=zzz\r\n\r\nno boundary here\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
        b"\r\nunterminated part",
        b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nno boundary parameter",
        b"Content-Type: text/plain; charset=\r\n\r\nempty charset",
        b'Content-Type: ;;;==="\r\n\r\nbroken params',
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64###",
        b"Subject: =?utf-8?b?broken?= =?x-unknown?q?x?= =?utf-8?q?=ZZ?=\r\n\r\n",
        b'From: <<<@@@>>>, "unterminated\r\n\r\n',
        b"Subject: " + b"A" * 200_000 + b"\r\n\r\nhuge header line",
        b"\xff\xfe\x00\x01" * 100,
        b"From x@y Sat Jan  1 00:00:00 2000\nSubject: mbox line first\n\nbody",
    ],
)
def test_nasty_messages_still_parse(raw: bytes) -> None:
    p = parse_message(raw)
    assert isinstance(p, ParsedMessage)
    assert p.size == len(raw)


def test_deep_nesting_is_bounded() -> None:
    depth = 200
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    raw = (head + "Content-Type: text/plain\r\n\r\ndeep\r\n").encode()
    p = parse_message(raw)
    assert isinstance(p, ParsedMessage)


def test_boundary_prefix_of_nested_boundary() -> None:
    raw = msg(
        'Content-Type: multipart/mixed; boundary="ab"',
        body=(
            '--ab\r\nContent-Type: multipart/alternative; boundary="abc"\r\n\r\n'
            "--abc\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--abc--\r\n"
            "--ab\r\nContent-Type: application/octet-stream\r\n\r\nBIN\r\n--ab--\r\n"
        ),
    )
    p = parse_message(raw)
    assert p.body_text == "inner text"
    assert [a.data for a in p.attachments] == [b"BIN"]


def test_fast_path_agrees_with_stdlib_on_the_sample_mailbox() -> None:
    for raw in iter_mbox(SAMPLE):
        fast = parse_mod._build(raw, 1 << 20, fast=True)
        slow = parse_mod._build(raw, 1 << 20, fast=False)
        assert fast.subject == slow.subject
        assert fast.from_ == slow.from_
        assert fast.to == slow.to and fast.cc == slow.cc
        assert fast.date == slow.date
        assert fast.headers == slow.headers
        assert (fast.body_text or "").strip() == (slow.body_text or "").strip()
        assert (fast.body_html or "").strip() == (slow.body_html or "").strip()
        assert [(a.filename, a.content_type, a.sha256) for a in fast.attachments] == [
            (a.filename, a.content_type, a.sha256) for a in slow.attachments
        ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    p = parse_message(raw)
    assert p.size == len(raw)


_line = st.sampled_from(
    [
        b"Subject: =?utf-8?q?x?=",
        b"Content-Type: multipart/mixed; boundary=b",
        b"Content-Type: text/html; charset=utf-7",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: quoted-printable",
        b"Content-Disposition: attachment; filename*=x''%ZZ",
        b"--b",
        b"--b--",
        b"",
        b" folded",
        b"From: a@b, <c@d>",
        b"Date: Mon, 1 Jan 2001 00:00:00 +0000",
        b"=?utf-8?b?////?=",
        b"<script>",
        b"\xc3\x28",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_line, st.binary(max_size=40)), max_size=40))
def test_mime_shaped_garbage_never_raises(lines: list[bytes]) -> None:
    raw = b"\r\n".join(lines)
    assert parse_message(raw).size == len(raw)


@pytest.mark.parametrize(
    "make",
    [
        lambda n: b"Subject: " + b"=?utf-8?q?a?= " * n + b"\r\n\r\nx",
        lambda n: b"Content-Type: text/html\r\n\r\n" + b"<script></script>x" * n,
        lambda n: b"Content-Type: text/html\r\n\r\n" + b"<" * (20 * n),
        lambda n: b"To: " + b'"a\\"b" <x@y>, ' * n + b"\r\n\r\nx",
        lambda n: b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * n,
    ],
    ids=["encoded-words", "script-tags", "lt-storm", "quoted-names", "many-parts"],
)
def test_hostile_sizes_parse_in_linear_time(make: Callable[[int], bytes]) -> None:
    assert_linear(lambda n: parse_message(make(n)), 12_500)


_words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(" \n"),
    max_size=80,
)
_names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


def _unquoted(name: str) -> str:
    return name[1:-1] if name.startswith("<") and name.endswith(">") else name


@settings(max_examples=150, deadline=None)
@given(
    subject=_words,
    name=_names,
    text=st.none() | _words,
    markup=st.none() | _words,
    files=st.lists(
        st.tuples(
            _names,
            st.sampled_from(["application/pdf", "image/png", "text/csv"]),
            st.binary(max_size=300),
        ),
        max_size=3,
    ),
)
def test_fast_splitter_agrees_with_stdlib_on_generated_mime(
    subject: str,
    name: str,
    text: str | None,
    markup: str | None,
    files: list[tuple[str, str, bytes]],
) -> None:
    from email.headerregistry import Address
    from email.message import EmailMessage

    m = EmailMessage()
    m["Subject"] = " ".join(subject.split())
    m["From"] = Address(" ".join(name.split()) or "x", "sender@example.com")
    m["To"] = "rcpt@example.org"
    m.set_content(text if text is not None else "")
    if markup is not None:
        m.add_alternative(f"<p>{markup}</p>", subtype="html")
    for filename, ctype, data in files:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    raw = m.as_bytes()
    fast = parse_mod._build(raw, 1 << 20, fast=True)
    slow = parse_mod._build(raw, 1 << 20, fast=False)
    assert fast.subject == slow.subject
    assert fast.from_ == slow.from_
    assert fast.headers == slow.headers
    assert (fast.body_text or "") == (slow.body_text or "")
    assert (fast.body_html or "") == (slow.body_html or "")
    assert [(a.filename, a.content_type, a.data) for a in fast.attachments] == [
        (a.filename, a.content_type, a.data) for a in slow.attachments
    ]
    assert [a.data for a in fast.attachments] == [data for _, _, data in files]
    # Names are trimmed; a blank one is no name.
    # The stdlib reads filename="<x>" as "x" (email.utils.unquote also strips angle brackets),
    # and both parse paths follow it.
    assert [a.filename for a in fast.attachments] == [
        _unquoted(f.strip()) or None for f, _, _ in files
    ]
    assert (fast.body_text or "").rstrip("\n") == (text or "").rstrip("\n")


@given(
    st.integers(1900, 9999),
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 60),
    st.sampled_from(["+", "-"]),
    st.integers(0, 14),
    st.sampled_from([0, 30, 45]),
)
@settings(max_examples=300, deadline=None)
def test_fast_rfc_date_agrees_with_timegm(y, mo, d, hh, mm, ss, sign, oh, om) -> None:
    import calendar

    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    value = f"Mon, {d} {months[mo - 1]} {y} {hh:02d}:{mm:02d}:{ss:02d} {sign}{oh:02d}{om:02d}"
    offset = (oh * 3600 + om * 60) * (-1 if sign == "-" else 1)
    want = calendar.timegm((y, mo, d, hh, mm, ss)) - offset
    if sign == "-" and oh == 0 and om == 0:
        return  # "-0000" (unknown zone) takes the stdlib path
    if not -2_208_988_800 <= want <= 253_402_300_799:
        want = None
    assert parse_mod._parse_date(value) == want
