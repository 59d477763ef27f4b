"""Issue 16's per-account rules, enforced by the host whatever the guest asks: tool groups
(hidden from describe, refused by the host functions), recipient allow/deny lists (deny wins)
and send quotas counted in the store (across a restart, and atomically across processes).

Each rule is tried through the real component and through the hostile guest, which calls
the host's functions directly; a real aiosmtpd stands behind them, and every refusal is
checked for its absence of side effects: no SMTP connection, no outbox row.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fixtures.component import PluginFactory
from fixtures.smtpd import SmtpSink
from helpers.outbox import account, context
from prx_email import NETWORK_ENV
from prx_email.bridge.policy import MODE_ENV, Policy
from prx_email.config import Config
from prx_email.config.loader import parse_config
from prx_email.config.model import (
    ALL_TOOL_GROUPS,
    AccountConfig,
    PolicyMode,
    PolicySettings,
    ToolGroup,
)
from prx_email.errors import ConfigError, PolicyDenied, QuotaExceeded
from prx_email.mail.parse import parse_message
from prx_email.services import outbox
from prx_email.store.db import Database
from prx_email.store.messages import MessageStore, StoreItem
from prx_email.store.outbox import OutboxRepo
from prx_email.types import OutgoingMessage, ReplyRequest
from prx_email_guest import ALL_GROUPS, GROUP_OF, TOOL_NAMES

pytestmark = [pytest.mark.integration, pytest.mark.component]


def _config(smtpd: SmtpSink, *policies: PolicySettings) -> Config:
    return Config(
        accounts=tuple(
            dataclasses.replace(account(smtpd, id=i), policy=p) for i, p in enumerate(policies, 1)
        )
    )


def _nothing_sent(smtpd: SmtpSink, db: Database) -> None:
    assert smtpd.handler.connections == 0
    assert smtpd.received == []
    assert OutboxRepo(db).counts() == {}


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The network is open and the process mode is send: only the account policy stands."""
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.delenv(MODE_ENV, raising=False)


def _send_args(**extra: Any) -> dict[str, Any]:
    return {"account_id": 1, "to": "friend@example.org", "subject": "s", "body_text": "b", **extra}


# -- tool groups --------------------------------------------------------------------------


def test_the_guest_and_the_host_name_the_same_groups() -> None:
    assert set(GROUP_OF) == set(TOOL_NAMES)  # every tool belongs to a group
    assert {g.value for g in ToolGroup} == ALL_GROUPS


def test_a_group_switched_off_is_hidden_from_describe_and_refused(
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    network: None,
) -> None:
    db = Database(tmp_path / "groups.db")
    off = PolicySettings(tools=ALL_TOOL_GROUPS - {ToolGroup.SEND, ToolGroup.DELETE})
    plugin = make_plugin(plugin_wasm, db=db, config=_config(smtpd, off))
    listed = {t["name"] for t in plugin.describe()}
    hidden = {"email.send", "email.reply", "email.retry", "email.delete"}
    assert not listed & hidden
    assert {"email.mark", "email.move", "email.get", "email.draft_create"} <= listed
    # The agent calls a hidden tool anyway: the host refuses it, naming the group.
    for tool, args in (
        ("email.send", _send_args()),
        ("email.delete", {"account_id": 1, "ids": [1]}),
    ):
        envelope = plugin.execute(tool, args)
        assert envelope["ok"] is False, envelope
        assert envelope["error"]["code"] == "EMAIL_POLICY_DENIED", envelope
        assert "tool group" in envelope["error"]["message"] and envelope["error"]["hint"]
    _nothing_sent(smtpd, db)


def test_describe_shows_what_some_account_may_use_and_the_host_checks_each(
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    network: None,
) -> None:
    """Account 1 may not send, account 2 may: email.send is listed, and refused for 1."""
    db = Database(tmp_path / "groups.db")
    cfg = _config(smtpd, PolicySettings(tools=frozenset({ToolGroup.READ})), PolicySettings())
    plugin = make_plugin(plugin_wasm, db=db, config=cfg)
    assert "email.send" in {t["name"] for t in plugin.describe()}
    denied = plugin.execute("email.send", _send_args())
    assert denied["error"]["code"] == "EMAIL_POLICY_DENIED", denied
    assert "'send'" in denied["error"]["message"] and "account 1" in denied["error"]["message"]
    _nothing_sent(smtpd, db)
    sent = plugin.execute("email.send", _send_args(account_id=2))
    assert sent["ok"] is True, sent
    assert len(smtpd.received) == 1


