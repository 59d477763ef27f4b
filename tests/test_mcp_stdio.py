"""`prx-email mcp` over stdio, driven by the SDK's own client, against the real Dovecot.

One server subprocess for the module (network on): tools and their annotations, schemas
identical to the plugin's catalogue, search and get after a sync, a bad argument as an
isError result, a resources/updated notification after a message lands and is synced, and
a send stalled at the SMTP server: reads still answer, cancelling it returns at once, and
the outbox row ends "sent" once the server answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import DovecotServer
from fixtures.smtpd import PASSWORD, PASSWORD_ENV, USER, SmtpSink
from helpers.imap import make_msg, new_folder
from helpers.mcp import McpClient, stdio_connect, write_config
from prx_email import open_plugin

pytestmark = [
    pytest.mark.integration,
    pytest.mark.component,
    # resources/subscribe is the 2025-11-25 handshake era's (what ClientSession speaks)
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

PW_ENV = "PRX_TEST_MCP_IMAP_PW"


class Env:
    def __init__(
        self, client: McpClient, config: Path, folder: str, sink: SmtpSink, errlog: Path
    ) -> None:
        self.client, self.config, self.folder, self.sink = client, config, folder, sink
        self.errlog = errlog


@pytest.fixture(scope="module")
def env(
    dovecot: DovecotServer, plugin_wasm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("mcp-stdio")
    folder = new_folder("mcp")
    dovecot.add_messages(
        [make_msg(1, subject="Invoice 7731 from ACME"), make_msg(2), make_msg(3)], folder
    )
    sink = SmtpSink(tls="none").start()
    config = write_config(
        tmp / "config.toml",
        dovecot=dovecot,
        folder=folder,
        password_env=PW_ENV,
        smtp_port=sink.port,
        smtp_user=USER,
        smtp_password_env=PASSWORD_ENV,
    )
    proc_env = {
        **os.environ,
        PW_ENV: dovecot.password,
        PASSWORD_ENV: PASSWORD,
        "PRX_EMAIL_ENABLE_REAL_NETWORK": "1",
        "XDG_CONFIG_HOME": str(tmp / "xdg"),
    }
    args = ("--db", str(tmp / "mail.db"), "--config", str(config), "--log-level", "info")
    client = McpClient(stdio_connect(proc_env, *args, errlog=tmp / "stderr.log"))
    try:
        yield Env(client, config, folder, sink, tmp / "stderr.log")
    finally:
        client.close()
        sink.stop()


def call(env: Env, tool: str, args: dict[str, Any]) -> Any:
    return env.client.run(lambda s: s.call_tool(tool, args))


def test_tools_are_the_catalogue_with_annotations(env: Env) -> None:
    tools = {t.name: t for t in env.client.run(lambda s: s.list_tools()).tools}
    assert {"email.list", "email.send", "email.delete", "email.draft_create"} <= set(tools)
    listed = tools["email.list"].annotations
    assert listed is not None
    assert (listed.read_only_hint, listed.destructive_hint, listed.open_world_hint) == (
        True,
        False,
        False,
    )
    send = tools["email.send"].annotations
    assert send is not None and send.read_only_hint is False and send.open_world_hint is True
    assert send.idempotent_hint is False
    delete = tools["email.delete"].annotations
    assert delete is not None and delete.destructive_hint is True and delete.idempotent_hint
    assert "sandbox" in (tools["email.get"].description or "")


def test_input_schemas_are_the_guests_own(env: Env, tmp_path: Path) -> None:
    """Byte for byte the catalogue's input_schema (the one the guest validates with)."""
    listed = env.client.run(lambda s: s.list_tools()).tools
    with open_plugin(db=tmp_path / "other.db", config=env.config) as plugin:
        catalogue = plugin.describe()
    assert [t.name for t in listed] == [c["name"] for c in catalogue]
    for tool, entry in zip(listed, catalogue, strict=True):
        assert json.dumps(tool.input_schema, sort_keys=True) == json.dumps(
            entry["input_schema"], sort_keys=True
        ), tool.name


