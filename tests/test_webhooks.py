"""Webhooks (issue 13) against a real HTTP server in the test process: signature, retries,
order, dead letters, a receiver that was down, secret handling; CLI list/dead/replay."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prx_email.bridge.gate import NETWORK_ENV
from prx_email.config.loader import parse_config
from prx_email.config.model import Config, WebhookConfig
from prx_email.errors import ConfigError, ConnectionFailed, NetworkDisabled
from prx_email.services.context import ServiceContext
from prx_email.services.webhooks import (
    SIGNATURE_HEADER,
    Dispatcher,
    backoff_delay,
    replay,
    sign,
    status,
    verify,
)
from prx_email.store.db import Database
from prx_email.store.events import EventLog
from prx_email.store.webhooks import DeadLetters

SECRET = "s3cr3t-webhook-value-0123456789"


class Receiver:
    """A real HTTP server on 127.0.0.1: answers each POST with the next scripted status."""

    def __init__(self, port: int = 0) -> None:
        self.script: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = owner.script.pop(0) if owner.script else 200
                if code == 200:
                    owner.received.append((dict(self.headers.items()), body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[int]:
        return [json.loads(body)["id"] for _h, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "store.db")
    yield database
    database.close()


def hook(url: str, **kw: Any) -> WebhookConfig:
    base: dict[str, Any] = dict(
        name="ops",
        url=url,
        secret_env="HOOK_SECRET",
        timeout=2.0,
        max_attempts=4,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
    )
    base.update(kw)
    return WebhookConfig(**base)


def context(db: Database, *hooks: WebhookConfig) -> ServiceContext:
    return ServiceContext(config=Config(webhooks=hooks), db=db)


def add_events(db: Database, n: int, *, account_id: int = 1) -> None:
    with db.transaction() as tx:
        for i in range(n):
            tx.execute(
                "INSERT INTO events (type, account_id, folder, subject, ts) VALUES (?, ?, ?, ?, ?)",
                ("new_mail", account_id, "INBOX", f"subject {i}", time.time()),
            )


ENV = {"HOOK_SECRET": SECRET, NETWORK_ENV: "1"}


async def run_once(ctx: ServiceContext, **kw: Any) -> Dispatcher:
    d = Dispatcher(ctx, environ=ENV, **kw)
    await d.run(once=True)
    return d


async def test_each_event_posted_signed_in_order_and_acknowledged(
    db: Database, receiver: Receiver
) -> None:
    h = hook(receiver.url)
    ctx = context(db, h)
    EventLog(db).register("webhook:ops", at=0)
    add_events(db, 3)
    add_events(db, 2, account_id=2)
    await run_once(ctx)
    assert receiver.ids() == [1, 2, 3, 4, 5]
    headers, body = receiver.received[0]
    assert verify(SECRET.encode(), headers[SIGNATURE_HEADER], body)
    assert not verify(b"another secret", headers[SIGNATURE_HEADER], body)
    assert not verify(SECRET.encode(), headers[SIGNATURE_HEADER], body + b" ")
    payload = json.loads(body)
    assert payload["type"] == "new_mail" and payload["subject"] == "subject 0"
    assert headers["X-Prx-Event-Id"] == "1" and headers["Content-Type"] == "application/json"
    assert EventLog(db).cursor("webhook:ops") == 5
    # Acknowledged: a second run sends nothing again.
    await run_once(ctx)
    assert receiver.ids() == [1, 2, 3, 4, 5]


def test_signature_is_hmac_over_timestamp_and_body() -> None:
    import hashlib
    import hmac

    header = sign(b"k", b'{"id":1}', timestamp=1700000000)
    expected = hmac.new(b"k", b'1700000000.{"id":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify(b"k", header, b'{"id":1}', now=1700000100)
    assert not verify(b"k", header, b'{"id":1}', now=1700000000 + 301)  # replayed late


async def test_retries_after_500s_keep_order_and_filters(db: Database, receiver: Receiver) -> None:
    ctx = context(db, hook(receiver.url, account=1))
    EventLog(db).register("webhook:ops", at=0)
    add_events(db, 2)
    add_events(db, 1, account_id=2)  # filtered out
    add_events(db, 1)
    receiver.script = [500, 503, 200, 500]  # event 1 twice, event 2 once
    await run_once(ctx)
    assert receiver.ids() == [1, 2, 4]
    assert DeadLetters(db).list() == []


async def test_filtered_out_events_do_not_hold_the_cursor_back(
    db: Database, receiver: Receiver
) -> None:
    ctx = context(db, hook(receiver.url, types=("bounce",)))
    EventLog(db).register("webhook:ops", at=0)
    add_events(db, 3)
    await run_once(ctx)
    assert receiver.received == []
    assert EventLog(db).cursor("webhook:ops") == 3  # retention may prune them


def test_backoff_is_exponential_capped_and_jittered() -> None:
    h = hook("http://127.0.0.1:1/", backoff_base_seconds=1.0, backoff_max_seconds=10.0)
    top = [backoff_delay(a, h, rng=lambda lo, hi: hi) for a in range(1, 7)]
    low = [backoff_delay(a, h, rng=lambda lo, hi: lo) for a in range(1, 7)]
    assert top == [1, 2, 4, 8, 10, 10]
    assert low == [0.5, 1, 2, 4, 5, 5]


async def test_dead_letter_after_max_attempts_then_delivery_moves_on_and_replay(
    db: Database, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    from prx_email import metrics

    def counted(outcome: str) -> float:
        samples = metrics.snapshot()["prx_email_webhook_deliveries"]["samples"]
        want = {"webhook": "ops", "outcome": outcome}
        return sum(s["value"] for s in samples if s["labels"] == want)

    before = {o: counted(o) for o in ("delivered", "failed", "dead_lettered")}
    caplog.set_level(logging.DEBUG)
    ctx = context(db, hook(receiver.url, max_attempts=3))
    EventLog(db).register("webhook:ops", at=0)
    add_events(db, 2)
    receiver.script = [500, 500, 500]
    await run_once(ctx)
    assert receiver.ids() == [2]
    # Counted: three failed POSTs, one dead letter, then one delivery.
    moved = {o: counted(o) - n for o, n in before.items()}
    assert moved == {"delivered": 1, "failed": 3, "dead_lettered": 1}
    (dead,) = DeadLetters(db).list()
    assert (dead.event_id, dead.attempts, dead.last_error) == (1, 3, "HTTP 500")
    assert json.loads(dead.body)["id"] == 1
    assert EventLog(db).cursor("webhook:ops") == 2
    (st,) = status(ctx)
    assert (st.cursor, st.behind, st.dead) == (2, 0, 1)

    receiver.script = [500]
    with pytest.raises(ConnectionFailed):
        await replay(ctx, dead.id, environ=ENV)
    assert DeadLetters(db).list()[0].replayed_at is None
    done = await replay(ctx, dead.id, environ=ENV)
    assert done.replayed_at is not None and DeadLetters(db).list() == []
    headers, body = receiver.received[-1]
    assert json.loads(body)["id"] == 1 and verify(SECRET.encode(), headers[SIGNATURE_HEADER], body)
    # The secret appears in no log record.
    assert caplog.records and all(SECRET not in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text


async def test_receiver_down_for_a_while_gets_everything_afterwards_in_order(
    db: Database,
) -> None:
    first = Receiver()
    port = first.port
    first.close()  # nobody listens there now: connection refused
    ctx = context(
        db,
        hook(f"http://127.0.0.1:{port}/hook", max_attempts=200, backoff_max_seconds=0.05),
    )
    EventLog(db).register("webhook:ops", at=0)
    add_events(db, 5)
    dispatcher = Dispatcher(ctx, environ=ENV)
    task = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0.4)  # several refused attempts
    add_events(db, 3)
    back = Receiver(port)
    try:
        deadline = time.monotonic() + 10
        while len(back.received) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert back.ids() == list(range(1, 9))
    finally:
        dispatcher.stop.set()
        await asyncio.wait_for(task, 5)
        back.close()
    assert DeadLetters(db).list() == []
    assert EventLog(db).cursor("webhook:ops") == 8


async def test_stopped_mid_retry_does_not_acknowledge(db: Database, receiver: Receiver) -> None:
    ctx = context(db, hook(receiver.url, max_attempts=50, backoff_base_seconds=0.05))
    EventLog(db).register("webhook:ops", at=0)
    add_events(db, 1)
    receiver.script = [500] * 1000
    dispatcher = Dispatcher(ctx, environ=ENV)
    task = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0.2)
    dispatcher.stop.set()
    await asyncio.wait_for(task, 5)
    assert EventLog(db).cursor("webhook:ops") == 0
    assert DeadLetters(db).list() == []


async def test_new_webhook_starts_at_the_newest_event(db: Database, receiver: Receiver) -> None:
    add_events(db, 2)
    ctx = context(db, hook(receiver.url))
    await run_once(ctx)
    add_events(db, 1)
    await run_once(ctx)
    assert receiver.ids() == [3]


def test_secret_file_0644_refused_0600_read(tmp_path: Path, db: Database) -> None:
    secret = tmp_path / "hook.secret"
    secret.write_text(SECRET + "\n")
    os.chmod(secret, 0o644)
    text = f"""
