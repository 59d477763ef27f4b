"""The sync runner: concurrency cap, deterministic backoff with a ceiling, per-job reports."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prx_email.config.model import AccountConfig, Config, PasswordAuth, ServerConfig, TlsMode
from prx_email.errors import AuthFailed, ConnectionFailed
from prx_email.services.context import ServiceContext
from prx_email.services.scheduler import (
    RunnerConfig,
    SyncJob,
    backoff_delay,
    jobs_for,
    load_jobs,
    run_sync_runner,
    save_jobs,
)
from prx_email.store.db import Database

CFG = RunnerConfig(
    max_concurrency=3, interval_seconds=300, backoff_base_seconds=10, backoff_max_seconds=100
)


def test_backoff_doubles_up_to_ceiling() -> None:
    assert [backoff_delay(n, CFG) for n in range(7)] == [0, 10, 20, 40, 80, 100, 100]
    assert backoff_delay(10_000, CFG) == 100


async def test_concurrency_cap_is_hard() -> None:
    running = 0
    peak = 0

    async def runner(job: SyncJob) -> tuple[int, bool]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return job.account_id, False

    jobs = [SyncJob(i, "INBOX") for i in range(1, 21)]
    report = await run_sync_runner(jobs, 1000.0, CFG, runner=runner)
    assert peak == 3
    assert [j.synced for j in report.jobs] == list(range(1, 21))
    assert all(j.ran and j.error_code is None and j.next_due == 1300.0 for j in report.jobs)


async def test_failures_back_off_and_reset() -> None:
    outcomes: dict[int, Exception | None] = {
        1: AuthFailed("bad password", hint="fix it"),
        2: ConnectionFailed("refused"),
        3: None,
        4: RuntimeError("bug"),
    }

    async def runner(job: SyncJob) -> tuple[int, bool]:
        exc = outcomes[job.account_id]
        if exc is not None:
            raise exc
        return 7, False

    jobs = [SyncJob(1, "INBOX"), SyncJob(2, "INBOX", failures=4), SyncJob(3, "A"), SyncJob(4, "B")]
    rep = await run_sync_runner(jobs, 0.0, CFG, runner=runner)
    by = {j.account_id: j for j in rep.jobs}
    assert (by[1].error_code, by[1].failures, by[1].next_due) == ("EMAIL_AUTH_FAILED", 1, 10.0)
    assert by[1].hint == "fix it"
    assert (by[2].error_code, by[2].failures, by[2].next_due) == (
        "EMAIL_CONNECTION_FAILED",
        5,
        100.0,
    )
    assert (by[3].synced, by[3].failures, by[3].next_due) == (7, 0, 300.0)
    assert by[4].error_code == "EMAIL_INTERNAL" and by[4].error == "RuntimeError"
    # next round at t=50: job 1 (due 10) runs and now succeeds → failures reset;
    # job 2 (due 100) is not due and does not run.
    outcomes[1] = None
    rep2 = await run_sync_runner([j.job for j in rep.jobs], 50.0, CFG, runner=runner)
    by2 = {j.account_id: j for j in rep2.jobs}
    assert by2[1].ran and by2[1].failures == 0 and by2[1].next_due == 350.0
    assert not by2[2].ran and by2[2].failures == 5 and by2[2].next_due == 100.0
    assert by2[4].failures == 2 and by2[4].next_due == 70.0  # due at 10, failed again
    assert rep2.next_due == 70.0


async def test_more_pending_is_due_again_at_once() -> None:
    async def runner(job: SyncJob) -> tuple[int, bool]:
        return 100, True

    rep = await run_sync_runner([SyncJob(1, "INBOX")], 5.0, CFG, runner=runner)
    assert rep.jobs[0].more_pending and rep.jobs[0].next_due == 5.0


async def test_job_timeout() -> None:
    async def runner(job: SyncJob) -> tuple[int, bool]:
        await asyncio.sleep(5)
        return 0, False

    cfg = RunnerConfig(job_timeout_seconds=0.05, backoff_base_seconds=1)
    rep = await run_sync_runner([SyncJob(1, "INBOX")], 0.0, cfg, runner=runner)
    assert rep.jobs[0].error_code == "EMAIL_TIMEOUT" and rep.jobs[0].next_due == 1.0


async def test_backoff_state_persists(tmp_path: Path) -> None:
    server = ServerConfig("127.0.0.1", 1, TlsMode.NONE, "u", PasswordAuth(password_env="X"))
    accounts = (
        AccountConfig(1, "a", "a@example.org", imap=server),
        AccountConfig(2, "b", "b@example.org"),  # no IMAP: no jobs
    )
    db = Database(tmp_path / "m.db")
    ctx = ServiceContext(config=Config(accounts=accounts), db=db)
    jobs = jobs_for(ctx)
    assert jobs == [SyncJob(1, "INBOX")]

    async def failing(job: SyncJob) -> tuple[int, bool]:
        raise ConnectionFailed("refused")

    rep = await run_sync_runner(jobs, 100.0, CFG, runner=failing)
    save_jobs(ctx, rep, 100.0)
    (loaded,) = load_jobs(ctx, jobs_for(ctx))
    assert (loaded.failures, loaded.next_due) == (1, 110.0)
    db.close()


async def test_runner_needs_ctx_or_runner() -> None:
    with pytest.raises(ValueError):
        await run_sync_runner([], 0.0, CFG)
