"""mail/bounce.py: RFC 3464 DSNs and legacy bounces parsed, other mail left alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prx_email.mail.bounce import kind_of, looks_like_bounce, parse_bounce
from prx_email.mail.parse import parse_summary

ORIGINAL = b"""From: Agent <agent@example.org>
To: ann@remote.example
Subject: Your ticket
Message-ID: <orig-1@example.org>
Date: Tue, 1 Dec 2026 10:00:00 +0000

Hello Ann.
"""

# RFC 3464 appendix-style: two recipients, one failed, one delayed.
RFC3464 = (
    b"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.remote.example>
To: agent@example.org
Subject: Returned mail: see transcript for details
Message-ID: <dsn-1@mx.remote.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="RAA14128.773615765/CS.UTK.EDU"

--RAA14128.773615765/CS.UTK.EDU
Content-Type: text/plain

The original message was received at Tue, 1 Dec 2026 10:00:01 +0000.

   ----- The following addresses had delivery problems -----
<ann@remote.example>  (unrecoverable error)

--RAA14128.773615765/CS.UTK.EDU
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example
Arrival-Date: Tue, 1 Dec 2026 10:00:01 +0000

Final-Recipient: RFC822; ann@remote.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mailhost.remote.example
Diagnostic-Code: smtp; 550 5.1.1 <ann@remote.example>... User unknown

Original-Recipient: rfc822;bob@slow.example
Final-Recipient: rfc822; bob@slow.example
Action: delayed
Status: 4.4.7
Will-Retry-Until: Fri, 4 Dec 2026 10:00:00 +0000

--RAA14128.773615765/CS.UTK.EDU
Content-Type: message/rfc822

"""
    + ORIGINAL
    + b"""
--RAA14128.773615765/CS.UTK.EDU--
"""
)

# A transient-only DSN with just the original's headers returned.
DELAY = b"""From: postmaster@relay.example
To: agent@example.org
Subject: Delivery Status Notification (Delay)
MIME-Version: 1.0
Content-Type: multipart/report; report-type="delivery-status"; boundary="b1"

--b1
Content-Type: text/plain

Delivery to the following recipient has been delayed: carl@busy.example

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example

Final-Recipient: rfc822; carl@busy.example
Action: delayed
Status: 4.2.2 (mailbox full)

--b1
Content-Type: text/rfc822-headers

From: Agent <agent@example.org>
Message-ID: <orig-2@example.org>
Subject: Later

--b1--
"""

POSTFIX = b"""From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: agent@example.org
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="pf"

--pf
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<dave@gone.example>: host mx.gone.example[192.0.2.7] said: 550 5.1.1
    <dave@gone.example>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--pf
Content-Description: Undelivered Message
Content-Type: message/rfc822

From: Agent <agent@example.org>
To: dave@gone.example
Subject: Hi
Message-ID: <orig-3@example.org>

Hi Dave.

--pf--
"""

EXIM = b"""From: Mail Delivery System <Mailer-Daemon@exim.example>
To: agent@example.org
Subject: Mail delivery failed: returning message to sender
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  erin@nowhere.example
    host mx.nowhere.example [198.51.100.3]
    SMTP error from remote mail server after RCPT TO:<erin@nowhere.example>:
    550 No such user here

------ This is a copy of the message, including all the headers. ------

Return-path: <agent@example.org>
From: Agent <agent@example.org>
To: erin@nowhere.example
Subject: Question
Message-ID: <orig-4@example.org>

Question body.
"""

GMAIL = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: agent@example.org
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="g1"; report-type=delivery-status

--g1
Content-Type: text/plain; charset="UTF-8"

Address not found

Your message wasn't delivered to frank@typo.example because the address couldn't be found.

--g1
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; agent@example.org

