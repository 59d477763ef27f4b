"""Helpers for tests against the real Dovecot: unique folder names, messages, an admin client."""

from __future__ import annotations

import email
import email.policy
import imaplib
import itertools
import re
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


class Imap:
    """A second connection to the server, to look at what the plugin did."""

    def __init__(self, dovecot: DovecotServer) -> None:
        ctx = ssl.create_default_context(cafile=str(dovecot.ca_file))
        self.conn = imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=ctx)
        self.conn.login(dovecot.user, dovecot.password)

    def find(self, folder: str, message_id: str) -> list[bytes]:
        typ, _ = self.conn.select(f'"{folder}"')
        assert typ == "OK", folder
        typ, data = self.conn.uid("SEARCH", "UNDELETED", "HEADER", "Message-ID", message_id)
        assert typ == "OK"
        return data[0].split()

    def fetch(self, folder: str, uid: bytes) -> tuple[str, email.message.EmailMessage]:
        self.conn.select(f'"{folder}"')
        typ, data = self.conn.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
        assert typ == "OK"
        meta, raw = data[0][0], data[0][1]  # type: ignore[index]
        flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode()  # type: ignore[union-attr]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return flags, msg  # type: ignore[return-value]

    def append(self, folder: str, raw: bytes, flags: str = "(\\Draft)") -> None:
        typ, _ = self.conn.append(f'"{folder}"', flags, None, raw)
        assert typ == "OK"

    def move(self, src: str, dst: str, uid: bytes) -> None:
        self.conn.select(f'"{src}"')
        typ, _ = self.conn.uid("MOVE", uid, f'"{dst}"')
        assert typ == "OK"

    def delete(self, folder: str, uid: bytes) -> None:
        self.conn.select(f'"{folder}"')
        self.conn.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        self.conn.expunge()

    def close(self) -> None:
        self.conn.logout()
