"""Gmail labels (``X-GM-EXT-1``) against a small scripted IMAP server.

Dovecot has no such extension, so this server, in the test's own process on a loopback
port, answers the exchanges the way Google's "IMAP extensions" page documents them: the
capability ``X-GM-EXT-1``; ``FETCH (X-GM-LABELS)`` answered with a parenthesised list of
astrings (system labels as ``\\Inbox``, ``\\Important``; others quoted when they need it,
non-ASCII in modified UTF-7); ``STORE +X-GM-LABELS (…)`` / ``-X-GM-LABELS (…)`` answered
with the message's labels afterwards in an untagged FETCH. It keeps the labels per UID, so
the tests assert the server's state after each call. With ``gmail=False`` it is a server
with neither labels nor new keywords (PERMANENTFLAGS without ``\\*``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prx_email.auth.credentials import StaticCredentialProvider
from prx_email.config.model import (
    AccountConfig,
    Config,
    PasswordAuth,
    ServerConfig,
    TlsMode,
)
from prx_email.errors import InvalidArgument, InvalidState
from prx_email.services import actions
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.types import ActionOutcome

UIDVALIDITY = 11
_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|([^\s()"]+)')


@dataclass
class ScriptedGmail:
    gmail: bool = True
    labels: dict[int, list[bytes]] = field(
        default_factory=lambda: {
            1: [b"\\Inbox"],
            2: [b"\\Inbox", b'"Old label"'],
            3: [b"\\Inbox", b"\\Important"],
        }
    )
    commands: list[bytes] = field(default_factory=list)

    @property
    def caps(self) -> bytes:
        extra = b" X-GM-EXT-1" if self.gmail else b""
        return b"IMAP4rev1 UIDPLUS MOVE" + extra

    def _fetch(self, uid: int) -> bytes:
        return b"* %d FETCH (X-GM-LABELS (%s) UID %d)\r\n" % (
            uid,
            b" ".join(self.labels[uid]),
            uid,
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK Gimap ready for requests from 127.0.0.1\r\n")
        while line := await reader.readline():
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            self.commands.append(rest)
            verb = rest.split(b" ", 1)[0].upper()
            if verb == b"CAPABILITY":
                writer.write(b"* CAPABILITY " + self.caps + b"\r\n")
                out = tag + b" OK Thats all she wrote!"
            elif verb == b"LOGIN":
                out = tag + b" OK [CAPABILITY " + self.caps + b"] alice authenticated (Success)"
            elif verb == b"SELECT":
                perm = b"\\Answered \\Flagged \\Draft \\Deleted \\Seen" + (
                    b" $Phishing \\*" if self.gmail else b""
                )
                writer.write(
                    b"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)\r\n"
                    b"* OK [PERMANENTFLAGS (" + perm + b")] Flags permitted.\r\n"
                    b"* OK [UIDVALIDITY %d] UIDs valid.\r\n* 3 EXISTS\r\n* 0 RECENT\r\n"
                    b"* OK [UIDNEXT 4] Predicted next UID.\r\n" % UIDVALIDITY
                )
                out = tag + b" OK [READ-WRITE] INBOX selected. (Success)"
            elif rest.upper().startswith(b"UID FETCH") and b"X-GM-LABELS" in rest.upper():
                for uid in _uids(rest.split(b" ")[2]):
                    if uid in self.labels:
                        writer.write(self._fetch(uid))
                out = tag + b" OK Success"
            elif rest.upper().startswith(b"UID STORE") and b"X-GM-LABELS" in rest.upper():
                _, _, uid_set, item, values = rest.split(b" ", 4)
                given = [m.group(0) for m in _TOKEN.finditer(values)]
                for uid in _uids(uid_set):
                    have = self.labels[uid]
                    if item.startswith(b"+"):
                        have += [g for g in given if g not in have]
                    else:
                        self.labels[uid] = [h for h in have if h not in given]
                    writer.write(self._fetch(uid))
                out = tag + b" OK STORE (Success)"
            elif verb == b"LOGOUT":
                writer.write(b"* BYE LOGOUT Requested\r\n")
                out = tag + b" OK 73 good day (Success)"
            else:
                out = tag + b" BAD Unknown command"
            writer.write(out + b"\r\n")
            await writer.drain()
            if verb == b"LOGOUT":
                break
        writer.close()


def _uids(text: bytes) -> list[int]:
    out: list[int] = []
    for piece in text.split(b","):
        lo, _, hi = piece.partition(b":")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


@pytest.fixture
async def gmail() -> AsyncIterator[tuple[ScriptedGmail, int]]:
    script = ScriptedGmail()
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield script, port


def _ctx(tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> ServiceContext:
    monkeypatch.setenv("PRX_TEST_GMAIL_PW", "app-password")
    acc = AccountConfig(
        id=1,
        name="Gmail",
        address="alice@gmail.example",
        imap=ServerConfig(
            host="127.0.0.1",
            port=port,
            tls=TlsMode.NONE,
            username="alice",
            auth=PasswordAuth(password_env="PRX_TEST_GMAIL_PW"),
            timeout=5.0,
        ),
    )
    db = Database(tmp_path / "mail.db")
    with db.transaction() as tx:
        for uid in (1, 2, 3):
            tx.execute(
                "INSERT INTO messages (id, account_id, folder, uidvalidity, uid, sort_date, "
                "subject) VALUES (?, 1, 'INBOX', ?, ?, 0, 'x')",
                (uid * 10, UIDVALIDITY, uid),
            )
    return ServiceContext(
        config=Config(accounts=(acc,)), db=db, credentials=StaticCredentialProvider()
    )


async def test_gmail_labels_add_remove_one_store_each(gmail, tmp_path, monkeypatch) -> None:
    script, port = gmail
    ctx = _ctx(tmp_path, port, monkeypatch)
    res = await actions.label(ctx, 1, [10, 20, 30], add=["Receipts", "Überweisung"])
    assert [r.outcome for r in res] == [ActionOutcome.CHANGED] * 3
    stores = [c for c in script.commands if c.upper().startswith(b"UID STORE")]
    assert stores == [b'UID STORE 1:3 +X-GM-LABELS ("Receipts" "&ANw-berweisung")']
    assert all(b'"Receipts"' in v and b'"&ANw-berweisung"' in v for v in script.labels.values())
    assert "Überweisung" in res[0].labels and "Receipts" in res[0].labels
    script.commands.clear()
    again = await actions.label(ctx, 1, [10, 20, 30], add=["Receipts"])
    assert [r.outcome for r in again] == [ActionOutcome.UNCHANGED] * 3
    assert not [c for c in script.commands if c.upper().startswith(b"UID STORE")]
    res = await actions.label(ctx, 1, [20, 30, 99], remove=["Old label"])
    assert [r.outcome for r in res] == [
        ActionOutcome.CHANGED,
        ActionOutcome.UNCHANGED,
        ActionOutcome.NOT_FOUND,
    ]
    assert b'"Old label"' not in script.labels[2] and b"\\Important" in script.labels[3]
    ctx.db.close()


@pytest.mark.parametrize("bad", ['x")\r\nA1 LOGOUT', "wild*", "pct%"])
async def test_gmail_label_injection_refused_and_labels_unchanged(
    gmail, tmp_path, monkeypatch, bad
) -> None:
    script, port = gmail
    ctx = _ctx(tmp_path, port, monkeypatch)
    before = {k: list(v) for k, v in script.labels.items()}
    with pytest.raises(InvalidArgument):
        await actions.label(ctx, 1, [10], add=[bad])
    assert script.labels == before
    assert not [c for c in script.commands if c.upper().startswith(b"UID STORE")]
    ctx.db.close()


async def test_neither_labels_nor_keywords_is_a_clear_error(gmail, tmp_path, monkeypatch) -> None:
    script, port = gmail
    script.gmail = False
    ctx = _ctx(tmp_path, port, monkeypatch)
    with pytest.raises(InvalidState, match=r"no Gmail labels") as exc:
        await actions.label(ctx, 1, [10], add=["Receipts"])
    assert exc.value.hint and "X-GM-EXT-1" in exc.value.hint
    assert not [c for c in script.commands if c.upper().startswith(b"UID STORE")]
    ctx.db.close()
