"""First-contact approval (issue 16): ``[accounts.policy] first_contact = "approve"``.

Through the real component and the hostile guest (which calls the host's ``send``
directly), a real aiosmtpd behind them: a send to a never-seen address is held (the SMTP
server sees nothing), approved by its hash it is delivered exactly once; a hash that does
not match the stored bytes is refused, an expired approval too (it can only be rejected);
a known correspondent (a stored message from them) is sent at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest
from fixtures.component import PluginFactory
from fixtures.dovecot import PW_ENV, DovecotServer
from fixtures.dovecot import account as dovecot_account
from fixtures.smtpd import PASSWORD_ENV, USER, SmtpSink
from helpers.outbox import Clock, account, context, smtp_server
from prx_email import NETWORK_ENV
from prx_email.adapters.cli.main import main
from prx_email.config import Config
from prx_email.config.loader import parse_config
from prx_email.config.model import AccountConfig, FirstContact, PolicySettings, SendSettings
from prx_email.errors import ConfigError, InvalidArgument, InvalidState
from prx_email.mail.parse import parse_message
from prx_email.services import approvals, outbox
from prx_email.services.context import ServiceContext
from prx_email.store.approvals import ApprovalRepo, Awaiting, approval_hash
from prx_email.store.db import Database
from prx_email.store.messages import MessageStore, StoreItem
from prx_email.store.outbox import OutboxRepo
from prx_email.types import OutboxStatus, OutgoingMessage

pytestmark = [pytest.mark.integration, pytest.mark.component]

APPROVE = PolicySettings(first_contact=FirstContact.APPROVE, approval_ttl_hours=1.0)


def _account(smtpd: SmtpSink) -> AccountConfig:
    return dataclasses.replace(account(smtpd), policy=APPROVE)


def _held(db: Database) -> Awaiting:
    """The one awaiting_approval row."""
    repo = OutboxRepo(db)
    (entry,) = repo.page(
        account_id=None, status=OutboxStatus.AWAITING_APPROVAL, limit=5, cursor=None
    )[0]
    row = ApprovalRepo(db).awaiting(entry.id)
    assert row is not None
    return row


def _store_from(ctx: ServiceContext, sender: str) -> None:
    raw = f"From: Bob <{sender}>\r\nTo: me@example.com\r\nSubject: hi\r\n\r\nx\r\n".encode()
    MessageStore(ctx.db).upsert_many(
        1, "INBOX", 1, [StoreItem(uid=7, flags=(), size=len(raw), parsed=parse_message(raw))]
    )


def test_hostile_first_contact_is_held_then_approved_by_hash_and_sent_once(
    smtpd: SmtpSink,
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")  # the network is open: only the policy stands
    db = Database(tmp_path / "fc.db")
    plugin = make_plugin(
        hostile_wasm, deadline=10.0, db=db, config=Config(accounts=(_account(smtpd),))
    )
    envelope = plugin.execute("host-send", {"account_id": 1, "to": ["new@example.org"]})
    assert envelope == {"ok": True, "data": "AWAITING_APPROVAL"}, envelope
    # Sending it again holds a second row: a held address is not known yet.
    assert plugin.execute("host-send", {"account_id": 1, "to": ["new@example.org"]})["ok"]
    assert smtpd.handler.connections == 0 and smtpd.received == []
    assert OutboxRepo(db).counts() == {"awaiting_approval": 2}
    # Retry is refused on a held row (nothing is claimed); cancel withdraws it.
    retry = plugin.execute("host-retry", {"outbox_id": 2})
    assert retry["ok"] is False and "awaiting_approval" in retry["error"]["message"], retry
    assert plugin.execute("host-cancel", {"outbox_id": 2})["ok"]
    assert smtpd.handler.connections == 0

    ctx = context(tmp_path / "fc.db", _account(smtpd))
    row = _held(ctx.db)
    assert row.hash == approval_hash(row.sender, row.recipients, row.raw)
    assert "new@example.org" in row.reason
    decided: list[tuple[int, str]] = []
    remove = approvals.add_decision_hook(lambda r, d: decided.append((r.id, d)))
    try:
        entry = approvals.approve(ctx, row.id, row.hash.upper())  # case does not matter
    finally:
        remove()
    assert entry.status is OutboxStatus.PENDING and decided == [(row.id, "approved")]
    with pytest.raises(InvalidState, match="pending"):
        approvals.approve(ctx, row.id, row.hash)  # decided already

    for _ in range(2):
        asyncio.run(outbox.drain_due(ctx))
    assert len(smtpd.received) == 1
    assert smtpd.received[0].rcpt_tos == ["new@example.org"]
    # The event log (0010's triggers, recreated by 0014) saw it held, never pending before.
    events = ctx.db.connect().execute(
        "SELECT json_extract(detail, '$.status'), json_extract(detail, '$.previous'),"
        " json_extract(detail, '$.error') FROM events WHERE type = 'outbox'"
        " AND json_extract(detail, '$.outbox_id') = ? ORDER BY id",
        (row.id,),
    )
    (held, *rest) = [tuple(r) for r in events]
    assert held[:2] == ("awaiting_approval", None) and "new@example.org" in held[2]
    assert [r[:2] for r in rest] == [("pending", "awaiting_approval"), ("sent", "sending")]
    assert OutboxRepo(ctx.db).counts() == {"sent": 1, "cancelled": 1}
    # Approved, the address is known: the next message goes at once.
    assert plugin.execute("host-send", {"account_id": 1, "to": ["new@example.org"]}) == {
        "ok": True,
        "data": "SENT",
    }
    assert len(smtpd.received) == 2


def test_real_guest_says_held_and_why(
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    db = Database(tmp_path / "fc.db")
    plugin = make_plugin(plugin_wasm, db=db, config=Config(accounts=(_account(smtpd),)))
    args = {"account_id": 1, "to": "Stranger@Example.org", "subject": "s", "body_text": "b"}
    envelope = plugin.execute("email.send", args)
    assert envelope["ok"] is True, envelope
    data = envelope["data"]
    assert data["status"] == "awaiting_approval"
    assert "stranger@example.org" in data["last_error"] and "approve" in data["last_error"]
    listed = plugin.execute("email.outbox", {"status": "awaiting_approval"})
    assert [e["id"] for e in listed["data"]["entries"]] == [data["id"]], listed
    assert smtpd.handler.connections == 0 and smtpd.received == []


def test_a_hash_that_does_not_match_the_stored_bytes_is_refused(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "fc.db", _account(smtpd))
    msg = OutgoingMessage(account_id=1, to=("x@example.org",), subject="s", body_text="b")
    row_id = outbox.queue(ctx, msg)
    row = _held(ctx.db)
    with pytest.raises(InvalidArgument, match="does not match"):
        approvals.approve(ctx, row_id, "0" * 64)
    # The row changed after the operator read its hash: that hash no longer approves it.
    tampered = row.raw.replace(b"\r\n\r\nb", b"\r\n\r\nB")
    assert tampered != row.raw
    ctx.db.connect().execute("UPDATE outbox SET raw = ? WHERE id = ?", (tampered, row_id))
    with pytest.raises(InvalidArgument, match="does not match") as info:
        approvals.approve(ctx, row_id, row.hash)
    assert info.value.hint
    ctx.db.connect().execute(
        "UPDATE outbox SET raw = ?, recipients = ? WHERE id = ?",
        (row.raw, json.dumps(["x@example.org", "evil@example.net"]), row_id),
    )
    with pytest.raises(InvalidArgument):
        approvals.approve(ctx, row_id, row.hash)  # same bytes, other envelope
    assert OutboxRepo(ctx.db).counts() == {"awaiting_approval": 1}
    assert smtpd.handler.connections == 0


def test_an_expired_approval_is_refused_and_can_only_be_rejected(
    smtpd: SmtpSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    ctx = context(tmp_path / "fc.db", _account(smtpd), clock=clock)
    row_id = outbox.queue(
        ctx, OutgoingMessage(account_id=1, to=("x@example.org",), subject="s", body_text="b")
    )
    row = _held(ctx.db)
    clock.advance(3600.0)  # approval_ttl_hours = 1
    with pytest.raises(InvalidState, match="expired") as info:
        approvals.approve(ctx, row_id, row.hash)
    assert "reject" in (info.value.hint or "")
    assert OutboxRepo(ctx.db).counts() == {"awaiting_approval": 1}
    entry = approvals.reject(ctx, row_id)
    assert entry.status is OutboxStatus.REJECTED
    with pytest.raises(InvalidState):
        approvals.reject(ctx, row_id)
    assert smtpd.handler.connections == 0


def test_a_known_correspondent_is_sent_at_once(smtpd: SmtpSink, tmp_path: Path) -> None:
    ctx = context(tmp_path / "fc.db", _account(smtpd))
    _store_from(ctx, "bob@example.org")
    msg = OutgoingMessage(account_id=1, to=("BOB@example.org",), subject="s", body_text="b")
    entry = asyncio.run(outbox.send(ctx, msg))
    assert entry.status is OutboxStatus.SENT
    assert len(smtpd.received) == 1
    # rebob@ contains bob@'s address as a substring but is someone else: held.
    other = OutgoingMessage(account_id=1, to=("rebob@example.org",), subject="s", body_text="b")
    assert asyncio.run(outbox.send(ctx, other)).status is OutboxStatus.AWAITING_APPROVAL
    assert len(smtpd.received) == 1


def test_cli_lists_the_hash_approves_with_send_and_rejects(
    smtpd: SmtpSink,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert smtpd.tls_files is not None
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(
        f"""
