"""The IDLE watcher (issue 13, item 1) against real Dovecots, in the test's own process.

A second, plain imaplib connection changes the mailbox (APPEND, STORE, EXPUNGE) the way
another mail client would; the assertions read the store the watcher writes. Private
Dovecots: one the test restarts (a server drop), one that offers no IDLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from fixtures.dovecot import PW_ENV, DovecotServer, account, no_idle_conf, start_dovecot
from helpers.imap import make_msg, new_folder
from helpers.mailbox import admin
from prx_email.auth.credentials import StaticCredentialProvider
from prx_email.config.model import AccountConfig, AttachmentPolicy, Config, IdleMode
from prx_email.services.context import ServiceContext
from prx_email.services.scheduler import JobReport, SyncJob
from prx_email.services.watch import (
    IdleUnavailable,
    WatchMode,
    WatchReport,
    WatchSettings,
    WatchStarted,
    watch,
)
from prx_email.store.db import Database

pytestmark = pytest.mark.integration

#: Fast reconnects: a test must not wait out production backoff.
FAST = WatchSettings(reconnect_base_seconds=0.2, reconnect_max_seconds=1.0)


def _rows(ctx: ServiceContext, folder: str) -> list[tuple[int, str, str]]:
    """(uid, message_id, flags) of every stored message of ``folder``, by UID."""
    with contextlib.closing(sqlite3.connect(ctx.db.path)) as conn:
        return conn.execute(
            "SELECT uid, message_id, flags FROM messages WHERE folder = ? ORDER BY uid",
            (folder,),
        ).fetchall()


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until ``cond()`` held (fails after ``timeout``)."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def _on(server: DovecotServer, folder: str, *commands: tuple[str, ...]) -> None:
    """Run IMAP commands on ``folder`` over a second connection (another client)."""
    m = admin(server)
    try:
        m.select(f'"{folder}"')
        for cmd in commands:
            typ, data = m.uid(*cmd) if cmd[0] in ("STORE", "FETCH") else getattr(m, cmd[0])()
            assert typ == "OK", (cmd, data)
    finally:
        m.logout()


def _append(server: DovecotServer, folder: str, raw: bytes) -> None:
    m = admin(server)
    try:
        typ, data = m.append(f'"{folder}"', None, None, raw)
        assert typ == "OK", data
    finally:
        m.logout()


class _Watch:
    """A running ``watch`` and what it reported."""

    def __init__(self) -> None:
        self.reports: list[WatchReport] = []
        self.task: asyncio.Task[None] | None = None

    @property
    def started(self) -> list[WatchStarted]:
        return [r for r in self.reports if isinstance(r, WatchStarted)]

    @property
    def failures(self) -> list[JobReport]:
        return [r for r in self.reports if isinstance(r, JobReport) and r.error_code]


@contextlib.asynccontextmanager
async def _watching(
    ctx: ServiceContext, folder: str, settings: WatchSettings = FAST
) -> AsyncIterator[_Watch]:
    w = _Watch()
    w.task = asyncio.create_task(watch(ctx, [SyncJob(1, folder)], settings, w.reports.append))
    try:
        await _until(lambda: bool(w.started) or w.task.done())  # type: ignore[union-attr]
        yield w
    finally:
        w.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await w.task


def _ctx(make_ctx, server: DovecotServer, folder: str, **sync: object) -> ServiceContext:
    acc = account(server, folders=(folder,))
    acc = dataclasses.replace(acc, sync=dataclasses.replace(acc.sync, **sync))  # type: ignore[arg-type]
    return make_ctx(acc)


async def test_idle_wakes_on_new_mail_flag_change_and_expunge(dovecot, make_ctx) -> None:
    folder = new_folder("Idle")
    dovecot.add_messages([make_msg(1)], folder)
    ctx = _ctx(make_ctx, dovecot, folder)
    async with _watching(ctx, folder) as w:
        (start,) = w.started
        assert start.mode is WatchMode.IDLE and start.reissue_seconds == 28 * 60
        await _until(lambda: len(_rows(ctx, folder)) == 1)  # the catch-up sync

        await asyncio.to_thread(_append, dovecot, folder, make_msg(2))
        took = await _until(lambda: len(_rows(ctx, folder)) == 2, timeout=5)
        assert took < 1.5, f"new mail took {took:.2f} s"

        uid = _rows(ctx, folder)[0][0]
        await asyncio.to_thread(_on, dovecot, folder, ("STORE", str(uid), "+FLAGS", "(\\Flagged)"))
        took = await _until(lambda: "\\Flagged" in _rows(ctx, folder)[0][2], timeout=5)
        assert took < 1.5, f"flag change took {took:.2f} s"

        await asyncio.to_thread(
            _on, dovecot, folder, ("STORE", str(uid), "+FLAGS", "(\\Deleted)"), ("expunge",)
        )
        took = await _until(lambda: uid not in [r[0] for r in _rows(ctx, folder)], timeout=5)
        assert took < 1.5, f"expunge took {took:.2f} s"
        assert len(_rows(ctx, folder)) == 1
        assert not w.failures and len(w.started) == 1  # one connection all along


async def test_a_burst_of_mail_is_coalesced_into_few_syncs(dovecot, make_ctx) -> None:
    """Ten APPENDs in a row: a few syncs, not ten (Dovecot batches its IDLE notices over
    0.5 s; the watcher folds whatever arrives during a sync into the next one)."""
    folder = new_folder("Burst")
    dovecot.create_folder(folder)
    ctx = _ctx(make_ctx, dovecot, folder)
    async with _watching(ctx, folder) as w:
        await _until(lambda: any(isinstance(r, JobReport) for r in w.reports))  # caught up
        before = len(w.reports)

        def burst() -> None:
            m = admin(dovecot)
            try:
                for i in range(10):
                    m.append(f'"{folder}"', None, None, make_msg(i))
            finally:
                m.logout()

        await asyncio.to_thread(burst)

        def syncs() -> list[JobReport]:
            return [r for r in w.reports[before:] if isinstance(r, JobReport) and r.ran]

        await _until(lambda: sum(r.synced for r in syncs()) == 10, timeout=10)
        assert len(_rows(ctx, folder)) == 10
        assert len(syncs()) <= 3, [r.synced for r in syncs()]  # not one sync per message


async def test_idle_is_reissued_before_the_limit(dovecot, make_ctx, caplog) -> None:
    folder = new_folder("Reissue")
    ctx = _ctx(make_ctx, dovecot, folder, idle_reissue_minutes=0.005)  # 0.3 s
    dovecot.create_folder(folder)
    caplog.set_level(logging.INFO, logger="prx_email.services.watch")
    async with _watching(ctx, folder) as w:
        assert w.started[0].reissue_seconds == pytest.approx(0.3)
        await _until(lambda: caplog.text.count("IDLE re-issued") >= 3, timeout=5)
        await asyncio.to_thread(_append, dovecot, folder, make_msg(3))
        await _until(lambda: len(_rows(ctx, folder)) == 1, timeout=5)
        assert not w.failures and len(w.started) == 1  # re-issued, never reconnected
    reissues = [r for r in caplog.records if r.getMessage().startswith("IDLE re-issued")]
    assert all(float(r.getMessage().split()[3]) < 0.8 for r in reissues)


def _contexts(server: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``make_ctx`` for a private Dovecot (the session one has its own fixture)."""
    monkeypatch.setenv(PW_ENV, server.password)
    db = Database(tmp_path / "mail.db")

    def make(acc: AccountConfig) -> ServiceContext:
        cfg = Config(accounts=(acc,), attachments=AttachmentPolicy(root=tmp_path / "att"))
        return ServiceContext(config=cfg, db=db, credentials=StaticCredentialProvider())

    yield make
    db.close()


