"""Server-side views of a Dovecot mailbox over a second, plain imaplib connection.

The action tests assert what the server holds after each tool, never what our own client saw.
"""

from __future__ import annotations

import imaplib
import re
import ssl

from fixtures.dovecot import DovecotServer


def admin(server: DovecotServer) -> imaplib.IMAP4_SSL:
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    m = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=ctx)
    m.login(server.user, server.password)
    return m


def server_flags(server: DovecotServer, folder: str) -> dict[int, set[str]]:
    """UID → flags of every message in ``folder``, read over a second connection."""
    m = admin(server)
    try:
        typ, _ = m.select(f'"{folder}"', readonly=True)
        assert typ == "OK", folder
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
        out: dict[int, set[str]] = {}
        for line in data:
            if isinstance(line, bytes) and b"UID" in line:
                uid = int(re.search(rb"UID (\d+)", line).group(1))  # type: ignore[union-attr]
                flags = re.search(rb"FLAGS \(([^)]*)\)", line).group(1)  # type: ignore[union-attr]
                out[uid] = set(flags.decode().split()) - {"\\Recent"}
        return out
    finally:
        m.logout()


def server_subjects(server: DovecotServer, folder: str) -> dict[int, str]:
    m = admin(server)
    try:
        m.select(f'"{folder}"', readonly=True)
        _, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out: dict[int, str] = {}
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))  # type: ignore[union-attr]
                out[uid] = item[1].decode().split(":", 1)[1].strip()
        return out
    finally:
        m.logout()


def server_folders(server: DovecotServer) -> set[str]:
    m = admin(server)
    try:
        _, data = m.list()
        return {line.decode().rsplit(" ", 1)[1].strip('"') for line in data if line}
    finally:
        m.logout()
