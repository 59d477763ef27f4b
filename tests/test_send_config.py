"""The outbox's configuration and store: new [accounts.send] keys, provider presets, the
0006 migration, and the Sent folder discovered from the server (SPECIAL-USE, else by name)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from prx_email.auth.credentials import StaticCredentialProvider
from prx_email.config.loader import parse_config
from prx_email.config.model import (
    AccountConfig,
    PasswordAuth,
    SendSettings,
    ServerConfig,
    TlsMode,
    UnknownOutcome,
)
from prx_email.errors import ConfigError
from prx_email.services.sent_folder import ImapSentFolder, pick_sent
from prx_email.store import db as store_db
from prx_email.store.db import Database
from prx_email.types import OutboxStatus


def one(text: str) -> SendSettings:
    return parse_config(text).accounts[0].send


def test_defaults_of_the_new_send_keys() -> None:
    s = one('[[accounts]]\nid = 1\naddress = "me@example.com"\n')
    assert s.sent_folder is None  # discover
    assert s.server_files_sent is False and s.append_to_sent is True
    assert s.unknown_outcome is UnknownOutcome.RESEND
    assert s.max_message_bytes == 25 * 1024 * 1024


def test_the_new_send_keys_parse() -> None:
    s = one(
        '[[accounts]]\nid = 1\naddress = "me@example.com"\n[accounts.send]\n'
        'unknown_outcome = "hold"\nserver_files_sent = true\nmax_message_bytes = 1000\n'
        'sent_folder = "Gesendet"\n'
    )
    assert s.unknown_outcome is UnknownOutcome.HOLD and s.server_files_sent is True
    assert s.max_message_bytes == 1000 and s.sent_folder == "Gesendet"


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ('unknown_outcome = "drop"', "unknown_outcome"),
        ("max_message_bytes = 0", "max_message_bytes"),
        ('server_files_sent = "yes"', "server_files_sent"),
    ],
)
def test_bad_send_keys_are_config_errors(extra: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        one(f'[[accounts]]\nid = 1\naddress = "me@example.com"\n[accounts.send]\n{extra}\n')
    assert where in info.value.message


@pytest.mark.parametrize(
    ("address", "smtp", "files"),
    [
        ("me@gmail.com", "", True),
        ("me@outlook.com", "", True),
        ("me@yahoo.com", "", False),
        ("me@example.com", "", False),
        # Another relay than the provider's own: it does not file into the provider's Sent.
        (
            "me@gmail.com",
            '[accounts.smtp]\nhost = "relay.example.net"\npassword_env = "X"\n',
            False,
        ),
    ],
)
def test_presets_know_who_files_sent_mail(address: str, smtp: str, files: bool) -> None:
    s = one(f'[[accounts]]\nid = 1\naddress = "{address}"\n{smtp}')
    assert s.server_files_sent is files


def test_an_explicit_key_beats_the_preset() -> None:
    text = '[[accounts]]\nid = 1\naddress = "me@gmail.com"\n[accounts.send]\n'
    assert one(text + "server_files_sent = false\n").server_files_sent is False


# -- the 0006 migration keeps rows and attempts and allows `held` ------------------------


def test_migration_0007_keeps_rows_and_attempt_logs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    for number, _name, sql in store_db._migrations():
        if number > 5:
            break
        for statement in store_db._split_sql(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO outbox (id, account_id, status, message_id, subject, sender, recipients,"
        " all_recipients, raw, attempts, max_attempts, created_at, updated_at)"
        " VALUES (7, 1, 'failed', '<m@x>', 's', 'a@x', '[\"b@x\"]', '[\"b@x\"]', x'00', 2, 6, 1, 1)"
    )
    conn.execute(
        "INSERT INTO outbox_attempts (outbox_id, attempt, attempt_key, claim_token, started_at,"
        " outcome) VALUES (7, 2, 'outbox-7-2', 't', 1, 'transient')"
    )
    conn.commit()
    conn.close()

    db = Database(path)
    try:
        c = db.connect()
        assert c.execute("PRAGMA user_version").fetchone()[0] >= 7
        row = c.execute("SELECT status, attempts, copy_pending FROM outbox").fetchone()
        assert tuple(row) == ("failed", 2, 0)
        assert c.execute("SELECT outcome FROM outbox_attempts").fetchone()[0] == "transient"
        c.execute("UPDATE outbox SET status = ? WHERE id = 7", (OutboxStatus.HELD.value,))
        with pytest.raises(sqlite3.IntegrityError):
            c.execute("UPDATE outbox SET status = 'bogus' WHERE id = 7")
        c.execute("DELETE FROM outbox WHERE id = 7")  # the cascade still holds
        assert c.execute("SELECT count(*) FROM outbox_attempts").fetchone()[0] == 0
    finally:
        db.close()


# -- Sent folder discovery ---------------------------------------------------------------


def test_pick_sent_prefers_the_special_use_flag() -> None:
    lines = [
        b'* LIST (\\HasNoChildren) "/" INBOX',
        b'* LIST (\\HasNoChildren) "/" Sent',
        b'* LIST (\\HasNoChildren \\Sent) "/" "[Gmail]/Sent Mail"',
    ]
    assert pick_sent(lines) == "[Gmail]/Sent Mail"
    assert pick_sent(lines[:2]) == "Sent"
    assert pick_sent([b'* LIST () "." "INBOX.Sent"']) == "INBOX.Sent"
    assert pick_sent([b'* LIST (\\Sent) "/" "Envoy&AOk-s"']) == "Envoyés"  # modified UTF-7
    assert pick_sent([b'* LIST () "/" INBOX', b"* OK done"]) is None


IMAP_ENV = "PRX_TEST_IMAP_PASSWORD"


@pytest.mark.integration
async def test_the_sent_folder_is_discovered_on_dovecot(
    dovecot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAP_ENV, dovecot.password)
    dovecot.create_folder("Sent")
    acc = AccountConfig(
        id=1,
        name="d",
        address="me@example.com",
        imap=ServerConfig(
            host=dovecot.host,
            port=dovecot.imaps_port,
            tls=TlsMode.IMPLICIT,
            username=dovecot.user,
            auth=PasswordAuth(password_env=IMAP_ENV),
            ca_file=dovecot.ca_file,
        ),
    )
    sent = ImapSentFolder(StaticCredentialProvider())
    try:
        assert await sent.folder(acc) == "Sent"
        raw = b"From: me@example.com\r\nMessage-ID: <disc-1@example.com>\r\nSubject: d\r\n\r\nx\r\n"
        await sent.append(acc, raw)
        assert await sent.contains(acc, "<disc-1@example.com>") is True
    finally:
        await sent.close()
