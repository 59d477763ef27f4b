"""The host owns every bound: through the real component, for every bounded argument of every
tool, the value at the bound reaches the host and one past it is refused by the guest (the
host sees no call) with exactly the words the host itself uses; and so for other limits set
in the config. ``describe`` / ``prx-email tools`` publish the bounds in force.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fixtures.component import PluginFactory
from prx_email import Plugin
from prx_email.auth import default_manager
from prx_email.bridge import NETWORK_ENV
from prx_email.config import AccountConfig, Config, SendSettings, ToolLimitSettings
from prx_email.config.model import ActionSettings, AttachmentPolicy
from prx_email.errors import EmailError, InvalidArgument
from prx_email.services.context import ServiceContext
from prx_email.services.facade import Services, tool_limits
from prx_email.store.db import Database
from prx_email.types import (
    AttachmentBase64,
    ListQuery,
    OutboxEntry,
    OutboxQuery,
    OutboxStatus,
    OutgoingAttachment,
    OutgoingMessage,
    ReplyRequest,
    SearchQuery,
    ToolLimits,
)
from prx_email_guest import DEFAULT_LIMITS

pytestmark = pytest.mark.component


class RecordingServices:
    """Real ``Services`` over a temporary store, recording every call the guest makes.

    Reads go to the real façade; send/reply run the façade's own bound checks and then answer
    a canned entry instead of delivering (no SMTP in these tests).
    """

    def __init__(self, real: Services) -> None:
        self.real = real
        self.calls: list[str] = []

    def _entry(self, account_id: int) -> OutboxEntry:
        return OutboxEntry(1, account_id, OutboxStatus.PENDING, "<x@y>", "s", ("a@b",), 0, 0, 0)

    def limits(self) -> ToolLimits:
        return self.real.limits()

    def accounts(self) -> Any:
        self.calls.append("accounts")
        return self.real.accounts()

    def list_messages(self, query: ListQuery) -> Any:
        self.calls.append("list_messages")
        return self.real.list_messages(query)

    def search(self, query: SearchQuery) -> Any:
        self.calls.append("search")
        return self.real.search(query)

    def list_outbox(self, query: OutboxQuery) -> Any:
        self.calls.append("list_outbox")
        return self.real.list_outbox(query)

    def send(self, msg: OutgoingMessage) -> OutboxEntry:
        self.calls.append("send")
        self.real.check_send(msg)
        return self._entry(msg.account_id)

    def reply(self, req: ReplyRequest) -> OutboxEntry:
        self.calls.append("reply")
        self.real.check_reply(req)
        return self._entry(req.account_id)

    def __getattr__(self, name: str) -> Any:  # sync, get_message, retry: not bounded here
        self.calls.append(name)
        return getattr(self.real, name)


@dataclass
class Setup:
    plugin: Plugin
    services: RecordingServices
    limits: ToolLimits
    account_caps: dict[int, int] = field(default_factory=dict)


CUSTOM = Config(
    accounts=(
        AccountConfig(
            1,
            "One",
            "one@example.org",
            send=SendSettings(max_recipients=150),
            actions=ActionSettings(bulk_limit=7),
        ),
        AccountConfig(
            2,
            "Two",
            "two@example.org",
            send=SendSettings(max_recipients=120),
            actions=ActionSettings(bulk_limit=5),
        ),
    ),
    attachments=AttachmentPolicy(inline_max_bytes=1000),
    limits=ToolLimitSettings(
        page_max=77,
        page_default=7,
        max_attachments=3,
        max_body_chars=1000,
        max_attachment_base64_chars=4000,
    ),
)
DEFAULTS = Config(accounts=(AccountConfig(1, "One", "one@example.org"),))


@pytest.fixture(params=["defaults", "custom"])
def setup(
    request: pytest.FixtureRequest,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Setup]:
    config = DEFAULTS if request.param == "defaults" else CUSTOM
    monkeypatch.setenv(NETWORK_ENV, "1")  # the gate must not be what refuses a send
    db = Database(tmp_path / "bounds.db")
    real = Services(ServiceContext(config=config, db=db, credentials=default_manager()))
    services = RecordingServices(real)
    plugin = make_plugin(plugin_wasm, services=services, config=config, db=db)
    caps = {a.id: a.send.max_recipients for a in config.accounts}
    yield Setup(plugin, services, real.limits(), caps)
    real.close()
    db.close()


def _host_refusal(call: Callable[[], object]) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        call()
    return {"message": caught.value.message, "hint": caught.value.hint or ""}


def _addresses(n: int) -> list[str]:
    return [f"user{i}@example.org" for i in range(n)]


Case = tuple[str, dict[str, Any], dict[str, Any], Callable[[Services], object]]


def _cases(lim: ToolLimits, cap: int) -> list[Case]:
    """(tool, args at the bound, args one past it, the host's own check of the latter)."""
    send: dict[str, Any] = {"account_id": 1, "to": "a@example.org", "subject": "s"}
    body = {**send, "body_text": "hi"}
    b64 = "A" * (lim.max_attachment_base64_chars // 4 * 4)

    def outgoing(**kw: Any) -> OutgoingMessage:
        return OutgoingMessage(account_id=1, to=("a@example.org",), subject="s", **kw)

    def attachments(n: int, data: str = "aGk=") -> tuple[OutgoingAttachment, ...]:
        return tuple(OutgoingAttachment(AttachmentBase64(data)) for _ in range(n))

    return [
        (
            "email.list",
            {"account_id": 1, "limit": lim.list_page_max},
            {"account_id": 1, "limit": lim.list_page_max + 1},
            lambda s: s.list_messages(ListQuery(1, limit=lim.list_page_max + 1)),
        ),
        (
            "email.search",
            {"account_id": 1, "query": "x", "limit": lim.search_page_max},
            {"account_id": 1, "query": "x", "limit": lim.search_page_max + 1},
            lambda s: s.search(SearchQuery(1, text="x", limit=lim.search_page_max + 1)),
        ),
        (
            "email.search",
            {"account_id": 1, "since": 999, "before": 1000},
            {"account_id": 1, "since": 1000, "before": 1000},
            lambda s: s.search(SearchQuery(1, since=1000, before=1000)),
        ),
        (
            "email.outbox",
            {"limit": lim.outbox_page_max},
            {"limit": lim.outbox_page_max + 1},
            lambda s: s.list_outbox(OutboxQuery(limit=lim.outbox_page_max + 1)),
        ),
        (
            "email.send",
            {**body, "to": _addresses(cap)},
            {**body, "to": _addresses(cap - 1), "cc": "c@example.org", "bcc": "b@example.org"},
            lambda s: s.send(
                OutgoingMessage(
                    1,
                    tuple(_addresses(cap - 1)),
                    "s",
                    cc=("c@example.org",),
                    bcc=("b@example.org",),
                    body_text="hi",
                )
            ),
        ),
        (
            "email.send",
            {**body, "attachments": [{"content_base64": "aGk="}] * lim.max_attachments},
            {**body, "attachments": [{"content_base64": "aGk="}] * (lim.max_attachments + 1)},
            lambda s: s.send(
                outgoing(body_text="hi", attachments=attachments(lim.max_attachments + 1))
            ),
        ),
        (
            "email.send",
            {**body, "attachments": [{"content_base64": b64}]},
            {
                **body,
                "attachments": [{"content_base64": "A" * (lim.max_attachment_base64_chars + 1)}],
            },
            lambda s: s.send(
                outgoing(
                    body_text="hi",
                    attachments=attachments(1, "A" * (lim.max_attachment_base64_chars + 1)),
                )
            ),
        ),
        (
            "email.send",
            {**send, "body_text": "x" * lim.max_body_chars},
            {**send, "body_text": "x" * (lim.max_body_chars + 1)},
            lambda s: s.send(outgoing(body_text="x" * (lim.max_body_chars + 1))),
        ),
        (
            "email.send",
            {**send, "body_html": "x" * lim.max_body_chars},
            {**send, "body_html": "x" * (lim.max_body_chars + 1)},
            lambda s: s.send(outgoing(body_html="x" * (lim.max_body_chars + 1))),
        ),
        # Ids of a bulk action (the store is empty: every id answers not_found, no server).
        (
            "email.mark",
            {"account_id": 1, "ids": list(range(1, lim.bulk_limit + 1)), "add": "seen"},
            {"account_id": 1, "ids": list(range(1, lim.bulk_limit + 2)), "add": "seen"},
            lambda s: s.mark(1, range(1, lim.bulk_limit + 2), add=["seen"], remove=[]),
        ),
        (
            "email.mark",
            # Repeated ids count once, on both sides.
            {"account_id": 1, "ids": [*range(1, lim.bulk_limit + 1), 1, 1], "add": "seen"},
            {"account_id": 1, "ids": [], "add": "seen"},
            lambda s: s.mark(1, [], add=["seen"], remove=[]),
        ),
        (
            "email.get_many",
            {"account_id": 1, "ids": list(range(1, lim.get_many_max + 1))},
            {"account_id": 1, "ids": list(range(1, lim.get_many_max + 2))},
            lambda s: s.get_many(1, range(1, lim.get_many_max + 2)),
        ),
        (
            "email.reply",
            {"account_id": 1, "message_id": 1, "body_text": "x" * lim.max_body_chars},
            {"account_id": 1, "message_id": 1, "body_text": "x" * (lim.max_body_chars + 1)},
            lambda s: s.reply(ReplyRequest(1, 1, body_text="x" * (lim.max_body_chars + 1))),
        ),
    ]


def test_limits_reach_the_guest_from_the_config(setup: Setup) -> None:
    expected = CUSTOM if setup.limits.list_page_max == 77 else DEFAULTS
    assert setup.limits == tool_limits(expected)
    if expected is CUSTOM:
        assert setup.limits.max_recipients == 150  # the largest of the accounts' caps
        assert setup.limits.bulk_limit == 7  # the largest of the accounts' bulk limits
        assert setup.limits.attachment_inline_max_bytes == 1000


def test_get_many_max_is_the_services_limit() -> None:
    from prx_email.services.actions import GET_MANY_LIMIT

    assert ToolLimits().get_many_max == GET_MANY_LIMIT


def test_the_host_still_applies_each_accounts_own_bulk_limit(
    plugin_wasm: Path, make_plugin: PluginFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    db = Database(tmp_path / "bulk.db")
    real = Services(ServiceContext(config=CUSTOM, db=db, credentials=default_manager()))
    services = RecordingServices(real)
    plugin = make_plugin(plugin_wasm, services=services, config=CUSTOM, db=db)
    args = {"account_id": 2, "ids": list(range(1, 7)), "add": "seen"}
    envelope = plugin.execute("email.mark", args)
    assert services.calls == ["mark"]  # within the guest's limit (7): the host refuses
    assert envelope["error"]["message"] == "6 ids given, over the limit of 5"
    assert plugin.execute("email.mark", {**args, "ids": [1, 2, 3, 4, 5]})["ok"] is True
    real.close()
    db.close()


def test_at_the_bound_accepted_one_past_refused_by_the_guest_in_the_hosts_words(
    setup: Setup,
) -> None:
    lim = setup.limits
    for tool, at_bound, past_bound, host_check in _cases(lim, setup.account_caps[1]):
        label = f"{tool} {sorted(past_bound)}"
        setup.services.calls.clear()
        accepted = setup.plugin.execute(tool, at_bound)
        assert setup.services.calls, (label, accepted)  # the guest let it through
        assert accepted["ok"] is True, (label, accepted)

        setup.services.calls.clear()
        refused = setup.plugin.execute(tool, past_bound)
        assert setup.services.calls == [], label  # refused in the guest
        assert refused["ok"] is False, label
        assert refused["error"]["code"] == "EMAIL_INVALID_ARGUMENT", label
        host = _host_refusal(lambda check=host_check: check(setup.services.real))
        got = {"message": refused["error"]["message"], "hint": refused["error"]["hint"]}
        assert got == host, label


def test_the_host_still_applies_each_accounts_own_cap(
    plugin_wasm: Path, make_plugin: PluginFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    db = Database(tmp_path / "caps.db")
    real = Services(ServiceContext(config=CUSTOM, db=db, credentials=default_manager()))
    services = RecordingServices(real)
    plugin = make_plugin(plugin_wasm, services=services, config=CUSTOM, db=db)
    args = {"account_id": 2, "to": _addresses(121), "subject": "s", "body_text": "hi"}
    envelope = plugin.execute("email.send", args)
    assert services.calls == ["send"]  # within the guest's cap (150): the host refuses
    assert envelope["error"]["message"] == "121 recipients in to, cc and bcc together, at most 120"
    assert plugin.execute("email.send", {**args, "to": _addresses(120)})["ok"] is True
    real.close()
    db.close()


def _schemas(catalogue: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t["input_schema"]["properties"] for t in catalogue}


def _assert_published(catalogue: list[dict[str, Any]], lim: ToolLimits) -> None:
    props = _schemas(catalogue)
    for tool, top, default in (
        ("email.list", lim.list_page_max, lim.list_page_default),
        ("email.search", lim.search_page_max, lim.search_page_default),
        ("email.outbox", lim.outbox_page_max, lim.outbox_page_default),
    ):
        limit = props[tool]["limit"]
        assert (limit["maximum"], limit["default"]) == (top, default), tool
        assert f"1..{top}" in limit["description"], tool
    send = props["email.send"]
    for name in ("to", "cc", "bcc"):
        assert send[name]["anyOf"][1]["maxItems"] == lim.max_recipients, name
    attachments = send["attachments"]["anyOf"][0]  # optional: anyOf [array, null]
    assert attachments["maxItems"] == lim.max_attachments
    inline = attachments["items"]["oneOf"][1]["properties"]["content_base64"]
    assert inline["maxLength"] == lim.max_attachment_base64_chars
    for name in ("body_text", "body_html"):
        assert send[name]["maxLength"] == lim.max_body_chars
        assert props["email.reply"][name]["maxLength"] == lim.max_body_chars
    for tool in ("email.mark", "email.label", "email.move", "email.archive", "email.delete"):
        assert props[tool]["ids"]["anyOf"][1]["maxItems"] == lim.bulk_limit, tool
    assert props["email.get_many"]["ids"]["anyOf"][1]["maxItems"] == lim.get_many_max
    inline_kib = f"at most {lim.attachment_inline_max_bytes // 1024} KiB"
    described = {t["name"]: t["description"] for t in catalogue}
    assert inline_kib in described["email.attachment"]


def test_describe_publishes_the_bounds_in_force(setup: Setup) -> None:
    _assert_published(setup.plugin.describe(), setup.limits)


def test_guest_defaults_equal_the_hosts() -> None:
    assert ToolLimits() == tool_limits(Config())
    host_defaults = ToolLimits()
    for name in host_defaults.__dataclass_fields__:
        assert getattr(DEFAULT_LIMITS, name) == getattr(host_defaults, name), name


CONFIG_TOML = """\
[[accounts]]
id = 1
name = "One"
address = "one@example.org"

[accounts.send]
max_recipients = {cap}

[limits]
page_max = {page_max}
page_default = 5
"""


def test_prx_email_tools_shows_the_configured_values(plugin_wasm: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG_TOML.format(cap=150, page_max=77), encoding="utf-8")
    env = {**os.environ, "PRX_EMAIL_COMPONENT": str(plugin_wasm)}
    env.pop("PRX_EMAIL_CONFIG", None)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "prx_email.adapters.cli"),
            *("--db", str(tmp_path / "m.db"), "--config", str(config), "tools"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = ToolLimits(
        list_page_max=77,
        list_page_default=5,
        search_page_max=77,
        search_page_default=5,
        outbox_page_max=77,
        outbox_page_default=5,
        max_recipients=150,
    )
    _assert_published(json.loads(result.stdout), expected)


def test_reloading_the_config_changes_the_bounds(
    plugin_wasm: Path, make_plugin: PluginFactory, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG_TOML.format(cap=100, page_max=40), encoding="utf-8")
    plugin = make_plugin(plugin_wasm, config=config)
    assert plugin.execute("email.list", {"account_id": 1, "limit": 40})["ok"] is True
    config.write_text(CONFIG_TOML.format(cap=100, page_max=30), encoding="utf-8")
    plugin.reload_config()
    refused = plugin.execute("email.list", {"account_id": 1, "limit": 31})
    assert refused["error"]["message"] == "limit must be between 1 and 30, got 31"
    assert _schemas(plugin.describe())["email.list"]["limit"]["maximum"] == 30


def test_host_checks_even_without_a_guest(tmp_path: Path) -> None:
    """A guest that skipped validation still meets the same bounds in the façade."""
    db = Database(tmp_path / "direct.db")
    services = Services(ServiceContext(config=CUSTOM, db=db, credentials=default_manager()))
    try:
        with pytest.raises(InvalidArgument, match="between 1 and 77, got 78"):
            services.list_messages(ListQuery(1, limit=78))
        with pytest.raises(InvalidArgument, match="between 1 and 77, got 0"):
            services.list_outbox(OutboxQuery(limit=0))
        with pytest.raises(EmailError, match="since must be earlier than before"):
            services.search(SearchQuery(1, since=5, before=5))
        assert services.list_messages(ListQuery(1, limit=77)).messages == ()
    finally:
        services.close()
        db.close()
