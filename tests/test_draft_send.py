"""email.draft_send end to end: the sandboxed guest, a real Dovecot and a real aiosmtpd.

The draft's Message-ID is its identity: it is what the SMTP server receives, sending it
twice delivers it once, and the draft leaves Drafts only once the row is ``sent`` — a
worker SIGKILLed in between leaves the draft, and the next drain removes it. Drafts and
Sent are looked at over a second IMAP connection (stdlib ``imaplib``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import PW_ENV, DovecotServer, account
from fixtures.smtpd import PASSWORD_ENV, USER, SmtpSink
from helpers.imap import Imap
from helpers.outbox import smtp_server
from prx_email import NETWORK_ENV, Plugin, open_plugin
from prx_email.bridge.policy import MODE_ENV
from prx_email.config import Config
from prx_email.config.model import AccountConfig, SendSettings
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.store.outbox import OutboxRepo
from prx_email.types import OutboxStatus

pytestmark = [pytest.mark.integration, pytest.mark.component]

WORKER = Path(__file__).with_name("crash_worker.py")


def send_account(dovecot: DovecotServer, smtpd: SmtpSink) -> AccountConfig:
    send = SendSettings(drafts_folder="Drafts", sent_folder="Sent", backoff_base_seconds=1.0)
    return dataclasses.replace(account(dovecot), smtp=smtp_server(smtpd), send=send)


@pytest.fixture
def setup(
    dovecot: DovecotServer, smtpd: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> tuple[DovecotServer, SmtpSink]:
    for name in ("Drafts", "Sent"):
        dovecot.create_folder(name)
    monkeypatch.setenv(PW_ENV, dovecot.password)
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.delenv(MODE_ENV, raising=False)
    return dovecot, smtpd


@pytest.fixture
def plugin(
    setup: tuple[DovecotServer, SmtpSink], tmp_path: Path, plugin_wasm: Path
) -> Iterator[Plugin]:
    dovecot, smtpd = setup
    with open_plugin(
        db=Database(tmp_path / "mail.db"),
        config=Config(accounts=(send_account(dovecot, smtpd),)),
        component=plugin_wasm,
        deadline=30.0,
    ) as p:
        yield p


@pytest.fixture
def imap(setup: tuple[DovecotServer, SmtpSink]) -> Iterator[Imap]:
    conn = Imap(setup[0])
    yield conn
    conn.close()


def ok(envelope: dict[str, Any]) -> Any:
    assert envelope["ok"] is True, envelope
    return envelope["data"]


DRAFT = {
    "account_id": 1,
    "to": ["Bob <bob@example.org>"],
    "cc": ["carol@example.org"],
    "bcc": ["audit@example.net"],
    "subject": "Numbers for Q4",
    "body_text": "Hello Bob,\nthe numbers are in.\n",
}


def test_draft_send_delivers_the_draft_once_and_then_removes_it(
    plugin: Plugin, imap: Imap, smtpd: SmtpSink
) -> None:
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    (uid,) = imap.find("Drafts", draft_id)
    _, stored = imap.fetch("Drafts", uid)
    assert stored["Bcc"] == "audit@example.net"  # the draft shows its blind copy

    entry = ok(plugin.execute("email.draft_send", {"account_id": 1, "draft_id": draft_id}))
    assert entry["status"] == "sent" and entry["message_id"] == draft_id
    assert smtpd.handler.count(draft_id) == 1
    (got,) = [r for r in smtpd.received if r.message_id == draft_id]
    assert sorted(got.rcpt_tos) == ["audit@example.net", "bob@example.org", "carol@example.org"]
    msg = got.message
    assert msg["Bcc"] is None and b"audit@" not in got.content  # never in what is sent
    assert msg["Subject"] == "Numbers for Q4" and msg["From"] == "alice@example.org"
    assert "the numbers are in." in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert imap.find("Drafts", draft_id) == []  # gone from Drafts once sent
    assert len(imap.find("Sent", draft_id)) == 1  # our Sent copy
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": draft_id}))
    assert status["state"] == "sent"

    again = ok(plugin.execute("email.draft_send", {"account_id": 1, "draft_id": draft_id}))
    assert (again["id"], again["status"]) == (entry["id"], "sent")  # queued once
    assert smtpd.handler.count(draft_id) == 1


def test_a_scheduled_draft_stays_in_drafts_until_sent_and_can_be_cancelled(
    plugin: Plugin, imap: Imap, smtpd: SmtpSink, tmp_path: Path
) -> None:
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    at = int(time.time()) + 600
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    args = {"account_id": 1, "draft_id": draft_id, "send_at": send_at}
    entry = ok(plugin.execute("email.draft_send", args))
    assert (entry["status"], entry["send_at"]) == ("scheduled", at)
    assert ok(plugin.execute("email.draft_send", args))["id"] == entry["id"]  # queued once
    assert smtpd.handler.connections == 0
    assert len(imap.find("Drafts", draft_id)) == 1

    # Cancelled, then sent after all: the same row is queued again, with the draft as it is.
    assert ok(plugin.execute("email.cancel", {"outbox_id": entry["id"]}))["status"] == "cancelled"
    assert len(imap.find("Drafts", draft_id)) == 1  # a cancelled send leaves the draft
    now = ok(plugin.execute("email.draft_send", {"account_id": 1, "draft_id": draft_id}))
    assert (now["id"], now["status"], now["send_at"]) == (entry["id"], "sent", None)
    assert smtpd.handler.count(draft_id) == 1
    assert imap.find("Drafts", draft_id) == []


def test_a_scheduled_draft_is_sent_and_removed_by_the_drain_when_due(
    setup: tuple[DovecotServer, SmtpSink], plugin: Plugin, imap: Imap, tmp_path: Path
) -> None:
    dovecot, smtpd = setup
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    at = int(time.time()) + 600
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    ok(
        plugin.execute(
            "email.draft_send", {"account_id": 1, "draft_id": draft_id, "send_at": send_at}
        )
    )
    ctx = ServiceContext(
        config=Config(accounts=(send_account(dovecot, smtpd),)),
        db=Database(tmp_path / "mail.db"),
    )
    try:
        assert asyncio.run(outbox.drain_due(ctx)).claimed == 0  # not due: nothing picked
        ctx.clock = lambda: time.time() + 601  # ten minutes later
        report = asyncio.run(outbox.drain_due(ctx))
        assert (report.sent, report.drafts_removed) == (1, 1)
        assert OutboxRepo(ctx.db).by_message_id(draft_id).status is OutboxStatus.SENT  # type: ignore[union-attr]
    finally:
        ctx.db.close()
    assert smtpd.handler.count(draft_id) == 1
    assert imap.find("Drafts", draft_id) == []


def test_unknown_draft_and_bad_send_at_queue_nothing(plugin: Plugin, smtpd: SmtpSink) -> None:
    env = plugin.execute("email.draft_send", {"account_id": 1, "draft_id": "<nope@example.org>"})
    assert env["error"]["code"] == "EMAIL_NOT_FOUND" and env["error"]["hint"]
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    past = {"account_id": 1, "draft_id": draft_id, "send_at": "2020-01-01T00:00:00Z"}
    env = plugin.execute("email.draft_send", past)
    assert env["error"]["code"] == "EMAIL_INVALID_ARGUMENT"
    assert ok(plugin.execute("email.outbox", {}))["entries"] == []
    assert smtpd.handler.connections == 0


@pytest.mark.slow
def test_a_kill_between_sent_and_the_draft_removal_is_repaired_by_the_next_drain(
    setup: tuple[DovecotServer, SmtpSink], plugin: Plugin, imap: Imap, tmp_path: Path
) -> None:
    dovecot, smtpd = setup
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    db = tmp_path / "mail.db"
    # Scheduled from a clock 10 s behind, so the row is already due for the worker.
    early = ServiceContext(
        config=Config(accounts=(send_account(dovecot, smtpd),)),
        db=Database(db),
        clock=lambda: time.time() - 10,
    )
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    row = asyncio.run(outbox.send_draft(early, 1, draft_id, send_at))
    assert row.status is OutboxStatus.SCHEDULED
    early.db.close()

    imap_spec = {
        "host": dovecot.host,
        "port": dovecot.imaps_port,
        "tls": "implicit",
        "username": dovecot.user,
        "password_env": PW_ENV,
        "ca_file": str(dovecot.ca_file),
    }
    spec = {
        "db": str(db),
        "address": "alice@example.org",
        "server_files_sent": False,
        "imap": imap_spec,
        "smtp": {
            "host": smtpd.host,
            "port": smtpd.port,
            "tls": smtpd.tls,
            "username": USER,
            "password_env": PASSWORD_ENV,
            "ca_file": str(smtpd.tls_files.ca_file) if smtpd.tls_files else None,
        },
    }
    marker = tmp_path / "marker"
    crash = {"point": outbox.AFTER_SENT, "nth": 1, "marker": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps({**spec, "crash_at": crash})],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early: {proc.communicate()[1].decode()}")
        assert time.monotonic() < deadline, "the worker never reached after-sent"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert int(marker.read_text()) == row.id

    # Killed after `sent`, before the removal: a sent row and the draft, both still there.
    check = Database(db)
    try:
        assert OutboxRepo(check).entry(row.id).status is OutboxStatus.SENT  # type: ignore[union-attr]
        assert OutboxRepo(check).drafts_to_remove() != []
    finally:
        check.close()
    assert len(imap.find("Drafts", draft_id)) == 1
    assert smtpd.handler.count(draft_id) == 1

    after = subprocess.run(
        [sys.executable, str(WORKER), json.dumps(spec)], capture_output=True, timeout=60
    )
    assert after.returncode == 0, after.stderr.decode()
    report = json.loads(after.stdout.decode().strip().splitlines()[-1])
    assert (report["claimed"], report["drafts_removed"]) == (0, 1)
    assert imap.find("Drafts", draft_id) == []
    assert smtpd.handler.count(draft_id) == 1  # delivered once, never again
