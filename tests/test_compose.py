"""MIME building, address validation, reply subjects and References (no network)."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prx_email.errors import InvalidArgument
from prx_email.mail.compose import (
    AttachmentData,
    compose,
    parse_mailbox,
    references_chain,
    reply_subject,
)


def parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Budget", "Re: Budget"),
        ("Re: Budget", "Re: Budget"),
        ("RE: re: Budget", "Re: Budget"),
        ("Re[2]: Budget", "Re: Budget"),
        ("Re(3): Budget", "Re: Budget"),
        ("AW: Re: Budget", "Re: Budget"),
        ("SV: Budget", "Re: Budget"),
        ("Fwd: Budget", "Re: Fwd: Budget"),
        ("Re: Fwd: Budget", "Re: Fwd: Budget"),
        ("Return policy", "Re: Return policy"),
        ("Area: 51", "Re: Area: 51"),
        ("", "Re:"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


@given(st.text(max_size=60))
def test_reply_subject_is_idempotent(subject: str) -> None:
    once = reply_subject(subject)
    assert reply_subject(once) == once
    assert not once.lower().startswith("re: re:")


def test_references_chain() -> None:
    assert references_chain("<c@x>", ["<a@x>", "<b@x>"], "<b@x>") == ["<a@x>", "<b@x>", "<c@x>"]
    assert references_chain("<c@x>", [], "<b@x>") == ["<b@x>", "<c@x>"]
    assert references_chain("<c@x>", [], None) == ["<c@x>"]
    assert references_chain(None, ["<a@x>", "<a@x>"], None) == ["<a@x>"]


@pytest.mark.parametrize(
    "value",
    [
        "bob@example.org\r\nBcc: eve@evil.example",
        "bob@example.org\nX: y",
        "Bob <bob@example.org>, Eve <eve@evil.example>",
        "bob@example.org, eve@evil.example",
        '"eve@evil.example" <bob@example.org>',
        "Eve <eve@evil.example> <bob@example.org>",
        "a@b@c",
        "@example.org",
        "bob@",
        "bob@-bad.example",
        "bo b@example.org",
        "",
        "Bob <>",
        "<bob@example.org",
    ],
)
def test_bad_addresses(value: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_mailbox(value)


def test_good_addresses() -> None:
    assert parse_mailbox("bob@example.org").addr_spec == "bob@example.org"
    b = parse_mailbox("  Bob Smith <bob.smith+tag@example.org> ")
    assert (b.display_name, b.addr_spec) == ("Bob Smith", "bob.smith+tag@example.org")
    assert parse_mailbox("Jörg <j@bücher.example>").addr_spec == "j@xn--bcher-kva.example"


@given(st.text(min_size=1, max_size=40))
def test_no_header_injection_through_display_names(name: str) -> None:
    try:
        box = parse_mailbox(f"{name} <bob@example.org>")
    except InvalidArgument:
        return
    built = compose(
        sender="me@example.com",
        to=[box],
        subject="s",
        body_text="x",
        body_html=None,
        now=0,
    )
    msg = parse(built.raw)
    assert built.recipients == ("bob@example.org",)
    assert [a.addr_spec for a in msg["To"].addresses] == ["bob@example.org"]
    assert set(msg.keys()) == {
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    }


def test_structure_html_only_and_attachment_names() -> None:
    built = compose(
        sender="me@example.com",
        to=[parse_mailbox("a@example.org")],
        subject="Grüße",
        body_text=None,
        body_html="<p>ü</p>",
        attachments=[
            AttachmentData("../../etc/passwd", "text/plain", b"x"),
            AttachmentData("ファイル.txt", "text/plain", "ü".encode()),
        ],
        now=0,
    )
    assert all(b < 128 for b in built.raw)  # 7bit-clean on the wire
    msg = parse(built.raw)
    assert msg["Subject"] == "Grüße"
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "text/html"
    assert [p.get_filename() for p in parts[1:]] == ["passwd", "ファイル.txt"]
    assert parts[2].get_payload(decode=True) == "ü".encode()
    assert b"MIME-Version" not in built.raw.split(b"\r\n\r\n", 1)[1]


def test_message_id_uses_the_account_domain_and_is_unique() -> None:
    ids = {
        compose(
            sender="me@mail.example.com",
            to=[parse_mailbox("a@example.org")],
            subject="s",
            body_text="x",
            body_html=None,
            now=0,
        ).message_id
        for _ in range(50)
    }
    assert len(ids) == 50
    assert all(i.startswith("<") and i.endswith("@mail.example.com>") for i in ids)
