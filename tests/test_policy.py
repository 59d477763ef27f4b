"""Draft-only mode is enforced by the host functions, whatever the guest asks.

The hostile guest calls the host's ``send``, ``reply``, ``retry`` and ``draft-send`` (with and
without ``send_at``) directly (no catalogue,
no validation in between); the real services and a real aiosmtpd stand behind them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fixtures.component import PluginFactory
from fixtures.smtpd import SmtpSink
from helpers.outbox import account
from prx_email import NETWORK_ENV
from prx_email.bridge.policy import MODE_ENV, Action, Policy, process_mode
from prx_email.config import Config
from prx_email.config.loader import parse_config
from prx_email.config.model import PolicyMode, PolicySettings
from prx_email.errors import ConfigError, PolicyDenied
from prx_email.store.db import Database
from prx_email.store.outbox import OutboxRepo

pytestmark = [pytest.mark.integration, pytest.mark.component]

_LATER = "2099-01-01T00:00:00Z"  # a scheduled send is a send too
SEND_TOOLS = [
    ("host-send", {"account_id": 1}),
    ("host-send", {"account_id": 1, "send_at": _LATER}),
    ("host-reply", {"account_id": 1, "message": 1}),
    ("host-reply", {"account_id": 1, "message": 1, "send_at": _LATER}),
    ("host-retry", {"outbox_id": 1}),
    ("host-draft-send", {"account_id": 1, "draft_id": "<d1@example.org>"}),
    ("host-draft-send", {"account_id": 1, "draft_id": "<d1@example.org>", "send_at": _LATER}),
]


def _config(smtpd: SmtpSink, mode: PolicyMode) -> Config:
    acc = dataclasses.replace(account(smtpd), policy=PolicySettings(mode=mode))
    return Config(accounts=(acc,))


def _assert_nothing_sent(smtpd: SmtpSink, db: Database) -> None:
    assert smtpd.handler.connections == 0
    assert smtpd.received == []
    assert OutboxRepo(db).counts() == {}


@pytest.mark.parametrize("where", ["account", "process", "env"])
def test_hostile_guest_cannot_send_in_draft_only_mode(
    where: str,
    smtpd: SmtpSink,
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")  # the network is open: only the policy stands
    db = Database(tmp_path / "policy.db")
    account_mode = PolicyMode.DRAFT_ONLY if where == "account" else PolicyMode.SEND
    kwargs: dict[str, object] = {"db": db, "config": _config(smtpd, account_mode)}
    if where == "process":
        kwargs["mode"] = "draft_only"
    if where == "env":
        monkeypatch.setenv(MODE_ENV, "draft_only")
    plugin = make_plugin(hostile_wasm, deadline=10.0, **kwargs)
    for action, args in SEND_TOOLS:
        envelope = plugin.execute(action, args)
        assert envelope["ok"] is False, (action, envelope)
        error = envelope["error"]
        assert error["code"] == "EmailError_PolicyDenied", (action, envelope)
        assert "draft_only" in error["message"] and "draft" in error["hint"]
    _assert_nothing_sent(smtpd, db)


def test_the_same_hostile_send_goes_through_in_send_mode(
    smtpd: SmtpSink,
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: the refusal above is the policy's, not a broken send path."""
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.delenv(MODE_ENV, raising=False)
    db = Database(tmp_path / "policy.db")
    plugin = make_plugin(hostile_wasm, deadline=10.0, db=db, config=_config(smtpd, PolicyMode.SEND))
    envelope = plugin.execute("host-send", {"account_id": 1})
    assert envelope == {"ok": True, "data": "SENT"}, envelope
    assert smtpd.handler.connections == 1 and len(smtpd.received) == 1


def test_the_real_guest_answers_email_policy_denied(
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(NETWORK_ENV, raising=False)  # refused before the gate is asked
    db = Database(tmp_path / "policy.db")
    plugin = make_plugin(plugin_wasm, db=db, config=_config(smtpd, PolicyMode.DRAFT_ONLY))
    args = {"account_id": 1, "to": "bob@example.org", "subject": "s", "body_text": "b"}
    envelope = plugin.execute("email.send", args)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == "EMAIL_POLICY_DENIED"
    assert envelope["error"]["hint"]
    _assert_nothing_sent(smtpd, db)


def test_modes_combine_to_the_stricter_and_a_typo_is_read_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = parse_config(
        '[[accounts]]\nid = 1\naddress = "a@example.org"\n[accounts.policy]\nmode = "draft_only"\n'
        '[[accounts]]\nid = 2\naddress = "b@example.org"\n'
    )
    policy = Policy(config=lambda: cfg)
    monkeypatch.delenv(MODE_ENV, raising=False)
    assert policy.mode_for(1) is PolicyMode.DRAFT_ONLY
    assert policy.mode_for(2) is PolicyMode.SEND
    assert policy.mode_for(None) is PolicyMode.DRAFT_ONLY  # unknown account: the strictest
    policy.check(Action.SEND, "send", 2)
    with pytest.raises(PolicyDenied):
        policy.check(Action.SEND, "send", 1)
    policy.check(Action.WRITE_DRAFT, "draft-create", 1)
    monkeypatch.setenv(MODE_ENV, "draft-onyl")
    assert process_mode(None) is PolicyMode.READ_ONLY
    with pytest.raises(PolicyDenied):
        policy.check(Action.WRITE_DRAFT, "draft-create", 2)
    strict = Policy(config=lambda: cfg, mode=PolicyMode.SEND)  # an explicit mode wins over env
    assert strict.mode_for(2) is PolicyMode.SEND
    with pytest.raises(ConfigError, match="mode"):
        parse_config('[[accounts]]\nid = 1\naddress = "a@b.c"\n[accounts.policy]\nmode = "x"\n')


MAILBOX_CHANGES = [
    ("email.mark", {"account_id": 1, "ids": [1], "add": ["seen"]}),
    ("email.label", {"account_id": 1, "ids": [1], "add": ["work"]}),
    ("email.move", {"account_id": 1, "ids": [1], "folder": "Archive"}),
    ("email.archive", {"account_id": 1, "ids": [1]}),
    ("email.delete", {"account_id": 1, "ids": [1]}),
    ("email.folder_create", {"account_id": 1, "folder": "Projects"}),
    ("email.folder_rename", {"account_id": 1, "folder": "Projects", "new_name": "Old"}),
    ("email.folder_delete", {"account_id": 1, "folder": "Projects"}),
]


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        (PolicyMode.READ_ONLY, "EMAIL_POLICY_DENIED"),
        (PolicyMode.DRAFT_ONLY, "EMAIL_NETWORK_DISABLED"),
    ],
)
def test_read_only_refuses_mailbox_changes_and_draft_only_allows_them(
    mode: PolicyMode,
    code: str,
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """read_only: the host refuses every mailbox change before the gate; draft_only lets them
    through to the gate (closed here), as issue 16 has it: drafts and mailbox changes, no send."""
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    monkeypatch.delenv(MODE_ENV, raising=False)
    db = Database(tmp_path / "policy.db")
    plugin = make_plugin(plugin_wasm, db=db, config=_config(smtpd, mode))
    for tool, args in MAILBOX_CHANGES:
        envelope = plugin.execute(tool, args)
        assert envelope["ok"] is False, (tool, envelope)
        assert envelope["error"]["code"] == code, (tool, envelope)
        if mode is PolicyMode.READ_ONLY:
            assert "read_only" in envelope["error"]["message"], envelope
            assert "mailbox" in envelope["error"]["hint"], envelope
