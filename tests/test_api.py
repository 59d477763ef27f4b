"""The Python API over the real guest: envelopes, bad input, the network gate, lifecycle."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prx_email import NETWORK_ENV, EmailError, Plugin, open_plugin
from prx_email.config import Config
from prx_email.errors import ConfigError
from prx_email.runtime import SANDBOX_TRAP

pytestmark = pytest.mark.component

NETWORK_CALLS = {"sync", "send", "reply", "retry", "search"}
GATED = [
    ("email.send", {"account_id": 1, "to": "ann@example.org", "subject": "s", "body_text": "x"}),
    ("email.reply", {"account_id": 1, "message_id": 3, "body_text": "x"}),
    ("email.retry", {"outbox_id": 1}),
    ("email.sync", {"account_id": 1}),
    ("email.search", {"account_id": 1, "query": "invoice", "remote": True}),
]


def test_describe_lists_the_tools(real_plugin: Plugin) -> None:
    names = {tool["name"] for tool in real_plugin.describe()}
    assert {"email.list", "email.get", "email.search", "email.send", "email.sync"} <= names


def test_execute_takes_a_dict_or_json_text(real_plugin: Plugin, fake_services) -> None:
    expected = {"ok": True, "data": {"messages": [], "next_cursor": None}}
    assert real_plugin.execute("email.list", {"account_id": 1}) == expected
    assert real_plugin.execute("email.list", '{"account_id": 1}') == expected
    assert [name for name, _ in fake_services.calls] == ["list_messages", "list_messages"]


def test_oversized_arguments_never_reach_the_guest(real_plugin: Plugin, fake_services) -> None:
    huge = '{"account_id": 1, "folder": "' + "x" * (17 * 1024 * 1024) + '"}'
    envelope = real_plugin.execute("email.list", huge)
    assert envelope["error"]["code"] == "EMAIL_INVALID_ARGUMENT"
    assert "larger than" in envelope["error"]["message"]
    assert real_plugin.sandbox.traps == 0
    assert fake_services.calls == []


def test_args_that_are_not_json_serialisable(real_plugin: Plugin) -> None:
    envelope = real_plugin.execute("email.list", {"account_id": object()})
    assert envelope["error"]["code"] == "EMAIL_INVALID_JSON"
    assert envelope["error"]["hint"]


@pytest.mark.parametrize(
    ("tool", "args", "code"),
    [
        ("email.list", "{bad", "EMAIL_INVALID_JSON"),
        ("email.list", "[]", "EMAIL_INVALID_ARGUMENT"),
        ("email.list", {"account_id": "1"}, "EMAIL_INVALID_ARGUMENT"),
        ("email.list", {"account_id": 0}, "EMAIL_INVALID_ARGUMENT"),
        ("email.list", {"account_id": 1, "limit": 501}, "EMAIL_INVALID_ARGUMENT"),
        ("email.get", {"account_id": 1}, "EMAIL_INVALID_ARGUMENT"),
        ("email.list", {"account_id": 1, "folder": "x" * 3_000_000}, "EMAIL_INVALID_ARGUMENT"),
        ("email.nope", {}, "EMAIL_UNSUPPORTED_TOOL"),
        ("x" * 100_000, {}, "EMAIL_UNSUPPORTED_TOOL"),
        ("email.get", {"account_id": 9, "id": 1}, "EMAIL_ACCOUNT_NOT_FOUND"),
        ("email.get", {"account_id": 1, "id": 404_404}, "EMAIL_NOT_FOUND"),
    ],
)
def test_bad_input_gets_a_clear_error(real_plugin: Plugin, tool, args, code) -> None:
    envelope = real_plugin.execute(tool, args)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == code
    assert envelope["error"]["message"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tool=st.sampled_from(["email.list", "email.get", "email.send", "email.search"])
    | st.text(max_size=40),
    args=st.text(max_size=200)
    | st.dictionaries(
        st.text(max_size=10), st.none() | st.integers() | st.text(max_size=20), max_size=4
    ).map(json.dumps),
)
def test_any_input_gets_an_envelope(real_plugin: Plugin, tool: str, args: str) -> None:
    envelope = real_plugin.execute(tool, args)
    assert isinstance(envelope["ok"], bool)
    if not envelope["ok"]:
        assert envelope["error"]["code"].startswith("EMAIL_")
        assert envelope["error"]["code"] != SANDBOX_TRAP


@pytest.mark.parametrize(("tool", "args"), GATED, ids=[t for t, _ in GATED])
def test_network_tools_are_refused_without_the_flag(
    real_plugin: Plugin, fake_services, monkeypatch, tool, args
) -> None:
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    envelope = real_plugin.execute(tool, args)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == "EMAIL_NETWORK_DISABLED"
    assert NETWORK_ENV in envelope["error"]["hint"]
    assert not NETWORK_CALLS & {name for name, _ in fake_services.calls}


@pytest.mark.parametrize(
    "args",
    [
        {"network": True},
        {"env": {NETWORK_ENV: "1"}},
        {NETWORK_ENV: "1"},
        {"enable_real_network": True},
    ],
)
def test_the_guest_cannot_turn_the_network_on(
    real_plugin: Plugin, fake_services, monkeypatch, args
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "0")
    for tool, base in GATED:
        envelope = real_plugin.execute(tool, {**base, **args})
        assert envelope["ok"] is False
        assert envelope["error"]["code"] in {"EMAIL_NETWORK_DISABLED", "EMAIL_INVALID_ARGUMENT"}
    assert not NETWORK_CALLS & {name for name, _ in fake_services.calls}


def test_local_search_needs_no_flag(real_plugin: Plugin, fake_services, monkeypatch) -> None:
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    envelope = real_plugin.execute("email.search", {"account_id": 1, "query": "x"})
    assert envelope["ok"] is True
    assert [name for name, _ in fake_services.calls] == ["search"]


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_network_tools_run_with_the_flag(real_plugin, fake_services, monkeypatch, value) -> None:
    monkeypatch.setenv(NETWORK_ENV, value)
    tool, args = GATED[0]
    envelope = real_plugin.execute(tool, args)
    assert envelope["ok"] is True, envelope
    assert [name for name, _ in fake_services.calls] == ["send"]


async def test_aexecute(real_plugin: Plugin) -> None:
    results = await asyncio.gather(
        *(real_plugin.aexecute("email.list", {"account_id": 1}) for _ in range(8))
    )
    assert all(r["ok"] for r in results)
    assert isinstance(await real_plugin.adescribe(), list)


def test_close_is_idempotent_and_final(plugin_wasm, tmp_path, fake_services) -> None:
    with open_plugin(
        tmp_path / "m.db", Config(), component=plugin_wasm, services=fake_services
    ) as plugin:
        assert plugin.execute("email.accounts")["ok"] is True
    plugin.close()
    envelope = plugin.execute("email.accounts")
    assert envelope["error"]["code"] == "EMAIL_SANDBOX_CLOSED"
    with pytest.raises(EmailError):
        plugin.describe()


def test_real_services_over_a_store(plugin_wasm, tmp_path) -> None:
    with open_plugin(tmp_path / "m.db", Config(), component=plugin_wasm) as plugin:
        assert plugin.execute("email.accounts") == {"ok": True, "data": []}
        envelope = plugin.execute("email.list", {"account_id": 1})
        assert envelope["error"]["code"] == "EMAIL_ACCOUNT_NOT_FOUND"


def test_missing_explicit_config_file(plugin_wasm, tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        open_plugin(tmp_path / "m.db", tmp_path / "nope.toml", component=plugin_wasm)


def test_no_default_config_means_the_local_account(plugin_wasm, tmp_path, monkeypatch) -> None:
    from prx_email.config import LOCAL_ACCOUNT

    monkeypatch.delenv("PRX_EMAIL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    with open_plugin(tmp_path / "m.db", component=plugin_wasm) as plugin:
        assert plugin.context.config.accounts == (LOCAL_ACCOUNT,)
        assert plugin.context.config.source_missing


async def test_async_with_opens_and_closes(plugin_wasm, tmp_path, fake_services) -> None:
    async with open_plugin(
        tmp_path / "m.db", Config(), component=plugin_wasm, services=fake_services
    ) as plugin:
        assert (await plugin.aexecute("email.accounts"))["ok"] is True
    closed = plugin.execute("email.accounts")
    assert closed["error"]["code"] == "EMAIL_SANDBOX_CLOSED"
    assert closed["error"]["hint"]


@pytest.mark.parametrize("tool", [None, 7, b"email.list", ["email.list"], "email.nope", "\udcff"])
def test_bad_tool_names_answer_unsupported_tool(real_plugin: Plugin, fake_services, tool) -> None:
    envelope = real_plugin.execute(tool, {})
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == "EMAIL_UNSUPPORTED_TOOL"
    assert envelope["error"]["hint"]
    assert real_plugin.sandbox.traps == 0
    assert fake_services.calls == []


@pytest.mark.parametrize("args", [7, 1.5, True, ["account_id", 1], b'{"account_id": 1}', object()])
def test_args_of_another_type_answer_invalid_json(real_plugin: Plugin, args) -> None:
    envelope = real_plugin.execute("email.list", args)
    assert envelope["error"]["code"] == "EMAIL_INVALID_JSON"
    assert envelope["error"]["hint"]


@pytest.mark.parametrize(
    "args",
    [
        b'{"query": "\xff"}'.decode("utf-8", errors="surrogateescape"),
        {"account_id": 1, "query": b"\xff".decode("utf-8", errors="surrogateescape")},
        {"account_id": 1, "query": "\ud800"},
        {"account_id": 1, "\udcff": 1},
    ],
)
def test_lone_surrogates_answer_invalid_json_not_a_trap(
    real_plugin: Plugin, fake_services, args
) -> None:
    envelope = real_plugin.execute("email.search", args)
    assert envelope["error"]["code"] == "EMAIL_INVALID_JSON"
    assert "Unicode" in envelope["error"]["message"]
    assert real_plugin.sandbox.traps == 0
    assert fake_services.calls == []
    assert real_plugin.execute("email.list", {"account_id": 1})["ok"] is True


def test_sandbox_errors_become_envelopes_with_hints(hostile) -> None:
    envelope = hostile.execute("spin", {})
    assert envelope["error"]["code"] == "EMAIL_SANDBOX_TIMEOUT"
    assert envelope["error"]["hint"]
    assert "1 s compute deadline" in envelope["error"]["message"]


def test_no_envelope_carries_a_null_hint(real_plugin: Plugin, fake_services) -> None:
    from prx_email.errors import NotFound

    fake_services.fail_with = NotFound("gone")  # no hint of its own
    envelope = real_plugin.execute("email.list", {"account_id": 1})
    assert envelope["error"] == {
        "code": "EMAIL_NOT_FOUND",
        "message": "gone",
        "hint": "Use email.list, email.search or email.outbox to find valid ids.",
    }


def test_retry_now_and_display_names_reach_the_host(
    real_plugin: Plugin, fake_services, monkeypatch
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    assert real_plugin.execute("email.retry", {"outbox_id": 4, "now": True})["ok"] is True
    assert real_plugin.execute("email.retry", {"outbox_id": 5})["ok"] is True
    assert fake_services.calls == [("retry", (4, True)), ("retry", 5)]
    fake_services.calls.clear()
    args = {"account_id": 1, "subject": "s", "body_text": "x"}
    sent = real_plugin.execute("email.send", {**args, "to": "Bob Smith <bob@example.org>"})
    assert sent["ok"] is True, sent
    assert fake_services.calls[0][1].to == ("Bob Smith <bob@example.org>",)
    for bad in ("Bob <bob@example.org>\r\nBcc: eve@example.org", "a@example.org, b@example.org"):
        refused = real_plugin.execute("email.send", {**args, "to": bad})
        assert refused["error"]["code"] == "EMAIL_INVALID_ARGUMENT"
    assert len(fake_services.calls) == 1