def test_modes_hide_groups_too() -> None:
    cfg = Config(accounts=(AccountConfig(1, "a", "me@example.org"),))
    assert Policy(config=lambda: cfg).visible_groups() == list(ToolGroup)
    draft = Policy(config=lambda: cfg, mode=PolicyMode.DRAFT_ONLY).visible_groups()
    assert ToolGroup.SEND not in draft and ToolGroup.DRAFTS in draft
    read = Policy(config=lambda: cfg, mode=PolicyMode.READ_ONLY).visible_groups()
    assert read == [ToolGroup.READ]


def test_a_hostile_guest_is_refused_a_disabled_group(
    smtpd: SmtpSink,
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    network: None,
) -> None:
    db = Database(tmp_path / "groups.db")
    off = PolicySettings(tools=ALL_TOOL_GROUPS - {ToolGroup.SEND, ToolGroup.DELETE})
    plugin = make_plugin(hostile_wasm, deadline=10.0, db=db, config=_config(smtpd, off))
    groups = plugin.execute("host-tool-groups", {})["data"]
    assert "send" not in groups and "delete" not in groups and "mark" in groups
    for action, args in (
        ("host-send", {}),
        ("host-retry", {"outbox_id": 1}),
        ("host-delete", {"ids": [1]}),
    ):
        envelope = plugin.execute(action, args)
        assert envelope["ok"] is False, (action, envelope)
        assert envelope["error"]["code"] == "EmailError_PolicyDenied", (action, envelope)
    _nothing_sent(smtpd, db)


def test_tools_and_deny_tools_load_and_unknown_groups_are_refused() -> None:
    head = '[[accounts]]\nid = 1\naddress = "a@example.org"\n[accounts.policy]\n'
    cfg = parse_config(head + 'tools = ["read", "send", "mark"]\ndeny_tools = ["send"]\n')
    assert cfg.accounts[0].policy.tools == {ToolGroup.READ, ToolGroup.MARK}
    cfg = parse_config(head + 'deny_tools = ["delete"]\nallow = ["*@Example.ORG"]\n')
    assert cfg.accounts[0].policy.tools == ALL_TOOL_GROUPS - {ToolGroup.DELETE}
    assert cfg.accounts[0].policy.allow == ("*@example.org",)
    with pytest.raises(ConfigError, match="unknown tool group"):
        parse_config(head + 'tools = ["sned"]\n')
    for bad in ("bob", "*bob@example.org", "*@*.example.org"):
        with pytest.raises(ConfigError, match="neither an address"):
            parse_config(head + f'deny = ["{bad}"]\n')
    with pytest.raises(ConfigError, match="greater than zero"):
        parse_config(head + "sends_per_hour = 0\n")


# -- recipient lists ----------------------------------------------------------------------

LISTS = PolicySettings(allow=("*@example.org", "partner@example.net"), deny=("boss@example.org",))


@pytest.mark.parametrize(
    ("field", "address", "rule"),
    [
        ("to", "Boss@Example.ORG", "deny rule 'boss@example.org'"),
        ("cc", "boss@example.org", "deny rule 'boss@example.org'"),
        ("bcc", "stranger@example.com", "no allow rule"),
    ],
)
def test_deny_beats_allow_on_every_recipient_field(
    field: str,
    address: str,
    rule: str,
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    network: None,
) -> None:
    """boss@ is in the allowed domain and denied by name: deny wins, case-insensitively."""
    db = Database(tmp_path / "lists.db")
    plugin = make_plugin(plugin_wasm, db=db, config=_config(smtpd, LISTS))
    args = _send_args() if field != "to" else _send_args(to=address)
    if field != "to":
        args[field] = address
    envelope = plugin.execute("email.send", args)
    assert envelope["ok"] is False, envelope
    error = envelope["error"]
    assert error["code"] == "EMAIL_POLICY_DENIED", envelope
    assert rule in error["message"] and address.lower() in error["message"].lower(), error
    assert error["hint"]
    _nothing_sent(smtpd, db)


