"""Helpers for tests against the real Dovecot: unique folder names, messages, an admin client."""

from __future__ import annotations

import imaplib
import itertools
import ssl
from email.message import EmailMessage

from fixtures.dovecot import DovecotServer

_folders = itertools.count()


def new_folder(prefix: str = "T") -> str:
    """A folder name no other test of this session uses."""
    return f"{prefix}{next(_folders)}"


def make_msg(i: int, *, subject: str | None = None, body: str | None = None) -> bytes:
    """Message ``i`` as RFC 5322 bytes, with a unique Message-ID."""
    m = EmailMessage()
    m["From"] = f"Sender {i} <sender{i}@example.org>"
    m["To"] = "alice@example.org"
    m["Subject"] = subject or f"Message number {i}"
    m["Message-ID"] = f"<msg{i}.{next(_folders)}@example.org>"
    m["Date"] = f"Mon, {1 + i % 28:02d} Jan 2024 10:00:00 +0000"
    m.set_content(body or f"Hello, this is message {i}.\n" * 5)
    return bytes(m)


def imap_admin(dovecot: DovecotServer) -> imaplib.IMAP4_SSL:
    """A logged-in stdlib IMAP client, to set up and inspect mailboxes behind the plugin."""
    ctx = ssl.create_default_context(cafile=str(dovecot.ca_file))
    m = imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=ctx)
    m.login(dovecot.user, dovecot.password)
    return m
