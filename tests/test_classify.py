"""mail.classify: loop prevention rules (RFC 3834 and friends), each in priority order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prx_email.mail.classify import automated_reason

OWN = "me@example.org"


def msg(*headers: str, sender: str = "ann@example.com") -> bytes:
    lines = [f"From: Ann <{sender}>", "To: me@example.org", "Subject: hi", *headers]
    return ("\r\n".join(lines) + "\r\n\r\nAuto-Submitted: auto-replied\r\n").encode()


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ((), "ann@example.com", None),  # a person's mail (the body's header-like line is body)
        (("Auto-Submitted: no",), "ann@example.com", None),
        (("Auto-Submitted: auto-replied",), "ann@example.com", "auto-submitted: auto-replied"),
        # Priority: Auto-Submitted wins over every later rule.
        (
            ("Precedence: bulk", "List-Id: <x.lists>", "auto-submitted: Auto-Generated; x=1"),
            OWN,
            "auto-submitted: auto-generated",
        ),
        (("List-Id: Team <team.example.com>", "Precedence: list"), OWN, "list-id"),
        (("List-Unsubscribe: <mailto:u@x>", "Precedence: junk"), OWN, "list-unsubscribe"),
        (("Precedence: Bulk",), OWN, "precedence: bulk"),
        (("Precedence: first-class",), "ann@example.com", None),
        ((), "ME@Example.org", "from-self"),
    ],
)
def test_rules_in_priority_order(headers: tuple[str, ...], sender: str, reason: str | None) -> None:
    assert automated_reason(msg(*headers, sender=sender), sender, OWN) == reason


def test_only_the_header_block_counts_and_lf_only_messages_work() -> None:
    raw = b"From: a@x\nSubject: s\n\nList-Id: <not.a.header>\n"
    assert automated_reason(raw, "a@x", OWN) is None
    assert automated_reason(b"From: a@x\nList-Id: <l>\n\nbody\n", "a@x", OWN) == "list-id"
    # The first line has no line break before it.
    assert automated_reason(b"precedence: bulk\r\nFrom: a@x\r\n\r\n", "a@x", OWN) == (
        "precedence: bulk"
    )


@given(st.binary(max_size=2000))
def test_never_raises(raw: bytes) -> None:
    automated_reason(raw, None, OWN)


def test_sender_filter_addresses_domains_and_deny_wins() -> None:
    from prx_email.mail.classify import SenderFilter

    assert not SenderFilter().active and SenderFilter().admits("a@x.org")
    deny = SenderFilter(deny=("noreply.example.com", "Alerts@Example.NET"))
    assert not deny.admits("bot@noreply.example.com")
    assert not deny.admits("x@eu.noreply.example.com")  # subdomains too
    assert not deny.admits("alerts@example.net") and deny.admits("people@example.net")
    assert deny.admits("a@notnoreply.example.com.evil")  # not a suffix match on text
    allow = SenderFilter(allow=("@example.org", "boss@corp.com"), deny=("spam@example.org",))
    assert allow.admits("ann@example.org") and allow.admits("boss@corp.com")
    assert not allow.admits("intern@corp.com") and not allow.admits(None)
    assert not allow.admits("spam@example.org")