def test_a_hostile_send_meets_the_lists_and_an_allowed_one_goes_through(
    smtpd: SmtpSink,
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    network: None,
) -> None:
    db = Database(tmp_path / "lists.db")
    plugin = make_plugin(hostile_wasm, deadline=10.0, db=db, config=_config(smtpd, LISTS))
    for args in (
        {"to": ["a@example.org"], "bcc": ["BOSS@example.org"]},
        {"to": ["a@example.org"], "cc": ["x@elsewhere.test"]},
    ):
        envelope = plugin.execute("host-send", args)
        assert envelope["error"]["code"] == "EmailError_PolicyDenied", envelope
    _nothing_sent(smtpd, db)
    ok = plugin.execute("host-send", {"to": ["a@example.org"], "cc": ["partner@example.net"]})
    assert ok == {"ok": True, "data": "SENT"}, ok
    assert len(smtpd.received) == 1


def test_a_reply_to_a_denied_author_is_refused(smtpd: SmtpSink, tmp_path: Path) -> None:
    ctx = context(tmp_path / "reply.db", dataclasses.replace(account(smtpd), policy=LISTS))
    raw = b"From: Boss <boss@example.org>\r\nTo: me@example.org\r\nSubject: hi\r\n\r\nx\r\n"
    MessageStore(ctx.db).upsert_many(
        1, "INBOX", 1, [StoreItem(uid=7, flags=(), size=len(raw), parsed=parse_message(raw))]
    )
    key = int(ctx.db.connect().execute("SELECT id FROM messages WHERE uid = 7").fetchone()[0])
    with pytest.raises(PolicyDenied, match=r"boss@example\.org"):
        outbox.queue_reply(ctx, ReplyRequest(1, key, body_text="ok"))
    assert OutboxRepo(ctx.db).counts() == {}


# -- quotas -------------------------------------------------------------------------------


def _msg(to: str = "friend@example.org") -> OutgoingMessage:
    return OutgoingMessage(account_id=1, to=(to,), subject="s", body_text="b")


def test_quotas_survive_a_restart_through_the_real_component(
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    network: None,
) -> None:
    path = tmp_path / "quota.db"
    cfg = _config(smtpd, PolicySettings(sends_per_hour=2))
    first = make_plugin(plugin_wasm, db=path, config=cfg)
    for _ in range(2):
        assert first.execute("email.send", _send_args())["ok"] is True
    refused = first.execute("email.send", _send_args())
    assert refused["error"]["code"] == "EMAIL_QUOTA_EXCEEDED", refused
    first.close()
    again = make_plugin(plugin_wasm, db=path, config=cfg)  # a new process would see the same
    refused = again.execute("email.send", _send_args())
    error = refused["error"]
    assert error["code"] == "EMAIL_QUOTA_EXCEEDED", refused
    assert "sends_per_hour" in error["message"] and "frees at" in error["message"]
    assert error["hint"]
    assert len(smtpd.received) == 2
    assert OutboxRepo(Database(path)).counts() == {"sent": 2}


def test_a_hostile_guest_cannot_pass_the_quota(
    smtpd: SmtpSink,
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    network: None,
) -> None:
    db = Database(tmp_path / "quota.db")
    cfg = _config(smtpd, PolicySettings(new_recipients_per_day=1))
    plugin = make_plugin(hostile_wasm, deadline=10.0, db=db, config=cfg)
    assert plugin.execute("host-send", {"to": ["a@example.org"]})["ok"] is True
    assert plugin.execute("host-send", {"to": ["A@example.org"]})["ok"] is True  # not new
    refused = plugin.execute("host-send", {"to": ["a@example.org"], "cc": ["b@example.org"]})
    assert refused["error"]["code"] == "EmailError_QuotaExceeded", refused
    assert "new_recipients_per_day" in refused["error"]["message"]
    assert len(smtpd.received) == 2
    assert OutboxRepo(db).counts() == {"sent": 2}