[[webhooks]]
name = "ops"
url = "https://hooks.example.org/prx"
secret_file = "{secret}"
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert "readable by group or others" in err.value.message and SECRET not in str(err.value)
    # Loosened after the config was loaded: the dispatcher refuses it too.
    os.chmod(secret, 0o600)
    cfg = parse_config(text)
    os.chmod(secret, 0o640)
    with pytest.raises(ConfigError):
        Dispatcher(ServiceContext(config=cfg, db=db), environ=ENV)
    os.chmod(secret, 0o600)
    Dispatcher(ServiceContext(config=cfg, db=db), environ=ENV)


def test_missing_env_secret_or_network_flag_refused(db: Database) -> None:
    with pytest.raises(ConfigError) as err:
        Dispatcher(context(db, hook("http://127.0.0.1:1/")), environ={NETWORK_ENV: "1"})
    assert "HOOK_SECRET" in err.value.message and err.value.hint
    with pytest.raises(NetworkDisabled):
        Dispatcher(context(db, hook("http://127.0.0.1:1/")), environ={"HOOK_SECRET": SECRET})


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('url = "ftp://x.example/"\nsecret_env = "S"', "http:// or https://"),
        ('url = "https://u:p@x.example/"\nsecret_env = "S"', "user or password"),
        ('url = "https://x.example/"', "exactly one of secret_env"),
        ('url = "https://x.example/"\nsecret_env = "S"\ntypes = ["nope"]', "unknown event"),
        ('url = "https://x.example/"\nsecret_env = "S"\naccount = 9', "no account"),
        ('url = "https://x.example/"\nsecret_env = "S"\nmax_attempts = 0', "greater than"),
    ],
)
def test_config_refuses(body: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f'[[webhooks]]\nname = "a"\n{body}\n')
    assert problem in err.value.message


