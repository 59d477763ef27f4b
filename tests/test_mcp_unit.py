"""The MCP adapter's parts in-process, with fakes: no component, no server subprocess.

Catalogue → tools and envelope → result mapping; the change pump (a subscription survives
a failing source); the store watcher over a real SQLite file written by another connection;
the slow lane (reads are never queued behind network tools) and cancellation (the waiter
stops, the sandboxed call finishes and only then frees its lane); token loading and the
bearer gate; the --http address, the client snippets and the prompts.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prx_email.adapters.cli._common import CommandError
from prx_email.adapters.cli.cmd_mcp import parse_address
from prx_email.adapters.mcp import (
    BearerGate,
    Change,
    HttpSettings,
    McpApp,
    StoreWatcher,
    Subscriptions,
    as_result,
    as_tools,
    build_server,
    load_token,
    snippet,
)
from prx_email.adapters.mcp._changes import diff
from prx_email.adapters.mcp._prompts import get_prompt
from prx_email.adapters.mcp._tools import is_slow
from prx_email.config.hosts import is_loopback
from prx_email.errors import ConfigError, StorageError
from prx_email.store.changes import ChangeStamps
from prx_email.store.db import Database

CATALOGUE = [
    {
        "name": "email.list",
        "description": "List.",
        "input_schema": {"type": "object", "properties": {}, "additionalProperties": False},
        "effects": {"network": False, "mutates": False},
        "annotations": {"read_only": True, "destructive": False, "idempotent": True},
    },
    {
        "name": "email.send",
        "description": "Send.",
        "input_schema": {"type": "object", "properties": {"to": {"type": "string"}}},
        "effects": {"network": True, "mutates": True},
        "annotations": {"read_only": False, "destructive": False, "network": True},
    },
]


def test_catalogue_flags_become_annotations() -> None:
    listed, send = as_tools(CATALOGUE)
    assert listed.name == "email.list" and listed.input_schema == CATALOGUE[0]["input_schema"]
    assert listed.annotations is not None and send.annotations is not None
    assert listed.annotations.read_only_hint and listed.annotations.idempotent_hint
    assert not listed.annotations.open_world_hint
    assert send.annotations.open_world_hint and not send.annotations.read_only_hint
    assert not send.annotations.idempotent_hint and not send.annotations.destructive_hint


def test_which_calls_take_the_slow_lane() -> None:
    search = {
        "name": "email.search",
        "input_schema": {"properties": {"remote": {}}},
        "effects": {"network": True, "mutates": False},
    }
    folders = {"name": "email.folders", "effects": {"network": True, "mutates": False}}
    listed, send = CATALOGUE
    assert not is_slow(listed, {}, network_on=True)
    assert is_slow(send, {}, network_on=False)
    assert not is_slow(search, {"query": "x"}, network_on=True)
    assert is_slow(search, {"remote": True}, network_on=True)
    assert not is_slow(search, {"remote": True}, network_on=False)
    assert is_slow(folders, {}, network_on=True) and not is_slow(folders, {}, network_on=False)


def test_envelopes_become_results() -> None:
    ok = as_result("email.list", {"ok": True, "data": {"messages": [1, 2], "next_cursor": "c"}})
    assert not ok.is_error and ok.structured_content == {"messages": [1, 2], "next_cursor": "c"}
    assert ok.content[0].text.startswith("email.list: ok (2 messages); more with cursor")
    items = as_result("email.accounts", {"ok": True, "data": [{"id": 1}]})
    assert items.structured_content == {"items": [{"id": 1}]}
    err = {"code": "EMAIL_NOT_FOUND", "message": "gone", "hint": "list again"}
    failed = as_result("email.get", {"ok": False, "error": err})
    assert failed.is_error and failed.structured_content == err
    assert failed.content[0].text == "EMAIL_NOT_FOUND: gone\nhint: list again"
    long = as_result("email.get", {"ok": True, "data": {"body": "x" * 20_000}})
    assert len(long.content[0].text) < 9000 and long.structured_content["body"] == "x" * 20_000


def test_diff_names_what_changed() -> None:
    old = ChangeStamps({1: (3, 10, 1), 2: (1, 4, 0)}, (0, 0, 0.0))
    new = ChangeStamps({1: (3, 10, 0), 2: (1, 4, 0), 3: (1, 11, 1)}, (1, 1, 5.0))
    assert diff(old, new) == [Change("account", 1), Change("account", 3), Change("outbox")]
    assert diff(new, new) == []


class FakeSession:
    def __init__(self, *, fail: bool = False) -> None:
        self.seen: list[str] = []
        self.fail = fail

    async def send_resource_updated(self, uri: str) -> None:
        if self.fail:
            raise ConnectionError("gone")
        self.seen.append(uri)


class FlakySource:
    """Fails on the first connection, then reports one change per connection."""

    def __init__(self) -> None:
        self.calls = 0

    async def changes(self) -> AsyncIterator[Change]:
        self.calls += 1
        if self.calls == 1:
            raise StorageError("the store is locked")
        yield Change("account", 1)
        yield Change("outbox")


async def test_a_subscription_survives_the_source_reconnecting() -> None:
    subs = Subscriptions(retry_delay=0.01)
    alive, dead = FakeSession(), FakeSession(fail=True)
    subs.subscribe(alive, "email://accounts/1/unread")
    subs.subscribe(dead, "email://outbox")
    source = FlakySource()
    pump = asyncio.create_task(subs.pump(source))
    try:
        for _ in range(1000):  # up to 10 s: a loaded machine schedules the pump late
            if source.calls >= 3 and len(alive.seen) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        pump.cancel()
    assert source.calls >= 3 and subs.connects >= 3
    assert alive.seen[:2] == ["email://accounts/1/unread"] * 2  # one per reconnection
    assert subs.subscribed() == {"email://accounts/1/unread"}  # the dead session is dropped


async def test_the_store_watcher_sees_another_connections_commits(tmp_path: Path) -> None:
    db = Database(tmp_path / "mail.db")
    watcher = StoreWatcher(db, interval=0.02)
    changes = watcher.changes()
    try:
        first = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.1)  # the baseline is read first
        other = sqlite3.connect(tmp_path / "mail.db")
        other.execute("INSERT INTO messages (account_id, folder, sort_date) VALUES (7, 'INBOX', 0)")
        other.commit()
        other.close()
        assert await asyncio.wait_for(first, 5) == Change("account", 7)
        await changes.aclose()
        # A commit while no one listens is reported on the next connection.
        other = sqlite3.connect(tmp_path / "mail.db")
        other.execute("UPDATE messages SET seen = 1 WHERE account_id = 7")
        other.commit()
        other.close()
        changes = watcher.changes()
        assert await asyncio.wait_for(anext(changes), 5) == Change("account", 7)
    finally:
        await changes.aclose()
        watcher.close()
        db.close()


class FakePlugin:
    """``execute`` blocks network tools until ``release`` is set; reads answer at once."""

    def __init__(self, pool_size: int = 2) -> None:
        self.limits = SimpleNamespace(pool_size=pool_size)
        self.context = SimpleNamespace(db=None)
        self.release = threading.Event()
        self.started: list[str] = []
        self.finished: list[str] = []

    def describe(self) -> list[dict[str, Any]]:
        return CATALOGUE

    def execute(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        self.started.append(f"{tool}:{args.get('n')}")
        if tool == "email.send":
            self.release.wait(10)
        self.finished.append(f"{tool}:{args.get('n')}")
        return {"ok": True, "data": {}}


class NoChanges:
    async def changes(self) -> AsyncIterator[Change]:
        await asyncio.Event().wait()
        yield Change("outbox")  # pragma: no cover


async def _until(predicate: Any, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_reads_pass_slow_tools_and_a_cancelled_call_keeps_its_lane() -> None:
    plugin = FakePlugin(pool_size=2)  # slow lane: 1
    app = McpApp(plugin, source=NoChanges())  # type: ignore[arg-type]
    first = asyncio.create_task(app.execute("email.send", {"n": 1}))
    second = asyncio.create_task(app.execute("email.send", {"n": 2}))
    await _until(lambda: "email.send:1" in plugin.started)
    # A read is answered while the slow lane is full.
    assert (await asyncio.wait_for(app.execute("email.list", {}), 2))["ok"]
    assert "email.send:2" not in plugin.started
    # Cancelling the waiter returns at once; the call itself goes on and holds the lane.
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.sleep(0.05)
    assert "email.send:2" not in plugin.started and "email.send:1" not in plugin.finished
    plugin.release.set()
    assert (await asyncio.wait_for(second, 5))["ok"]
    assert plugin.finished == ["email.list:None", "email.send:1", "email.send:2"]


def test_token_from_a_private_file_or_the_env(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_token(token_file, {})
    token_file.chmod(0o600)
    assert load_token(token_file, {"PRX_EMAIL_MCP_TOKEN": "other"}) == "s3cret"
    assert load_token(None, {"PRX_EMAIL_MCP_TOKEN": " env-token "}) == "env-token"
    assert load_token(None, {}) is None
    with pytest.raises(ConfigError, match="cannot read"):
        load_token(tmp_path / "missing", {})
    assert "s3cret" not in repr(HttpSettings("127.0.0.1", 0, "s3cret"))


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.org", "::"))
    assert parse_address("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_address("[::1]:0") == ("::1", 0)
    for bad in ("8765", "host:", "h:99999", ":80"):
        with pytest.raises(CommandError):
            parse_address(bad)


async def test_the_bearer_gate() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    gate = BearerGate(app, "tok")

    async def status(headers: list[tuple[bytes, bytes]]) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        await gate({"type": "http", "headers": headers}, None, send)  # type: ignore[arg-type]
        return int(sent[0]["status"])

    assert await status([]) == 401
    assert await status([(b"authorization", b"Bearer nope")]) == 401
    assert await status([(b"authorization", b"Bearer tok")]) == 200


@pytest.mark.parametrize("client", ["claude", "vscode", "cursor"])
def test_client_snippets_name_an_absolute_command(client: str) -> None:
    document = json.loads(snippet(client, db="mail.db"))
    entry = (document.get("mcpServers") or document["servers"])["prx-email"]
    assert Path(entry["command"]).is_absolute()
    assert "mcp" in entry["args"] and str(Path("mail.db").resolve()) in entry["args"]
    assert ("type" in entry) == (client == "vscode")


def test_prompts_check_their_arguments() -> None:
    text = get_prompt("summarise_thread", {"message_id": "12"}).messages[0].content
    assert "id=12" in getattr(text, "text", "")
    with pytest.raises(ValueError, match="needs the argument message_id"):
        get_prompt("summarise_thread", {})
    with pytest.raises(ValueError, match="positive integer"):
        get_prompt("draft_reply", {"message_id": "1; DROP"})


def test_http_on_a_public_address_without_a_token_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from prx_email.adapters.cli.main import main

    monkeypatch.delenv("PRX_EMAIL_MCP_TOKEN", raising=False)
    code = main(["mcp", "--db", str(tmp_path / "mail.db"), "--http", "0.0.0.0:0"])
    err = capsys.readouterr().err
    assert code == 1 and "refusing to serve 0.0.0.0 without a bearer token" in err
    assert "--token-file" in err and not (tmp_path / "mail.db").exists()


def test_a_made_token_file_is_private(tmp_path: Path) -> None:
    from prx_email.adapters.mcp import make_token_file

    path = tmp_path / "state" / "mcp-token"
    token = make_token_file(path)
    assert len(token) >= 32 and (path.stat().st_mode & 0o777) == 0o600
    assert load_token(path, {}) == token


class QueueSource:
    """A change source the test feeds by hand."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Change] = asyncio.Queue()

    async def changes(self) -> AsyncIterator[Change]:
        while True:
            yield await self.queue.get()


async def test_a_2026_listen_stream_hears_resource_updates() -> None:
    """The modern era's subscriptions/listen, in process (mcp.Client over build_server)."""
    from mcp import Client
    from mcp.server.subscriptions import ResourceUpdated

    source = QueueSource()
    app = McpApp(FakePlugin(), source=source)  # type: ignore[arg-type]
    app.start()
    try:
        async with Client(build_server(app)) as client:
            assert client.session.protocol_version == "2026-07-28"
            async with client.listen(resource_subscriptions=["email://outbox"]) as sub:
                await source.queue.put(Change("account", 3))  # not listened to
                await source.queue.put(Change("outbox"))
                event = await asyncio.wait_for(anext(aiter(sub)), 5)
        assert event == ResourceUpdated(uri="email://outbox")
    finally:
        await app.stop()