def test_windows_roll_and_the_message_says_when(smtpd: SmtpSink, tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    policy = PolicySettings(sends_per_hour=2, sends_per_day=3, new_recipients_per_day=3)
    acc = dataclasses.replace(account(smtpd), policy=policy)
    ctx = context(tmp_path / "q.db", acc, clock=lambda: now[0])
    outbox.queue(ctx, _msg("a@example.org"))
    now[0] += 600
    outbox.queue(ctx, _msg("b@example.org"))
    with pytest.raises(
        QuotaExceeded, match=r"sends_per_hour.*frees at 2027-01-15T09:00:00Z \(in 3000s\)"
    ):
        outbox.queue(ctx, _msg("a@example.org"))
    now[0] += 3000  # the first send is an hour old: its slot is free
    outbox.queue(ctx, _msg("a@example.org"))
    now[0] += 3600
    with pytest.raises(QuotaExceeded, match="sends_per_day"):
        outbox.queue(ctx, _msg("a@example.org"))
    assert OutboxRepo(ctx.db).counts() == {"pending": 3}
    now[0] += 86400
    with pytest.raises(QuotaExceeded, match="never fits"):  # 4 new > 3 ever
        outbox.queue(
            ctx,
            OutgoingMessage(
                1, to=("w@x.org", "x@x.org", "y@x.org", "z@x.org"), subject="s", body_text="b"
            ),
        )
    assert OutboxRepo(ctx.db).counts() == {"pending": 3}


_WORKER = textwrap.dedent(
    """
    import dataclasses, json, sys, time
    from pathlib import Path
    from prx_email.config import Config
    from prx_email.config.model import PolicySettings, PasswordAuth, ServerConfig, TlsMode
    from prx_email.config.model import AccountConfig
    from prx_email.errors import QuotaExceeded
    from prx_email.services import outbox, send_policy
    from prx_email.services.context import ServiceContext
    from prx_email.store.db import Database
    from prx_email.types import OutgoingMessage

    db_path, go, tries = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    smtp = ServerConfig("127.0.0.1", 9, TlsMode.NONE, "u", PasswordAuth())
    acc = AccountConfig(1, "a", "me@example.org", smtp=smtp,
                        policy=PolicySettings(sends_per_hour=tries))
    ctx = ServiceContext(config=Config(accounts=(acc,)), db=Database(db_path))
    check = send_policy.check_quota

    def slow_check(*args):
        check(*args)
        time.sleep(0.02)  # widen the window between the check and the insert

    send_policy.check_quota = slow_check
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    ok = refused = 0
    for i in range(tries):
        try:
            outbox.queue(ctx, OutgoingMessage(1, to=("f@example.org",), subject="s",
                                              body_text=str(i)))
            ok += 1
        except QuotaExceeded:
            refused += 1
    print(json.dumps({"ok": ok, "refused": refused}), flush=True)
    """
)


def test_two_processes_cannot_both_take_the_last_slots(tmp_path: Path) -> None:
    """Each process tries the whole quota at once, its check slowed down so that the two
    interleave: together they queue exactly the quota (not atomic, they queue up to twice)."""
    path, go, tries = tmp_path / "race.db", tmp_path / "go", 15
    Database(path).close()  # migrated once, before the race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), str(go), str(tries)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        results.append(json.loads(out))
    assert sum(r["ok"] for r in results) == tries, results
    assert sum(r["refused"] for r in results) == tries, results
    assert OutboxRepo(Database(path)).counts() == {"pending": tries}


def test_a_reload_changes_what_describe_lists_and_what_the_host_allows(
    plugin_wasm: Path, make_plugin: PluginFactory, tmp_path: Path, network: None
) -> None:
    cfg = tmp_path / "config.toml"
    head = '[[accounts]]\nid = 1\naddress = "me@example.org"\n[accounts.policy]\n'
    cfg.write_text(head + 'deny_tools = ["mark"]\n')
    plugin = make_plugin(plugin_wasm, db=tmp_path / "r.db", config=cfg)
    assert "email.mark" not in {t["name"] for t in plugin.describe()}
    cfg.write_text(head + 'deny_tools = ["label"]\n')
    plugin.reload_config()
    names = {t["name"] for t in plugin.describe()}
    assert "email.mark" in names and "email.label" not in names
    refused = plugin.execute("email.label", {"account_id": 1, "ids": [1], "add": ["x"]})
    assert refused["error"]["code"] == "EMAIL_POLICY_DENIED", refused


async def test_a_retry_meets_lists_changed_since_the_row_was_queued(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "retry.db", account(smtpd))
    row = outbox.queue(ctx, _msg("boss@example.org"))
    acc = dataclasses.replace(account(smtpd), policy=LISTS)
    ctx.config = Config(accounts=(acc,))
    with pytest.raises(PolicyDenied, match="deny rule"):
        await outbox.retry(ctx, row, now=True)
    assert smtpd.handler.connections == 0
    assert OutboxRepo(ctx.db).counts() == {"pending": 1}
