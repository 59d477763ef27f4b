"""The Sent folder on the real Dovecot: the copy after sending, and the lookup by Message-ID."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fixtures.smtpd import SmtpSink
from helpers.outbox import account, context
from prx_email.config.model import PasswordAuth, SendSettings, ServerConfig, TlsMode
from prx_email.services import outbox
from prx_email.services.sent_folder import ImapSentFolder
from prx_email.types import OutboxStatus, OutgoingMessage

pytestmark = pytest.mark.integration

IMAP_ENV = "PRX_TEST_IMAP_PASSWORD"


def imap(dovecot: Any) -> ServerConfig:
    return ServerConfig(
        host=dovecot.host,
        port=dovecot.imaps_port,
        tls=TlsMode.IMPLICIT,
        username=dovecot.user,
        auth=PasswordAuth(password_env=IMAP_ENV),
        ca_file=dovecot.ca_file,
    )


async def test_send_appends_a_copy_to_sent_and_lookup_finds_it(
    smtpd: SmtpSink, dovecot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(IMAP_ENV, dovecot.password)
    folder = f"Sent{tmp_path.name[-6:]}"
    dovecot.create_folder(folder)
    acc = replace(
        account(smtpd, send=SendSettings(append_to_sent=True, sent_folder=folder)),
        imap=imap(dovecot),
    )
    ctx = context(tmp_path / "db", acc)
    entry = await outbox.send(
        ctx,
        OutgoingMessage(account_id=1, to=("bob@example.org",), subject="copy", body_text="hi"),
    )
    assert entry.status is OutboxStatus.SENT and entry.last_error is None
    files = list((dovecot.folder_dir(folder) / "cur").iterdir()) + list(
        (dovecot.folder_dir(folder) / "new").iterdir()
    )
    raws = [f.read_bytes() for f in files]
    assert any(entry.message_id.encode() in raw for raw in raws)
    assert any(b"\\Seen" in raw or f.name.endswith("S") for raw, f in zip(raws, files, strict=True))

    sent = ImapSentFolder(ctx.credentials)
    try:
        assert await sent.contains(acc, entry.message_id) is True
        assert await sent.contains(acc, "<nope@example.com>") is False
    finally:
        await sent.close()