def test_search_and_get_after_a_sync(env: Env) -> None:
    synced = call(env, "email.sync", {"account_id": 1})
    assert not synced.is_error, synced.content
    found = call(env, "email.search", {"account_id": 1, "query": "ACME"})
    assert not found.is_error, found.content
    messages = found.structured_content["messages"]
    assert [m["subject"] for m in messages] == ["Invoice 7731 from ACME"]
    assert found.content[0].text.startswith("email.search: ok (1 messages)")
    got = call(env, "email.get", {"account_id": 1, "id": messages[0]["id"]})
    assert not got.is_error, got.content
    assert got.structured_content["summary"]["subject"] == "Invoice 7731 from ACME"
    assert "Hello, this is message 1." in got.structured_content["body_text"]


def test_a_bad_argument_is_an_error_result(env: Env) -> None:
    result = call(env, "email.list", {"account_id": "one"})
    assert result.is_error
    error = result.structured_content
    assert error["code"] == "EMAIL_INVALID_ARGUMENT"
    assert error["message"] and error["hint"]
    assert result.content[0].text.startswith("EMAIL_INVALID_ARGUMENT: ")


def test_resource_update_after_new_mail_is_synced(env: Env, dovecot: DovecotServer) -> None:
    uri = "email://accounts/1/unread"
    call(env, "email.sync", {"account_id": 1})
    env.client.run(lambda s: s.subscribe_resource(uri))
    seen = len(env.client.notifications)
    dovecot.add_messages([make_msg(9, subject="Fresh arrival 4412")], env.folder)
    assert not call(env, "email.sync", {"account_id": 1}).is_error
    assert env.client.updated(uri, after=seen), env.client.notifications[seen:]
    read = env.client.run(lambda s: s.read_resource(uri))
    summary = json.loads(read.contents[0].text)
    assert "Fresh arrival 4412" in [m["subject"] for m in summary["newest"]]
    assert summary["shown"] == len(summary["newest"]) >= 1


def test_resources_and_prompts_are_listed(env: Env) -> None:
    uris = {str(r.uri) for r in env.client.run(lambda s: s.list_resources()).resources}
    assert {"email://accounts", "email://outbox", "email://accounts/1/unread"} <= uris
    accounts = json.loads(
        env.client.run(lambda s: s.read_resource("email://accounts")).contents[0].text
    )
    assert accounts[0]["id"] == 1
    prompts = {p.name for p in env.client.run(lambda s: s.list_prompts()).prompts}
    assert prompts == {"triage_unread", "summarise_thread", "draft_reply"}
    draft = env.client.run(lambda s: s.get_prompt("draft_reply", {"message_id": "7"}))
    text = draft.messages[0].content.text
    assert (
        "email.draft_create" in text
        and "in_reply_to=7" in text
        and "Do NOT call email.send" in text
    )


def test_a_stalled_send_blocks_no_read_and_cancelling_it_keeps_the_outbox_whole(
    env: Env,
) -> None:
    handler = env.sink.handler
    handler.stall_after_accept = True
    handler.release.clear()
    handler.accepted.clear()
    args = {"account_id": 1, "to": "bob@example.org", "subject": "stalled", "body_text": "x"}

    async def send_then_cancel(s: Any) -> tuple[bool, float, float]:
        task = asyncio.create_task(s.call_tool("email.send", args))
        while not handler.accepted.is_set():  # the DATA is in; the 250 is withheld
            await asyncio.sleep(0.01)
        t = time.perf_counter()
        listed = await s.call_tool("email.list", {"account_id": 1, "limit": 5})
        read_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        task.cancel()  # the SDK sends notifications/cancelled
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return not listed.is_error, read_ms, (time.perf_counter() - t) * 1000

    try:
        read_ok, read_ms, cancel_ms = env.client.run(send_then_cancel)
    finally:
        handler.release.set()
    assert read_ok and read_ms < 3000 and cancel_ms < 1000, (read_ms, cancel_ms)
    deadline = time.monotonic() + 15
    while True:
        outbox = call(env, "email.outbox", {"status": "sent"})
        subjects = [e["subject"] for e in outbox.structured_content["entries"]]
        if "stalled" in subjects or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert subjects.count("stalled") == 1
    assert [r.message["Subject"] for r in env.sink.received].count("stalled") == 1
    # The server saw the cancellation: the call's late outcome is logged, not answered.
    deadline = time.monotonic() + 5
    logged = "a cancelled email.send call ended after its request: ok"
    while logged not in env.errlog.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logged in env.errlog.read_text()
    handler.stall_after_accept = False