def _private(tmp: Path, extra_conf: str = "") -> Iterator[DovecotServer]:
    server = start_dovecot(tmp, extra_conf=extra_conf)
    try:
        yield server
    finally:
        server.stop()
        if server.root.name.startswith("prx-dovecot-"):
            shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="module")
def private_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    yield from _private(tmp_path_factory.mktemp("dovecot-restart"))


@pytest.fixture
def private_ctx(private_dovecot, tmp_path, monkeypatch):
    yield from _contexts(private_dovecot, tmp_path, monkeypatch)


async def test_a_server_restart_reconnects_and_catches_up(private_dovecot, private_ctx) -> None:
    server = private_dovecot
    folder = new_folder("Drop")
    server.add_messages([make_msg(i) for i in range(3)], folder)
    ctx = _ctx(private_ctx, server, folder)
    async with _watching(ctx, folder) as w:
        await _until(lambda: len(_rows(ctx, folder)) == 3)
        # Down for a while; mail keeps arriving meanwhile (delivered straight to the maildir).
        with server.down():
            server.add_messages([make_msg(i) for i in range(3, 6)], folder)
            await asyncio.sleep(0.5)  # the watcher's reconnects are refused meanwhile
        await _until(lambda: len(_rows(ctx, folder)) == 6, timeout=15)
        # Reconnected: IDLE again, so a new message still arrives at once.
        await asyncio.to_thread(_append, server, folder, make_msg(6))
        await _until(lambda: len(_rows(ctx, folder)) == 7, timeout=5)
        assert w.failures, "the drop was reported"
    rows = _rows(ctx, folder)
    assert len({r[0] for r in rows}) == len({r[1] for r in rows}) == 7  # nothing doubled


