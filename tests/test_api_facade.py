"""``services.facade.Services``: async services on the façade's own loop, account checks."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from prx_email.config import (
    AccountConfig,
    Config,
    PasswordAuth,
    ServerConfig,
    SyncSettings,
    TlsMode,
)
from prx_email.errors import AccountNotFound, OperationTimeout
from prx_email.services import sync as sync_service
from prx_email.services.context import ServiceContext
from prx_email.services.facade import Services
from prx_email.store.db import Database
from prx_email.types import ListQuery, SyncReport, SyncRequest

IMAP = ServerConfig("127.0.0.1", 1, TlsMode.NONE, "me", PasswordAuth(password_env="X"))
CONFIG = Config(
    accounts=(
        AccountConfig(
            1, "One", "one@example.org", imap=IMAP, sync=SyncSettings(folders=("INBOX", "Archive"))
        ),
        AccountConfig(2, "Two", "two@example.org"),
    )
)


@pytest.fixture
def services(tmp_path: Path):
    db = Database(tmp_path / "m.db")
    svc = Services(ServiceContext(config=CONFIG, db=db), timeout=2.0)
    yield svc
    svc.close()
    db.close()


def test_accounts_come_from_the_config(services: Services) -> None:
    one, two = services.accounts()
    assert (one.id, one.address, one.has_imap, one.has_smtp) == (1, "one@example.org", True, False)
    assert one.folders == ("INBOX", "Archive")
    assert (two.id, two.has_imap) == (2, False)


def test_unknown_account_is_refused_before_the_service(services: Services) -> None:
    with pytest.raises(AccountNotFound):
        services.list_messages(ListQuery(account_id=9))
    with pytest.raises(AccountNotFound):
        services.sync(SyncRequest(account_id=9))


def test_local_list_runs_on_the_calling_thread(services: Services) -> None:
    page = services.list_messages(ListQuery(account_id=1))
    assert page.messages == ()


def test_async_services_run_on_the_private_loop(services: Services, monkeypatch) -> None:
    seen: dict[str, object] = {}

    async def fake_sync(ctx, req):
        seen["thread"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()
        return SyncReport(req.account_id, ())

    monkeypatch.setattr(sync_service, "sync", fake_sync)
    assert services.sync(SyncRequest(account_id=1)) == SyncReport(1, ())
    assert seen["thread"] == "prx-email-services"


async def test_async_services_never_use_the_callers_loop(services: Services, monkeypatch) -> None:
    caller = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []

    async def fake_sync(ctx, req):
        seen.append(asyncio.get_running_loop())
        return SyncReport(req.account_id, ())

    monkeypatch.setattr(sync_service, "sync", fake_sync)
    await asyncio.to_thread(services.sync, SyncRequest(account_id=1))
    assert seen and seen[0] is not caller


def test_a_slow_service_times_out_and_is_cancelled(services: Services, monkeypatch) -> None:
    cancelled = threading.Event()

    async def slow(ctx, req):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(sync_service, "sync", slow)
    services.timeout = 0.2
    with pytest.raises(OperationTimeout) as caught:
        services.sync(SyncRequest(account_id=1))
    assert cancelled.wait(2)
    # It names the timeout that fired, and the hint fits a sync.
    assert caught.value.message == (
        "the sync was stopped by the host's 0.2 s limit for one service call"
    )
    assert caught.value.hint and "max_messages" in caught.value.hint


def test_the_service_timeout_is_a_constructor_argument_and_named(tmp_path: Path) -> None:
    from prx_email.services import outbox as outbox_service

    db = Database(tmp_path / "t.db")
    svc = Services(ServiceContext(config=CONFIG, db=db), timeout=0.1)
    assert svc.timeout == 0.1

    async def slow_retry(ctx, outbox_id, *, now=False):
        await asyncio.sleep(30)

    original = outbox_service.retry
    outbox_service.retry = slow_retry  # type: ignore[assignment]
    try:
        with pytest.raises(OperationTimeout) as caught:
            svc.retry(5, now=True)
    finally:
        outbox_service.retry = original
        svc.close()
        db.close()
    assert "0.1 s limit for one service call" in caught.value.message
    assert "max_messages" not in (caught.value.hint or "")  # not a sync: no sync advice
