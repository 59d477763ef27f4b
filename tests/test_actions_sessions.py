"""Kept IMAP sessions (services.actions.SessionPool) against the real Dovecot: one login for
calls in a row; a new one after a network error, a config or credential reload, a long idle;
two concurrent calls never share one; close logs them out. Logins are counted twice: by the
pool and in Dovecot's own log."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from email.message import EmailMessage

import pytest
from fixtures.dovecot import DovecotServer
from helpers.mailbox import server_flags
from prx_email.errors import ConnectionFailed, FolderNotFound
from prx_email.mail.imap import ImapClient
from prx_email.services import actions
from prx_email.services import sync as sync_service
from prx_email.services.actions import _pool
from prx_email.services.context import ServiceContext
from prx_email.services.facade import Services
from prx_email.types import ActionOutcome, SyncRequest

pytestmark = pytest.mark.integration

_LOGIN = re.compile(r"imap-login: (?:Info: )?Login: user=<")


def _eml(i: int, tag: str) -> bytes:
    m = EmailMessage()
    m["From"] = "s@example.org"
    m["To"] = "alice@example.org"
    m["Subject"] = f"pool {tag} {i}"
    m["Message-ID"] = f"<pool.{tag}.{i}@example.org>"
    m.set_content("x\n")
    return bytes(m)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _seed(ctx: ServiceContext, dovecot: DovecotServer, n: int) -> tuple[str, list[int]]:
    folder = f"Pool{uuid.uuid4().hex[:8]}"
    dovecot.add_messages([_eml(i, folder) for i in range(n)], folder)
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    keys = [int(r[0]) for r in ctx.db.connect().execute("SELECT id FROM messages ORDER BY uid")]
    return folder, keys


def _logins(dovecot: DovecotServer) -> int:
    """Logins in Dovecot's log, once it has settled: its log process writes lines a moment
    after the event, so a count read at once may miss the newest (seen under load)."""
    count, stable_since = len(_LOGIN.findall(dovecot.log())), time.monotonic()
    deadline = stable_since + 5.0
    while time.monotonic() - stable_since < 0.3 and time.monotonic() < deadline:
        time.sleep(0.05)
        now = len(_LOGIN.findall(dovecot.log()))
        if now != count:
            count, stable_since = now, time.monotonic()
    return count


async def test_calls_in_a_row_log_in_once_and_errors_decide_reuse(
    dovecot, make_ctx, monkeypatch
) -> None:
    ctx = make_ctx()
    folder, keys = await _seed(ctx, dovecot, 3)
    pool = ctx.imap_sessions = actions.SessionPool()
    before = _logins(dovecot)
    assert [r.outcome for r in await actions.mark(ctx, 1, keys, add=["seen"])] == [
        ActionOutcome.CHANGED
    ] * 3
    await actions.mark(ctx, 1, keys[:1], add=["flagged"])
    # A refusal the server answered leaves the session sound: kept.
    with pytest.raises(FolderNotFound):
        await actions.move(ctx, 1, keys[:1], folder=f"Missing{folder}")
    await actions.mark(ctx, 1, keys[:1], remove=["seen"])
    assert pool.logins == 1 and pool.idle_count(1) == 1
    assert _logins(dovecot) == before + 1
    assert server_flags(dovecot, folder)[1] == {"\\Flagged"}
    before = _logins(dovecot)  # server_flags logged in too

    # A network failure mid-call: that session is closed, the next call logs in again.
    real = ImapClient.uid_fetch

    async def broken(self, *a, **kw):  # type: ignore[no-untyped-def]
        raise ConnectionResetError("reset by peer")

    monkeypatch.setattr(ImapClient, "uid_fetch", broken)
    with pytest.raises(ConnectionFailed):
        await actions.mark(ctx, 1, keys, add=["seen"])
    assert pool.idle_count(1) == 0
    monkeypatch.setattr(ImapClient, "uid_fetch", real)
    await actions.mark(ctx, 1, keys, add=["seen"])
    assert pool.logins == 2

    # A config reload (a new Config object) and a credential reload: new logins.
    ctx.config = dataclasses.replace(ctx.config)
    await actions.mark(ctx, 1, keys, add=["seen"])
    assert pool.logins == 3
    pool.invalidate()
    await actions.mark(ctx, 1, keys, add=["seen"])
    assert pool.logins == 4 and pool.idle_count(1) == 1
    assert _logins(dovecot) == before + 3
    await pool.aclose()
    assert pool.idle_count() == 0


async def test_idle_sessions_are_checked_with_noop_then_replaced(dovecot, make_ctx, monkeypatch):
    ctx = make_ctx()
    _, keys = await _seed(ctx, dovecot, 1)
    clock = Clock()
    pool = ctx.imap_sessions = actions.SessionPool(clock=clock)
    sent: list[bytes] = []
    real = ImapClient.send

    async def spy(self, pieces, **kw):  # type: ignore[no-untyped-def]
        sent.append(bytes(pieces[0]))
        return await real(self, pieces, **kw)

    monkeypatch.setattr(ImapClient, "send", spy)
    await actions.mark(ctx, 1, keys, add=["seen"])
    clock.now += _pool.FRESH_SECONDS + 1
    sent.clear()
    await actions.mark(ctx, 1, keys, add=["flagged"])
    assert sent[0] == b"NOOP" and pool.logins == 1
    clock.now += _pool.MAX_IDLE_SECONDS + 1
    sent.clear()
    await actions.mark(ctx, 1, keys, remove=["flagged"])
    assert b"NOOP" not in sent and b"LOGOUT" in sent and pool.logins == 2
    await pool.aclose()


async def test_concurrent_calls_never_share_a_session(dovecot, make_ctx, monkeypatch) -> None:
    ctx = make_ctx()
    _, keys = await _seed(ctx, dovecot, 2)
    pool = ctx.imap_sessions = actions.SessionPool()
    in_use: set[int] = set()
    shared: list[int] = []
    real = ImapClient.uid_fetch

    async def watch(self, *a, **kw):  # type: ignore[no-untyped-def]
        if id(self) in in_use:
            shared.append(id(self))
        in_use.add(id(self))
        try:
            await asyncio.sleep(0.05)  # both calls are inside a command at once
            return await real(self, *a, **kw)
        finally:
            in_use.discard(id(self))

    monkeypatch.setattr(ImapClient, "uid_fetch", watch)
    await asyncio.gather(
        actions.mark(ctx, 1, keys[:1], add=["seen"]), actions.mark(ctx, 1, keys[1:], add=["seen"])
    )
    assert shared == [] and pool.logins == 2 and pool.idle_count(1) == 2
    await pool.aclose()


def test_the_facade_keeps_one_session_and_logs_it_out_at_close(dovecot, make_ctx) -> None:
    ctx = make_ctx()
    _, keys = asyncio.run(_seed(ctx, dovecot, 2))
    services = Services(ctx)
    try:
        before = _logins(dovecot)
        for flag in ("seen", "flagged", "answered"):
            services.mark(1, keys, add=[flag], remove=[])
        services.move(1, keys[:1], folder="INBOX")
        pool = ctx.imap_sessions
        assert isinstance(pool, actions.SessionPool)
        assert pool.logins == 1 and _logins(dovecot) == before + 1
    finally:
        services.close()
    assert pool.idle_count() == 0