@pytest.fixture(scope="module")
def no_idle_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    yield from _private(tmp_path_factory.mktemp("dovecot-noidle"), no_idle_conf())


@pytest.fixture
def no_idle_ctx(no_idle_dovecot, tmp_path, monkeypatch):
    yield from _contexts(no_idle_dovecot, tmp_path, monkeypatch)


async def test_without_idle_it_polls_at_the_interval(no_idle_dovecot, no_idle_ctx) -> None:
    server = no_idle_dovecot
    folder = new_folder("Poll")
    server.create_folder(folder)
    ctx = _ctx(no_idle_ctx, server, folder)
    settings = dataclasses.replace(FAST, poll_seconds=1.0)
    async with _watching(ctx, folder, settings) as w:
        (start,) = w.started
        assert start.mode is WatchMode.POLL and start.poll_seconds == 1.0
        assert start.reason == "the server does not offer IDLE"
        await asyncio.to_thread(_append, server, folder, make_msg(1))
        took = await _until(lambda: len(_rows(ctx, folder)) == 1, timeout=5)
        assert took < 2.5
        assert not w.failures


async def test_idle_required_fails_at_startup_without_idle(no_idle_dovecot, no_idle_ctx) -> None:
    folder = new_folder("Req")
    no_idle_dovecot.create_folder(folder)
    ctx = _ctx(no_idle_ctx, no_idle_dovecot, folder, idle=IdleMode.REQUIRED)
    reports: list[WatchReport] = []
    with pytest.raises(IdleUnavailable) as err:
        await asyncio.wait_for(watch(ctx, [SyncJob(1, folder)], FAST, reports.append), 10)
    assert err.value.code.envelope == "EMAIL_CONFIG"
    assert 'idle = "required"' in err.value.message and "does not offer IDLE" in err.value.message
    assert err.value.hint and 'idle = "auto"' in err.value.hint
    assert reports == []  # no startup line, no job line: it never watched
    assert _rows(ctx, folder) == []


async def test_idle_off_polls_even_where_idle_is_offered(dovecot, make_ctx) -> None:
    folder = new_folder("Off")
    dovecot.create_folder(folder)
    ctx = _ctx(make_ctx, dovecot, folder, idle=IdleMode.OFF)
    async with _watching(ctx, folder, dataclasses.replace(FAST, poll_seconds=1.0)) as w:
        (start,) = w.started
        assert start.mode is WatchMode.POLL and start.reason == 'idle = "off"'


