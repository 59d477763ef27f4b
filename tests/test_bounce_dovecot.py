"""Bounces end to end: a message sent through the real outbox (aiosmtpd), its DSN
appended to the real Dovecot, a sync → a ``bounce`` event, no ``new_mail``, and the
outbox row carries the bounce (with its ``outbox`` event)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fixtures.smtpd import SmtpSink
from helpers.cli import cli_env, imap_config, run_cli
from helpers.imap import Imap, make_msg, new_folder
from helpers.outbox import account, context
from prx_email.config.model import PasswordAuth, ServerConfig, TlsMode
from prx_email.services import outbox
from prx_email.services.sync import search_remote, sync
from prx_email.store.events import EventLog
from prx_email.types import OutboxStatus, OutgoingMessage, SearchQuery, SyncRequest

pytestmark = [pytest.mark.integration, pytest.mark.component]

IMAP_ENV = "PRX_TEST_BOUNCE_IMAP_PW"


def _dsn(message_id: str, recipient: str, status: str, action: str) -> bytes:
    return (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\r\n"
        "To: me@example.com\r\n"
        f"Subject: Delivery Status Notification ({action})\r\n"
        f"Message-ID: <dsn-{status}@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} no such user\r\n"
        "\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: <me@example.com>\r\nMessage-ID: {message_id}\r\nSubject: hi\r\n"
        "\r\n--b--\r\n"
    ).encode()


async def test_a_dsn_for_our_sent_message_links_to_its_outbox_row(
    smtpd: SmtpSink, dovecot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAP_ENV, dovecot.password)
    folder = new_folder("Bounce")
    dovecot.create_folder(folder)
    imap = ServerConfig(
        host=dovecot.host,
        port=dovecot.imaps_port,
        tls=TlsMode.IMPLICIT,
        username=dovecot.user,
        auth=PasswordAuth(password_env=IMAP_ENV),
        ca_file=dovecot.ca_file,
    )
    ctx = context(tmp_path / "db", replace(account(smtpd), imap=imap))
    entry = await outbox.send(
        ctx,
        OutgoingMessage(
            account_id=1,
            to=("gone@remote.example", "ok@remote.example"),
            subject="hi",
            body_text="hello",
        ),
    )
    assert entry.status is OutboxStatus.SENT and entry.bounces == ()
    assert smtpd.handler.count(entry.message_id) == 1

    admin = Imap(dovecot)
    try:
        admin.append(folder, _dsn(entry.message_id, "gone@remote.example", "5.1.1", "failed"), "()")
        # A bounce of someone else's message, and a person's mail next to it.
        admin.append(folder, _dsn("<other@x>", "x@remote.example", "4.2.2", "delayed"), "()")
        admin.append(folder, make_msg(1), "()")
    finally:
        admin.close()
    await sync(ctx, SyncRequest(account_id=1, folder=folder))

    log = EventLog(ctx.db)
    events = log.read(0, 100)
    new_mail = [e for e in events if e.type == "new_mail"]
    bounces = [e for e in events if e.type == "bounce"]
    assert [e.subject for e in new_mail] == [make_msg_subject()]  # the bounces are not new mail
    assert len(bounces) == 2
    ours, other = bounces
    assert ours.detail["original_message_id"] == entry.message_id
    assert ours.detail["outbox_id"] == entry.id
    assert ours.detail["recipients"] == [
        {
            "recipient": "gone@remote.example",
            "status": "5.1.1",
            "action": "failed",
            "kind": "permanent",
            "reason": "550 5.1.1 no such user",
        }
    ]
    assert ours.message_id is not None and ours.folder == folder
    assert other.detail["outbox_id"] is None
    assert other.detail["recipients"][0]["kind"] == "transient"

    row = outbox.get_entry(ctx, entry.id)
    assert row.status is OutboxStatus.SENT  # delivered by SMTP; the bounce came later
    (b,) = row.bounces
    assert (b.recipient, b.status, b.action, b.kind) == (
        "gone@remote.example",
        "5.1.1",
        "failed",
        "permanent",
    )
    assert b.reason == "550 5.1.1 no such user"
    said = [e.detail for e in events if e.type == "outbox" and e.detail["status"] == "bounced"]
    assert said == [
        {
            "outbox_id": entry.id,
            "status": "bounced",
            "previous": "sent",
            "error": "550 5.1.1 no such user",
            "recipient": "gone@remote.example",
            "bounce_status": "5.1.1",
            "kind": "permanent",
        }
    ]

    # Through the sandbox: email.outbox shows the bounce on the row.
    import prx_email

    monkeypatch.delenv("PRX_EMAIL_ENABLE_REAL_NETWORK", raising=False)
    cfg = imap_config(
        tmp_path / "config.toml", port=dovecot.imaps_port, username="u", password_env=IMAP_ENV
    )
    with prx_email.open_plugin(db=tmp_path / "db", config=cfg) as plugin:
        listed = plugin.execute("email.outbox", {})["data"]["entries"]
    assert [(e["id"], [x["recipient"] for x in e["bounces"]]) for e in listed] == [
        (entry.id, ["gone@remote.example"])
    ]
    assert listed[0]["bounces"][0]["kind"] == "permanent"
    env = cli_env(tmp_path, PRX_EMAIL_DB=str(tmp_path / "db"), PRX_EMAIL_CONFIG=str(cfg))
    shown = run_cli("outbox", "show", str(entry.id), env=env)
    assert "bounced gone@remote.example: permanent 5.1.1 failed" in shown.stdout, shown.stderr
    assert "(1 bounced)" in run_cli("outbox", env=env).stdout

    # A second sync stores nothing new: no second bounce event, no second link.
    await sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert len(log.read(0, 100)) == len(events)
    # A copy of the same notice in another folder is a second bounce message (its own
    # bounce event) but not a second bounce of the row.
    copy = new_folder("BounceCopy")
    dovecot.create_folder(copy)
    dovecot.add_messages([_dsn(entry.message_id, "gone@remote.example", "5.1.1", "failed")], copy)
    await sync(ctx, SyncRequest(account_id=1, folder=copy))
    assert [e.type for e in log.read(events[-1].id, 100)] == ["bounce"]
    with sqlite3.connect(tmp_path / "db") as conn:
        assert conn.execute("SELECT count(*) FROM outbox_bounces").fetchone() == (1,)

    # A bounce found by a remote search before any sync stored it: the same at store time.
    admin = Imap(dovecot)
    try:
        admin.append(folder, _dsn(entry.message_id, "ok@remote.example", "5.2.2", "failed"), "()")
    finally:
        admin.close()
    before = log.last_id()
    found = await search_remote(
        ctx, SearchQuery(account_id=1, folder=folder, subject="Delivery Status", remote=True)
    )
    assert len(found.messages) == 3
    assert [e.type for e in log.read(before, 100)] == ["outbox", "bounce"]
    assert [b.recipient for b in outbox.get_entry(ctx, entry.id).bounces] == [
        "gone@remote.example",
        "ok@remote.example",
    ]


def make_msg_subject() -> str:
    import email

    return str(email.message_from_bytes(make_msg(1))["Subject"])
