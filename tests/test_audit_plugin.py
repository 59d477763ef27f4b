"""The audit log through the real component (real Dovecot and aiosmtpd) and the hostile guest.

Every mutating host call leaves one entry, whatever it answered (policy and quota refusals
and the network gate included); reads leave none; no body text or secret reaches any entry.
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fixtures.component import FakeServices, PluginFactory
from fixtures.dovecot import PW_ENV, DovecotServer, account
from fixtures.smtpd import PASSWORD, SmtpSink
from helpers.outbox import smtp_server
from prx_email.bridge import NETWORK_ENV
from prx_email.config import Config
from prx_email.config.model import PolicySettings, SendSettings
from prx_email.errors import ConfigError
from prx_email.store.audit import AuditEntry, AuditRepo
from prx_email.store.db import Database

pytestmark = [pytest.mark.integration, pytest.mark.component]

_n = itertools.count()
BODY = "SECRET-BODY-TEXT do not log me"


def _ok(envelope: dict[str, Any]) -> Any:
    assert envelope["ok"] is True, envelope
    return envelope["data"]


def _entries(db: Database) -> list[AuditEntry]:
    return list(AuditRepo(db).iter_all())


def _raw_rows(path: Path) -> str:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT * FROM audit_log").fetchall()
    conn.close()
    return repr(rows)


def _message(i: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"s{i}@example.org"
    m["To"] = "alice@example.org"
    m["Subject"] = f"Audited {i}"
    m["Message-ID"] = f"<audit{i}.{next(_n)}@example.org>"
    m.set_content(f"Body {i}\n")
    return bytes(m)


def test_a_mixed_run_leaves_one_entry_per_mutation_and_verifies(
    dovecot: DovecotServer,
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PW_ENV, dovecot.password)
    monkeypatch.setenv(NETWORK_ENV, "1")
    folder, dst = f"Audit{next(_n)}", f"AuditDst{next(_n)}"
    dovecot.add_messages([_message(1), _message(2)], folder)
    acc = replace(
        account(dovecot, folders=(folder,)),
        smtp=smtp_server(smtpd),
        send=SendSettings(append_to_sent=False),
        policy=PolicySettings(sends_per_hour=1),
    )
    cfg = Config(accounts=(acc,))
    path = tmp_path / "audit-run.db"
    db = Database(path)
    plugin = make_plugin(plugin_wasm, db=db, config=cfg, deadline=30.0)

    _ok(plugin.execute("email.sync", {"account_id": 1, "folder": folder}))
    page = _ok(plugin.execute("email.list", {"account_id": 1, "folder": folder}))
    ids = sorted(m["id"] for m in page["messages"])
    _ok(plugin.execute("email.mark", {"account_id": 1, "ids": ids, "add": "flagged"}))
    _ok(plugin.execute("email.folder_create", {"account_id": 1, "folder": dst}))
    _ok(plugin.execute("email.move", {"account_id": 1, "ids": ids[:1], "folder": dst}))
    sent = _ok(
        plugin.execute(
            "email.send",
            {"account_id": 1, "to": ["bob@example.org"], "subject": "Audit me", "body_text": BODY},
        )
    )
    assert sent["status"] == "sent" and len(smtpd.received) == 1
    over = plugin.execute(
        "email.send",
        {"account_id": 1, "to": ["bob@example.org"], "subject": "2", "body_text": BODY},
    )
    assert over["error"]["code"] == "EMAIL_QUOTA_EXCEEDED" and len(smtpd.received) == 1
    monkeypatch.delenv(NETWORK_ENV)
    refused = plugin.execute("email.mark", {"account_id": 1, "ids": ids, "add": "seen"})
    assert refused["error"]["code"] == "EMAIL_NETWORK_DISABLED"
    bad = tmp_path / "bad.toml"
    bad.write_text("[[accounts]]\nid = 'x'\n")
    with pytest.raises(ConfigError):
        plugin.reload_config(bad)
    # Another entry point over the same store, in read_only mode: the refusal is audited.
    mcp = make_plugin(plugin_wasm, db=db, config=cfg, mode="read_only", entry_point="mcp")
    monkeypatch.setenv(NETWORK_ENV, "1")
    denied = mcp.execute(
        "email.send", {"account_id": 1, "to": ["x@example.org"], "subject": "s", "body_text": "y"}
    )
    assert denied["error"]["code"] == "EMAIL_POLICY_DENIED"
    assert len(smtpd.received) == 1

    entries = _entries(db)
    assert [(e.entry_point, e.tool, e.outcome) for e in entries] == [
        ("api", "mark", "ok"),
        ("api", "folder-create", "ok"),
        ("api", "move", "ok"),
        ("api", "send", "ok"),
        ("api", "send", "EMAIL_QUOTA_EXCEEDED"),
        ("api", "mark", "EMAIL_NETWORK_DISABLED"),
        ("api", "config-reload", "EMAIL_CONFIG"),
        ("mcp", "send", "EMAIL_POLICY_DENIED"),
    ]
    send = entries[3]
    message = send.args["message"]
    assert message["to"] == ["bob@example.org"] and message["subject"] == "Audit me"
    assert message["body-text"]["chars"] == len(BODY) and send.account_id == 1
    assert send.args["result"] == {
        "outbox-id": sent["id"],
        "message-id": sent["message_id"],
        "status": "sent",
    }
    assert entries[2].args["result"]["outcomes"] == [[ids[0], "moved"]]
    assert entries[0].args["request"]["ids"] == ids and entries[2].args["request"]["folder"] == dst
    assert all(e.run_id for e in entries)
    assert AuditRepo(db).verify().ok
    raw = _raw_rows(path)
    for secret in ("SECRET-BODY", dovecot.password, PASSWORD):
        assert secret not in raw


def test_the_hostile_guest_cannot_skip_the_audit(
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    fake_services: FakeServices,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "hostile-audit.db"
    db = Database(path)
    monkeypatch.setenv(NETWORK_ENV, "1")
    hostile = make_plugin(hostile_wasm, services=fake_services, db=db, entry_point="ta")
    _ok(hostile.execute("host-send", {"to": ["a@example.org"]}))
    _ok(hostile.execute("host-retry", {"outbox_id": 3}))
    _ok(hostile.execute("host-list", {}))  # a read: not audited
    locked = make_plugin(hostile_wasm, services=fake_services, db=db, mode="read_only")
    assert locked.execute("host-send", {})["ok"] is False
    monkeypatch.delenv(NETWORK_ENV)
    assert locked.execute("host-delete", {"count": 2})["ok"] is False

    entries = _entries(db)
    assert [(e.entry_point, e.tool, e.outcome) for e in entries] == [
        ("ta", "send", "ok"),
        ("ta", "retry", "ok"),
        ("api", "send", "EMAIL_POLICY_DENIED"),
        ("api", "delete", "EMAIL_POLICY_DENIED"),
    ]
    assert entries[0].args["message"]["body-text"]["chars"] == 1
    assert entries[1].args == {
        "outbox-id": 3,
        "now": True,
        "result": {"outbox-id": 1, "message-id": "<x@y>", "status": "sent"},
    }
    assert [name for name, _ in fake_services.calls] == ["send", "retry", "list_messages"]
    assert AuditRepo(db).verify().ok