def test_config_duplicate_names_refused() -> None:
    one = '[[webhooks]]\nname = "a"\nurl = "https://x.example/"\nsecret_env = "S"\n'
    with pytest.raises(ConfigError, match="duplicates"):
        parse_config(one + one)
    (h,) = parse_config(one).webhooks
    assert h == replace(WebhookConfig(name="a", url="https://x.example/"), secret_env="S")


def test_cli_run_list_dead_replay(
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prx_email.adapters.cli.main import main

    store = tmp_path / "store.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[[webhooks]]\nname = "ops"\nurl = "{receiver.url}"\nsecret_env = "HOOK_SECRET"\n'
        "max_attempts = 2\nbackoff_base_seconds = 0.01\n"
    )
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    database = Database(store)
    EventLog(database).register("webhook:ops", at=0)
    add_events(database, 3)
    database.close()
    base = ["--config", str(cfg), "--db", str(store), "--log-level", "debug"]
    receiver.script = [500, 500]  # event 1 is dead-lettered
    assert main([*base, "webhooks", "run", "--once"]) == 0
    assert receiver.ids() == [2, 3]
    assert main([*base, "webhooks", "list", "--json"]) == 0
    assert main([*base, "webhooks", "dead", "--json"]) == 0
    out = capsys.readouterr()
    assert "3 events delivered or dead-lettered" in out.out
    listed = json.loads(out.out[out.out.index("[") : out.out.index("]") + 1])
    assert listed == [{"name": "ops", "url": receiver.url, "cursor": 3, "behind": 0, "dead": 1}]
    (dead,) = json.loads(out.out[out.out.rindex("[") :])
    assert (dead["event_id"], dead["last_error"]) == (1, "HTTP 500")
    assert "dead-lettered" in out.err and SECRET not in out.out + out.err

    receiver.script = [502]
    assert main([*base, "webhooks", "replay", str(dead["id"])]) == 1
    assert "HTTP 502" in capsys.readouterr().err
    assert main([*base, "webhooks", "replay", str(dead["id"])]) == 0
    assert receiver.ids() == [2, 3, 1]
    assert main([*base, "webhooks", "dead"]) == 0
    assert main([*base, "webhooks", "replay", "999"]) == 1
    out = capsys.readouterr()
    assert "no dead letters" in out.out and "no dead letter with id 999" in out.err
    monkeypatch.delenv(NETWORK_ENV)
    assert main([*base, "webhooks", "run", "--once"]) == 1
    assert NETWORK_ENV in capsys.readouterr().err