[[accounts]]
id = 1
address = "me@example.com"
[accounts.smtp]
host = "{smtpd.host}"
port = {smtpd.port}
tls = "starttls"
username = "{USER}"
password_env = "{PASSWORD_ENV}"
ca_file = "{smtpd.tls_files.ca_file}"
[accounts.send]
append_to_sent = false
[accounts.policy]
first_contact = "approve"
"""
    )
    db = tmp_path / "mail.db"
    base = ["--db", str(db), "--config", str(cfg_path)]
    ctx = context(db, *parse_config(cfg_path.read_text()).accounts)
    ids = [
        outbox.queue(ctx, OutgoingMessage(account_id=1, to=(to,), subject="s", body_text="b"))
        for to in ("a@example.org", "b@example.org")
    ]
    digest = _held_hash(ctx, ids[0])
    ctx.db.close()

    assert main([*base, "outbox", "list"]) == 0
    out = capsys.readouterr().out
    assert f"prx-email approve {ids[0]} --hash {digest}" in out
    assert main([*base, "outbox", "show", str(ids[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["approval_hash"] == digest

    assert main([*base, "approve", str(ids[0]), "--hash", "f" * 64]) != 0
    assert "does not match" in capsys.readouterr().err
    monkeypatch.setenv(NETWORK_ENV, "1")
    assert main([*base, "approve", str(ids[0]), "--hash", digest, "--send"]) == 0
    assert f"outbox #{ids[0]}: sent" in capsys.readouterr().out
    assert len(smtpd.received) == 1
    assert main([*base, "reject", str(ids[1])]) == 0
    assert f"outbox #{ids[1]}: rejected" in capsys.readouterr().out
    assert main([*base, "send-due"]) == 0
    assert len(smtpd.received) == 1
    capsys.readouterr()
    # Each decision is in the audit log, the refused one with its code; the chain holds.
    assert main([*base, "audit", "list", "--json"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    decisions = [(e["tool"], e["outcome"]) for e in entries if e["tool"] in ("approve", "reject")]
    assert sorted(decisions) == sorted(
        [("approve", "EMAIL_INVALID_ARGUMENT"), ("approve", "ok"), ("reject", "ok")]
    ), entries
    assert main([*base, "audit", "verify"]) == 0


def _held_hash(ctx: ServiceContext, row_id: int) -> str:
    return ApprovalRepo(ctx.db).hashes([row_id])[row_id]


def test_config_keys() -> None:
    head = '[[accounts]]\nid = 1\naddress = "a@example.org"\n[accounts.policy]\n'
    cfg = parse_config(head + 'first_contact = "approve"\napproval_ttl_hours = 2\n')
    policy = cfg.accounts[0].policy
    assert policy.first_contact is FirstContact.APPROVE and policy.approval_ttl_hours == 2.0
    default = parse_config(head).accounts[0].policy
    assert default.first_contact is FirstContact.ALLOW and default.approval_ttl_hours == 72.0
    with pytest.raises(ConfigError, match="first_contact"):
        parse_config(head + 'first_contact = "ask"\n')
    with pytest.raises(ConfigError, match="approval_ttl_hours"):
        parse_config(head + "approval_ttl_hours = 0\n")


def test_a_draft_send_to_a_new_address_is_held_and_its_draft_kept_until_sent(
    dovecot: DovecotServer,
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("Drafts", "Sent"):
        dovecot.create_folder(name)
    monkeypatch.setenv(PW_ENV, dovecot.password)
    monkeypatch.setenv(NETWORK_ENV, "1")
    send = SendSettings(drafts_folder="Drafts", sent_folder="Sent", backoff_base_seconds=1.0)
    acc = dataclasses.replace(
        dovecot_account(dovecot), smtp=smtp_server(smtpd), send=send, policy=APPROVE
    )
    db = Database(tmp_path / "fc.db")
    plugin = make_plugin(plugin_wasm, db=db, config=Config(accounts=(acc,)), deadline=30.0)
    draft = {"account_id": 1, "to": ["dana@example.org"], "subject": "s", "body_text": "b"}
    created = plugin.execute("email.draft_create", draft)
    draft_id = created["data"]["draft_id"]
    args = {"account_id": 1, "draft_id": draft_id}
    held = plugin.execute("email.draft_send", args)["data"]
    assert held["status"] == "awaiting_approval" and "dana@example.org" in held["last_error"]
    again = plugin.execute("email.draft_send", args)["data"]
    assert (again["id"], again["status"]) == (held["id"], "awaiting_approval")  # queued once
    assert smtpd.handler.count(draft_id) == 0

    ctx = context(tmp_path / "fc.db", acc)
    approvals.approve(ctx, held["id"], _held_hash(ctx, held["id"]))
    asyncio.run(outbox.drain_due(ctx))
    assert smtpd.handler.count(draft_id) == 1
    status = plugin.execute("email.draft_status", args)["data"]
    assert status["state"] == "sent", status


def test_migration_0014_keeps_rows_and_the_event_triggers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prx_email.store import db as store_db

    db = Database(tmp_path / "m.db")
    assert db.migrate() >= 14
    repo = OutboxRepo(db)
    row_id = repo.insert(
        account_id=1, message_id="<m@x>", subject="s", sender="me@example.com",
        recipients=["a@example.org"], raw=b"raw", max_attempts=3, now=1.0, send_at=9e9,
        draft_folder="Drafts",
    )  # fmt: skip
    conn = db.connect()
    # A store of schema 13 (what later migrations added goes; they come after 0014), with
    # only 0014 to apply: it runs again over a populated table.
    conn.executescript(
        "DROP TRIGGER events_outbox_bounce; DROP TRIGGER outbox_bounces_gone;"
        " DROP TABLE outbox_bounces; PRAGMA user_version = 13;"
    )
    upto_14 = [m for m in store_db._migrations() if m[0] <= 14]
    monkeypatch.setattr(store_db, "_migrations", lambda: upto_14)
    db.migrate()
    got = conn.execute(
        "SELECT status, send_at, draft_folder, raw FROM outbox WHERE id = ?", (row_id,)
    ).fetchone()
    assert tuple(got) == ("scheduled", 9e9, "Drafts", b"raw")
    triggers = {
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                              " AND tbl_name = 'outbox'")
    }  # fmt: skip
    assert triggers == {"events_outbox_insert", "events_outbox_status"}
    conn.execute("UPDATE outbox SET status = 'rejected' WHERE id = ?", (row_id,))
    last = conn.execute("SELECT json_extract(detail, '$.status') FROM events ORDER BY id DESC")
    assert last.fetchone()[0] == "rejected"
