"""Scheduled send (issue 12): send_at, the ``scheduled`` row, email.cancel, drains that wait.

The host checks every bound of ``send_at`` whatever the guest sends (the hostile guest calls
the host's ``send`` directly); delivery is checked against a real aiosmtpd, and the restart
test runs the real ``prx-email send-due --watch`` twice as separate processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fixtures.component import PluginFactory
from fixtures.smtpd import Received, SmtpSink
from helpers.chaos import cli, spawn_send_due, write_config
from helpers.outbox import account, context
from prx_email import NETWORK_ENV
from prx_email.api import load_config
from prx_email.bridge.policy import MODE_ENV
from prx_email.config import Config
from prx_email.config.loader import parse_config
from prx_email.config.model import AccountConfig, SendSettings
from prx_email.errors import CancelTooLate, ConfigError, InvalidArgument
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store import db as store_db
from prx_email.store.db import Database
from prx_email.store.outbox import OutboxRepo
from prx_email.types import OutboxStatus, OutgoingMessage

NOW = 1_800_000_000.0


def _iso(ts: float, zone: str = "Z") -> str:
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", zone)


# -- the one parser ------------------------------------------------------------------------


def _acc(sink: SmtpSink | None = None, horizon: float = 30.0) -> AccountConfig:
    send = SendSettings(schedule_horizon_days=horizon, append_to_sent=False)
    if sink is None:
        return AccountConfig(id=1, name="a", address="me@example.com", send=send)
    return dataclasses.replace(account(sink), send=send)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2027-01-15T10:00:00", "no zone"),
        ("2027-01-15", "not a date-time"),
        ("tomorrow at nine", "not a date-time"),
        ("2027-13-40T10:00:00Z", "not a date-time"),
        (_iso(NOW - 1), "not in the future"),
        (_iso(NOW), "not in the future"),
        (_iso(NOW + 31 * 86_400), "more than 30 days ahead"),
    ],
)
def test_bad_send_at_is_invalid_argument_with_a_hint(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        outbox.parse_send_at(_acc(), text, NOW)
    assert why in exc.value.message and "nothing was queued" in exc.value.message
    assert exc.value.hint


def test_good_send_at_with_any_zone_and_the_configured_horizon() -> None:
    assert outbox.parse_send_at(_acc(), None, NOW) is None
    assert outbox.parse_send_at(_acc(), _iso(NOW + 60), NOW) == NOW + 60
    plus_one = datetime.fromtimestamp(NOW + 60, UTC).astimezone(timezone(timedelta(hours=1)))
    assert outbox.parse_send_at(_acc(), plus_one.isoformat(), NOW) == NOW + 60
    assert outbox.parse_send_at(_acc(horizon=40), _iso(NOW + 31 * 86_400), NOW)
    with pytest.raises(InvalidArgument, match=r"more than 0\.5 days"):
        outbox.parse_send_at(_acc(horizon=0.5), _iso(NOW + 86_400), NOW)


# -- the host refuses what a raw guest call asks -------------------------------------------


@pytest.mark.integration
@pytest.mark.component
def test_hostile_guest_send_at_in_the_past_is_refused_and_nothing_is_queued(
    smtpd: SmtpSink,
    hostile_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.delenv(MODE_ENV, raising=False)
    db = Database(tmp_path / "sched.db")
    plugin = make_plugin(hostile_wasm, deadline=10.0, db=db, config=Config(accounts=(_acc(smtpd),)))
    now = time.time()
    for send_at in (_iso(now - 60), "2030-01-01T00:00:00", _iso(now + 90 * 86_400), "soon"):
        for action in ("host-send", "host-reply"):
            env = plugin.execute(action, {"account_id": 1, "message": 1, "send_at": send_at})
            assert env["ok"] is False, (action, send_at, env)
            assert env["error"]["code"] == "EmailError_InvalidArgument", env
            assert "send_at" in env["error"]["message"] and env["error"]["hint"]
    assert smtpd.handler.connections == 0
    assert OutboxRepo(db).counts() == {}
    # The control: a future time is accepted and scheduled, still without any connection.
    env = plugin.execute("host-send", {"account_id": 1, "send_at": _iso(now + 3600)})
    assert env == {"ok": True, "data": "SCHEDULED"}, env
    assert smtpd.handler.connections == 0
    assert OutboxRepo(db).counts() == {"scheduled": 1}


@pytest.mark.integration
@pytest.mark.component
def test_the_guest_schedules_lists_and_cancels(
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.delenv(MODE_ENV, raising=False)
    plugin = make_plugin(plugin_wasm, config=Config(accounts=(_acc(smtpd),)))
    at = int(time.time()) + 3600
    args = {"account_id": 1, "to": "bob@example.org", "subject": "later", "body_text": "b"}
    row = plugin.execute("email.send", {**args, "send_at": _iso(at, "+00:00")})
    assert row["ok"] is True, row
    entry = row["data"]
    assert entry["status"] == "scheduled" and entry["send_at"] == at
    assert entry["send_at_iso"] == _iso(at) and entry["next_attempt_at"] == at
    listed = plugin.execute("email.outbox", {"status": "scheduled"})["data"]["entries"]
    assert [(e["id"], e["send_at"]) for e in listed] == [(entry["id"], at)]
    bad = plugin.execute("email.send", {**args, "send_at": "2030-01-01T09:00"})
    assert bad["error"]["code"] == "EMAIL_INVALID_ARGUMENT" and "zone" in bad["error"]["message"]

    cancelled = plugin.execute("email.cancel", {"outbox_id": entry["id"]})["data"]
    assert cancelled["status"] == "cancelled"
    again = plugin.execute("email.cancel", {"outbox_id": entry["id"]})["data"]
    assert again["status"] == "cancelled"  # idempotent
    sent = plugin.execute("email.send", args)["data"]
    assert sent["status"] == "sent" and sent["send_at"] is None
    late = plugin.execute("email.cancel", {"outbox_id": sent["id"]})
    assert late["ok"] is False and late["error"]["code"] == "EMAIL_CANCEL_TOO_LATE"
    assert "sent" in late["error"]["message"] and late["error"]["hint"]
    missing = plugin.execute("email.cancel", {"outbox_id": 999})
    assert missing["error"]["code"] == "EMAIL_NOT_FOUND"
    assert smtpd.handler.count(entry["message_id"]) == 0
    assert smtpd.handler.connections == 1


def test_cancel_refuses_a_row_an_attempt_reached_the_server(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "c.db", _acc(smtpd))  # nothing is sent: queue() only stores
    oid = outbox.queue(ctx, OutgoingMessage(1, ("b@example.org",), "s", body_text="b"))
    ctx.db.connect().execute(
        "UPDATE outbox SET status = 'failed', attempts = 1 WHERE id = ?", (oid,)
    )
    with pytest.raises(CancelTooLate, match="failed: too late") as exc:
        outbox.cancel(ctx, oid)
    assert "1 attempt" in (exc.value.hint or "")
    ctx.db.connect().execute("UPDATE outbox SET status = 'sending' WHERE id = ?", (oid,))
    with pytest.raises(CancelTooLate, match="sending"):
        outbox.cancel(ctx, oid)
    other = outbox.queue(ctx, OutgoingMessage(1, ("b@example.org",), "s", body_text="b"))
    assert outbox.cancel(ctx, other).status is OutboxStatus.CANCELLED  # queued, never tried
    assert (
        OutboxRepo(ctx.db).claim(
            token="t", worker_id="w", now=time.time() + 1e6, lease_until=time.time() + 1e6, limit=9
        )
        == []
    )  # neither a cancelled nor a sending row is ever claimed
    ctx.db.close()


# -- the required test: due after its time, once, across a drainer restart -----------------


@pytest.mark.integration
@pytest.mark.slow
def test_a_scheduled_row_is_delivered_once_after_its_time_across_a_drainer_restart(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "config.toml", smtp_port=smtpd.port, sink=smtpd)
    db = tmp_path / "mail.db"
    accepted: dict[str, float] = {}
    lock = threading.Lock()

    def on_accept(rec: Received) -> None:
        with lock:
            accepted.setdefault(rec.message_id, time.time())

    smtpd.handler.on_accept = on_accept
    ctx = ServiceContext(config=load_config(cfg), db=Database(db))
    due = float(math.ceil(time.time()) + 2)  # 2 to 3 s ahead, a whole second (ISO text)
    msg = OutgoingMessage(1, ("bob@example.org",), "at two", body_text="b", send_at=_iso(due))
    keep = outbox.queue(ctx, msg)
    drop = outbox.queue(ctx, dataclasses.replace(msg, subject="never"))
    assert outbox.cancel(ctx, drop).status is OutboxStatus.CANCELLED
    repo = OutboxRepo(ctx.db)
    keep_id, drop_id = (repo.entry(i).message_id for i in (keep, drop))  # type: ignore[union-attr]
    assert repo.entry(keep).status is OutboxStatus.SCHEDULED  # type: ignore[union-attr]

    first = spawn_send_due(db, cfg, "--watch", "--interval", "30")
    try:
        time.sleep(max(0.0, due - time.time() - 0.4))
        assert first.poll() is None, first.communicate()
        assert smtpd.received == [] and smtpd.handler.connections == 0  # not before its time
    finally:
        first.send_signal(signal.SIGKILL)  # the restart: the drainer dies while it waits
        first.communicate(timeout=10)
    assert time.time() < due, "the machine was too slow to check 'not before'"

    second = spawn_send_due(db, cfg, "--watch", "--interval", "30")
    try:
        deadline = time.time() + 20
        while keep_id not in accepted and time.time() < deadline:
            assert second.poll() is None, second.communicate()
            time.sleep(0.05)
        time.sleep(0.3)  # room for a duplicate to show up
    finally:
        second.send_signal(signal.SIGTERM)  # a clean stop of --watch
        out, err = second.communicate(timeout=20)
    assert second.returncode == 0, err.decode()
    assert keep_id in accepted, err.decode()
    assert accepted[keep_id] >= due
    assert smtpd.handler.count(keep_id) == 1
    assert smtpd.handler.count(drop_id) == 0
    assert repo.entry(keep).status is OutboxStatus.SENT  # type: ignore[union-attr]
    assert repo.entry(drop).status is OutboxStatus.CANCELLED  # type: ignore[union-attr]
    assert b'"sent": 1' in out
    ctx.db.close()


@pytest.mark.integration
async def test_watch_wakes_at_the_due_time_not_at_the_interval(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "w.db", _acc(smtpd))
    start = time.time()
    oid = outbox.queue(
        ctx,
        OutgoingMessage(1, ("b@example.org",), "s", body_text="b", send_at=_iso(start + 1.5)),
    )
    stop = asyncio.Event()
    reports: list[int] = []

    def seen(rep: outbox.DrainReport) -> None:
        reports.append(rep.sent)
        if rep.sent:
            stop.set()

    await asyncio.wait_for(outbox.watch(ctx, interval=60.0, stop=stop, on_report=seen), 15)
    assert time.time() - start < 5  # woke for the row, long before the 60 s interval
    assert reports[0] == 0 and sum(reports) == 1
    assert OutboxRepo(ctx.db).entry(oid).status is OutboxStatus.SENT  # type: ignore[union-attr]
    assert outbox.next_due(ctx) is None
    ctx.db.close()


# -- the store: migration 0008 and the CLI view ----------------------------------------------


def test_migration_0008_keeps_rows_and_attempts_and_allows_the_new_statuses(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    for number, _name, sql in store_db._migrations():
        if number > 7:
            break
        for statement in store_db._split_sql(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO outbox (id, account_id, status, message_id, subject, sender, recipients,"
        " all_recipients, raw, attempts, max_attempts, created_at, updated_at, copy_pending)"
        " VALUES (7, 1, 'sent', '<m@x>', 's', 'a@x', '[]', '[\"b@x\"]', x'00', 1, 6, 1, 1, 1)"
    )
    conn.execute(
        "INSERT INTO outbox_attempts (outbox_id, attempt, attempt_key, claim_token, started_at,"
        " outcome) VALUES (7, 1, 'outbox-7-1', 't', 1, 'sent')"
    )
    conn.commit()
    conn.close()

    db = Database(path)
    try:
        c = db.connect()
        assert c.execute("PRAGMA user_version").fetchone()[0] >= 8
        row = c.execute("SELECT status, copy_pending, send_at, draft_folder FROM outbox").fetchone()
        assert tuple(row) == ("sent", 1, None, None)
        assert c.execute("SELECT outcome FROM outbox_attempts").fetchone()[0] == "sent"
        for status in ("scheduled", "cancelled"):
            c.execute("UPDATE outbox SET status = ? WHERE id = 7", (status,))
        with pytest.raises(sqlite3.IntegrityError):
            c.execute("UPDATE outbox SET status = 'bogus' WHERE id = 7")
        c.execute("DELETE FROM outbox WHERE id = 7")  # the cascade still holds
        assert c.execute("SELECT count(*) FROM outbox_attempts").fetchone()[0] == 0
    finally:
        db.close()


def test_cli_outbox_lists_scheduled_rows_with_their_time_and_cancels(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "config.toml", smtp_port=smtpd.port, sink=smtpd)
    db = tmp_path / "mail.db"
    ctx = ServiceContext(config=load_config(cfg), db=Database(db))
    at = math.ceil(time.time()) + 3600
    msg = OutgoingMessage(1, ("b@example.org",), "later", body_text="b", send_at=_iso(at))
    oid = outbox.queue(ctx, msg)
    ctx.db.close()
    listing = cli(db, cfg, "outbox", "list")
    assert listing.returncode == 0, listing.stderr
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    assert "scheduled acct 1" in listing.stdout and f"at {stamp}" in listing.stdout
    done = cli(db, cfg, "outbox", "cancel", str(oid), "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["id"], shown["status"], shown["send_at"]) == (oid, "cancelled", at)
    assert smtpd.handler.connections == 0


def test_the_horizon_is_a_positive_config_key() -> None:
    base = '[[accounts]]\nid = 1\naddress = "a@example.org"\n[accounts.send]\n'
    (acc,) = parse_config(base + "schedule_horizon_days = 7\n").accounts
    assert acc.send.schedule_horizon_days == 7
    assert parse_config(base).accounts[0].send.schedule_horizon_days == 30
    with pytest.raises(ConfigError, match="schedule_horizon_days"):
        parse_config(base + "schedule_horizon_days = 0\n")


async def test_watch_does_not_spin_on_a_due_row_it_cannot_claim(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "s.db", _acc(smtpd))
    outbox.queue(ctx, OutgoingMessage(1, ("b@example.org",), "s", body_text="b"))
    ctx.config = Config(accounts=())  # the account left the config: its row stays due
    stop = asyncio.Event()
    reports: list[outbox.DrainReport] = []
    task = asyncio.create_task(
        outbox.watch(ctx, interval=60.0, stop=stop, on_report=reports.append)
    )
    await asyncio.sleep(0.6)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(reports) == 1 and reports[0].claimed == 0
    assert smtpd.handler.connections == 0
    ctx.db.close()


async def test_the_watchers_outbox_loop_wakes_for_a_scheduled_row_not_at_the_interval(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    import argparse
    import io

    from prx_email._aio import cancel_and_wait
    from prx_email.adapters.cli import cmd_watch

    ctx = context(tmp_path / "sw.db", _acc(smtpd))
    start = time.time()
    msg = OutgoingMessage(1, ("b@example.org",), "s", body_text="b", send_at=_iso(start + 1.5))
    oid = outbox.queue(ctx, msg)
    loop = asyncio.create_task(
        cmd_watch._outbox_loop(ctx, argparse.Namespace(interval=60.0), io.StringIO())
    )
    try:
        for _ in range(100):
            entry = OutboxRepo(ctx.db).entry(oid)
            if entry is not None and entry.status is OutboxStatus.SENT:
                break
            await asyncio.sleep(0.1)
        assert time.time() - start < 8  # woke for the row, long before the 60 s interval
        assert len(smtpd.received) == 1
    finally:
        # As the watcher stops it (cancel_and_wait: a cancellation can be lost on 3.11),
        # bounded so that a loop which never ends fails here instead of hanging the suite.
        await asyncio.wait_for(cancel_and_wait(loop), 15)
        assert loop.done()
        ctx.db.close()
