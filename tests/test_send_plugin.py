"""email.send / email.outbox end to end through the sandboxed guest and the bridge gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.smtpd import SmtpSink
from helpers.outbox import account
from prx_email import NETWORK_ENV, open_plugin
from prx_email.config import Config
from prx_email.store.db import Database
from prx_email.store.outbox import OutboxRepo

pytestmark = [pytest.mark.integration, pytest.mark.component]

SEND = {
    "account_id": 1,
    "to": ["bob@example.org"],
    "bcc": ["audit@example.net"],
    "subject": "From the agent",
    "body_text": "Hello from the sandbox",
}


def test_network_flag_off_queues_nothing_and_sends_nothing(
    smtpd: SmtpSink, tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    db = Database(tmp_path / "db")
    cfg = Config(accounts=(account(smtpd),))
    with open_plugin(db=db, config=cfg, component=plugin_wasm) as plugin:
        for tool, args in [
            ("email.send", SEND),
            ("email.retry", {"outbox_id": 1}),
            ("email.reply", {"account_id": 1, "message_id": 1, "body_text": "x"}),
        ]:
            envelope = plugin.execute(tool, args)
            assert envelope["ok"] is False
            assert envelope["error"]["code"] == "EMAIL_NETWORK_DISABLED", envelope
    assert OutboxRepo(db).counts() == {}
    assert smtpd.received == [] and smtpd.handler.connections == 0


def test_send_through_the_plugin_then_list_outbox(
    smtpd: SmtpSink, tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(NETWORK_ENV, "1")
    db = Database(tmp_path / "db")
    cfg = Config(accounts=(account(smtpd),))
    with open_plugin(db=db, config=cfg, component=plugin_wasm, deadline=30.0) as plugin:
        envelope = plugin.execute("email.send", SEND)
        assert envelope["ok"] is True, envelope
        sent = envelope["data"]
        assert sent["status"] == "sent"
        listing = plugin.execute("email.outbox", {"status": "sent"})
    assert listing["ok"] is True, listing
    assert [e["id"] for e in listing["data"]["entries"]] == [sent["id"]]
    (rec,) = smtpd.received
    assert rec.rcpt_tos == ["bob@example.org", "audit@example.net"]
    assert rec.message["Bcc"] is None and rec.message["From"] == "me@example.com"
    assert rec.message_id == sent["message_id"]
