"""`prx-email mcp --http` (streamable HTTP), with the network flag off, against a real aiosmtpd.

One server subprocess for the module: requests without the bearer token, or with a wrong
one, get 401; the SDK's client with the token sees the tools; email.send is an isError
result with EMAIL_NETWORK_DISABLED and the SMTP server saw nothing (no connection at all);
a subscriber hears of mail that another process imports into the store.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.smtpd import PASSWORD, PASSWORD_ENV, USER, SmtpSink
from helpers.imap import make_msg
from helpers.mcp import HttpServer, McpClient, http_connect, write_config
from prx_email.services import importer
from prx_email.store.db import Database

pytestmark = [
    pytest.mark.integration,
    pytest.mark.component,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

TOKEN = "t0ken-for-the-mcp-http-tests"


class Env:
    def __init__(self, server: HttpServer, client: McpClient, sink: SmtpSink, db: Path) -> None:
        self.server, self.client, self.sink, self.db = server, client, sink, db


@pytest.fixture(scope="module")
def env(plugin_wasm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("mcp-http")
    sink = SmtpSink(tls="none").start()
    config = write_config(
        tmp / "config.toml",
        smtp_port=sink.port,
        smtp_user=USER,
        smtp_password_env=PASSWORD_ENV,
    )
    proc_env = {
        **os.environ,
        PASSWORD_ENV: PASSWORD,
        "PRX_EMAIL_MCP_TOKEN": TOKEN,
        "XDG_CONFIG_HOME": str(tmp / "xdg"),
    }
    proc_env.pop("PRX_EMAIL_ENABLE_REAL_NETWORK", None)
    args = ("--db", str(tmp / "mail.db"), "--config", str(config), "--metrics", "127.0.0.1:0")
    server = HttpServer(proc_env, *args, errlog=tmp / "stderr.log")
    try:
        client = McpClient(http_connect(server.url, TOKEN))
        try:
            yield Env(server, client, sink, tmp / "mail.db")
        finally:
            client.close()
    finally:
        server.stop()
        sink.stop()


def _post(url: str, headers: dict[str, str]) -> int:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_without_or_with_a_wrong_token_it_is_401(env: Env) -> None:
    assert _post(env.server.url, {}) == 401
    assert _post(env.server.url, {"authorization": "Bearer wrong"}) == 401
    assert _post(env.server.url, {"authorization": TOKEN}) == 401  # not a bearer scheme
    assert _post(env.server.url, {"authorization": f"Bearer {TOKEN}"}) == 200
    assert TOKEN not in env.server.errlog.read_text()


def test_tools_over_http(env: Env) -> None:
    names = {t.name for t in env.client.run(lambda s: s.list_tools()).tools}
    assert {"email.list", "email.send", "email.outbox"} <= names


def test_send_with_the_network_off_is_refused_and_nothing_reaches_smtp(env: Env) -> None:
    args = {"account_id": 1, "to": "bob@example.org", "subject": "hi", "body_text": "hello"}
    result = env.client.run(lambda s: s.call_tool("email.send", args))
    assert result.is_error
    assert result.structured_content["code"] == "EMAIL_NETWORK_DISABLED"
    assert "PRX_EMAIL_ENABLE_REAL_NETWORK" in result.structured_content["hint"]
    assert env.sink.received == [] and env.sink.handler.connections == 0
    outbox = env.client.run(lambda s: s.call_tool("email.outbox", {}))
    assert not outbox.is_error and outbox.structured_content["entries"] == []


def test_a_subscriber_hears_of_mail_another_process_imports(env: Env, tmp_path: Path) -> None:
    """The watcher sees another process's commit; the notification rides the HTTP stream."""
    uri = "email://accounts/1/unread"
    env.client.run(lambda s: s.subscribe_resource(uri))
    seen = len(env.client.notifications)
    eml = tmp_path / "new.eml"
    eml.write_bytes(make_msg(5, subject="Imported while serving"))
    db = Database(env.db)
    try:
        assert importer.import_path(db, eml, account_id=1, folder="INBOX").imported == 1
    finally:
        db.close()
    assert env.client.updated(uri, after=seen), env.client.notifications[seen:]
    read = env.client.run(lambda s: s.read_resource(uri))
    assert "Imported while serving" in read.contents[0].text


def test_the_metrics_endpoint_counts_the_servers_sandbox_calls(env: Env) -> None:
    found = re.search(r"metrics: serving (http://\S+)", env.server.errlog.read_text())
    assert found, env.server.errlog.read_text()
    assert not env.client.run(lambda s: s.call_tool("email.accounts", {})).is_error
    with urllib.request.urlopen(found.group(1), timeout=10) as response:
        page = response.read().decode()
    calls = [
        line
        for line in page.splitlines()
        if line.startswith("prx_email_sandbox_calls_total{")
        and 'tool="email.accounts"' in line
        and 'outcome="ok"' in line
    ]
    assert calls and float(calls[0].rsplit(" ", 1)[1]) >= 1, page
    assert "prx_email_outbox_rows{" in page  # the store's gauges too