Final-Recipient: rfc822; frank@typo.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.typo.example. (192.0.2.9, the server for the domain typo.example.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does
 not exist.

--g1
Content-Type: message/rfc822

From: Agent <agent@example.org>
To: frank@typo.example
Subject: Hello
Message-ID: <orig-5@example.org>

Hello.

--g1--
"""

PERSON = b"""From: Ann <ann@remote.example>
To: agent@example.org
Subject: Re: Your ticket
Message-ID: <reply-1@remote.example>

My earlier mail was returned as undeliverable; mailer-daemon said 550 5.1.1.
"""

VACATION = b"""From: Ann <ann@remote.example>
To: agent@example.org
Subject: Out of office
Auto-Submitted: auto-replied

I am away.
"""

MDN = b"""From: Ann <ann@remote.example>
To: agent@example.org
Subject: Read: Your ticket
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="m"

--m
Content-Type: text/plain

Your message was read.

--m
Content-Type: message/disposition-notification

Final-Recipient: rfc822; ann@remote.example
Disposition: manual-action/MDN-sent-manually; displayed

--m--
"""

# A DSN that reports success (Action: delivered) is a report, not a failure.
DELIVERED = GMAIL.replace(b"Action: failed", b"Action: delivered").replace(
    b"Status: 5.1.1\n", b"Status: 2.0.0\n"
)


def test_rfc3464_two_recipients() -> None:
    b = parse_bounce(RFC3464)
    assert b is not None and b.format == "dsn"
    assert b.original_message_id == "<orig-1@example.org>"
    ann, bob = b.recipients
    assert (ann.recipient, ann.status, ann.action, ann.kind) == (
        "ann@remote.example",
        "5.1.1",
        "failed",
        "permanent",
    )
    assert ann.reason == "550 5.1.1 <ann@remote.example>... User unknown"
    assert (bob.recipient, bob.status, bob.action, bob.kind) == (
        "bob@slow.example",
        "4.4.7",
        "delayed",
        "transient",
    )
    assert bob.reason  # no Diagnostic-Code: the human-readable part's first line


def test_transient_delay_with_returned_headers() -> None:
    b = parse_bounce(DELAY)
    assert b is not None
    assert b.original_message_id == "<orig-2@example.org>"
    (carl,) = b.recipients
    assert (carl.recipient, carl.status, carl.kind, carl.action) == (
        "carl@busy.example",
        "4.2.2",
        "transient",
        "delayed",
    )


def test_gmail_style_dsn() -> None:
    b = parse_bounce(GMAIL)
    assert b is not None
    assert b.original_message_id == "<orig-5@example.org>"
    (frank,) = b.recipients
    assert (frank.recipient, frank.status, frank.kind) == (
        "frank@typo.example",
        "5.1.1",
        "permanent",
    )
    assert frank.reason.startswith("550-5.1.1 The email account")


def test_postfix_legacy() -> None:
    b = parse_bounce(POSTFIX)
    assert b is not None and b.format == "legacy"
    assert b.original_message_id == "<orig-3@example.org>"
    (dave,) = b.recipients
    assert (dave.recipient, dave.status, dave.kind, dave.action) == (
        "dave@gone.example",
        "5.1.1",
        "permanent",
        "failed",
    )
    assert "User unknown" in dave.reason


def test_exim_legacy() -> None:
    b = parse_bounce(EXIM)
    assert b is not None and b.format == "legacy"
    assert b.original_message_id == "<orig-4@example.org>"
    (erin,) = b.recipients
    assert erin.recipient == "erin@nowhere.example"
    assert erin.kind == "permanent"


@pytest.mark.parametrize("raw", [PERSON, VACATION, MDN, DELIVERED, ORIGINAL, b"", b"\x00\xff"])
def test_non_bounces(raw: bytes) -> None:
    assert parse_bounce(raw) is None


def _looks(raw: bytes) -> bool:
    s = parse_summary(raw)
    return looks_like_bounce(raw, s.from_, s.subject)


def test_cheap_check() -> None:
    for raw in (RFC3464, DELAY, POSTFIX, EXIM, GMAIL):
        assert _looks(raw)
    # Only the From, Subject and Content-Type count: a body mentioning mailer-daemon does not.
    assert not _looks(PERSON)
    assert not _looks(VACATION)
    report = b"From: a@b\r\nSubject: x\r\nCONTENT-TYPE: Multipart/Report; report-type=x\r\n\r\n"
    assert _looks(report)


def test_kind_of() -> None:
    assert kind_of("5.7.1") == "permanent"
    assert kind_of("4.0.0") == "transient"
    assert kind_of(None, "delayed") == "transient"
    assert kind_of("2.0.0", "failed") == "unknown"
    assert kind_of(None) == "unknown"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_never_raises(tail: bytes) -> None:
    head = (
        b"From: MAILER-DAEMON@x\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\n\n--z\n"
    )
    parse_bounce(head + tail)
    parse_bounce(tail)


def test_remote_text_loses_invisible_controls() -> None:
    sneaky = GMAIL.replace(b"550-5.1.1 The email", "550-5.1.1 The\u200b\u202e email".encode())
    b = parse_bounce(sneaky)
    assert b is not None
    assert b.recipients[0].reason.startswith("550-5.1.1 The email account")