def test_watch_runs_the_dispatcher_and_stops_cleanly(tmp_path: Path, receiver: Receiver) -> None:
    import signal
    import subprocess
    import sys

    store = tmp_path / "store.db"
    cfg = tmp_path / "config.toml"
    # An account without servers: watch has nothing to sync but keeps running (and delivering).
    cfg.write_text(
        '[[accounts]]\nid = 1\naddress = "archive@localhost"\n\n'
        f'[[webhooks]]\nname = "ops"\nurl = "{receiver.url}"\nsecret_env = "HOOK_SECRET"\n'
    )
    database = Database(store)
    EventLog(database).register("webhook:ops", at=0)
    env = {**os.environ, **ENV}
    command = [sys.executable, "-m", "prx_email.adapters.cli", "--config", str(cfg)]
    proc = subprocess.Popen(
        [*command, "--db", str(store), "watch", "--interval", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        add_events(database, 2)
        deadline = time.monotonic() + 20
        while len(receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.ids() == [1, 2]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        database.close()
    assert proc.returncode == 0, err
    assert SECRET not in out + err


async def test_run_webhooks_follows_a_reload(db: Database, receiver: Receiver) -> None:
    from prx_email.services.webhooks import run_webhooks

    ctx = context(db)
    reports: list[Exception] = []
    task = asyncio.create_task(run_webhooks(ctx, report=reports.append, environ=ENV))
    try:
        EventLog(db).register("webhook:ops", at=0)
        add_events(db, 1)
        await asyncio.sleep(0.1)
        ctx.config = replace(ctx.config, webhooks=(hook(receiver.url),))  # a SIGHUP reload
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert receiver.ids() == [1]
        ctx.config = replace(ctx.config, webhooks=(hook(receiver.url, secret_env="UNSET"),))
        while not reports and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert isinstance(reports[0], ConfigError) and "UNSET" in str(reports[0])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