def test_the_cli_refuses_to_start_when_idle_is_required(no_idle_dovecot, tmp_path) -> None:
    from helpers.cli import cli_env, imap_config, run_cli

    folder = new_folder("ReqCli")
    no_idle_dovecot.create_folder(folder)
    cfg = imap_config(
        tmp_path / "config.toml",
        port=no_idle_dovecot.imaps_port,
        username=no_idle_dovecot.user,
        password_env=PW_ENV,
        ca_file=no_idle_dovecot.ca_file,
        folders=(folder,),
    )
    cfg.write_text(cfg.read_text() + 'idle = "required"\n')  # [accounts.sync] is last
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1", **{PW_ENV: no_idle_dovecot.password})
    text = run_cli("watch", "--config", str(cfg), env=env, timeout=30)
    assert text.returncode == 1, text
    assert 'idle = "required"' in text.stderr and "does not offer IDLE" in text.stderr
    assert "hint: " in text.stderr and "Traceback" not in text.stderr
    assert text.stdout == ""  # no startup line: it never watched
    doc = json.loads(run_cli("sync", "--watch", "--json", "--config", str(cfg), env=env).stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "EMAIL_CONFIG" and doc["error"]["hint"]


async def test_doctor_shows_the_watch_mode_and_fails_a_required_idle(
    no_idle_dovecot, no_idle_ctx
) -> None:
    """Health: the mode ``watch`` would use is in doctor's capability step."""
    from prx_email.auth import CredentialManager
    from prx_email.services.doctor import diagnose

    folder = new_folder("Doc")
    no_idle_dovecot.create_folder(folder)
    for idle, status, text in (
        (IdleMode.AUTO, "warn", "watch mode: poll (the server does not offer IDLE)"),
        (IdleMode.REQUIRED, "fail", 'sets idle = "required" but the IMAP server'),
    ):
        ctx = _ctx(no_idle_ctx, no_idle_dovecot, folder, idle=idle)
        ctx.credentials = CredentialManager()
        (acc,) = (await diagnose(ctx, txt_lookup=_no_txt)).accounts
        check = acc.check("imap.capabilities")
        assert check is not None and check.status == status and text in check.detail, check
        assert check.hint


async def _no_txt(_name: str) -> list[str]:
    return []


async def test_keepalive_is_set_on_the_tls_socket(dovecot, make_ctx) -> None:
    import socket

    from prx_email.services.imap_login import login

    ctx = make_ctx()
    client = await login(ctx.credentials, ctx.config.accounts[0])
    try:
        assert client.keepalive(idle_seconds=45, interval=10, count=3)
        sock = client._r.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 45
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        await client.logout()


async def test_idle_offered_but_refused_polls_and_says_so(dovecot, make_ctx, monkeypatch) -> None:
    from prx_email.mail.imap import CommandFailed
    from prx_email.mail.imap._response import Tagged
    from prx_email.services import watch as watch_module

    async def refused(client, **_kw):
        raise CommandFailed("IDLE", Tagged("BAD", b"IDLE disabled here"))

    monkeypatch.setattr(watch_module, "idle", refused)  # the server's answer, faked
    folder = new_folder("Refused")
    dovecot.create_folder(folder)
    ctx = _ctx(make_ctx, dovecot, folder)
    async with _watching(ctx, folder, dataclasses.replace(FAST, poll_seconds=1.0)) as w:
        await _until(lambda: len(w.started) == 2)
        first, then = w.started
        assert first.mode is WatchMode.IDLE and then.mode is WatchMode.POLL
        assert "refused it" in then.reason and "IDLE disabled here" in then.reason
        await asyncio.to_thread(_append, dovecot, folder, make_msg(1))
        await _until(lambda: len(_rows(ctx, folder)) == 1, timeout=5)
        assert not w.failures  # a refusal is no failure: polling works


async def test_mail_reported_inside_a_sync_command_is_synced_at_once(
    dovecot, make_ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    # New mail while the watcher's session has a command on the wire is reported in that
    # command's answer, and never again: the IDLE that follows would not wake for it (it
    # did not, before: the message waited for the next push or the 28-minute re-issue).
    from prx_email.services import sync as sync_mod

    folder = new_folder("DuringSync")
    dovecot.add_messages([make_msg(1)], folder)
    ctx = _ctx(make_ctx, dovecot, folder)
    real = sync_mod.sync_folder
    calls = 0

    async def racing(ctx_, acc, client, name, **kwargs):
        nonlocal calls
        rep = await real(ctx_, acc, client, name, **kwargs)
        calls += 1
        if calls == 1:
            await asyncio.to_thread(_append, dovecot, folder, make_msg(2))
            await client.command([b"NOOP"])  # its answer carries "* 2 EXISTS"
        return rep

    monkeypatch.setattr(sync_mod, "sync_folder", racing)
    async with _watching(ctx, folder) as w:
        await _until(lambda: len(_rows(ctx, folder)) == 2, timeout=5)
        await _until(lambda: calls == 2)  # the second sync stores the row before it returns
        assert not w.failures
