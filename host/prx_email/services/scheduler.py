"""The multi-account sync runner: many (account, folder) jobs, a hard concurrency cap,
per-job exponential failure backoff, and a per-job report.

:func:`run_sync_runner` is pure with respect to time: the caller passes ``now`` and gets
each job's next due time back, so tests are deterministic (no jitter; the one clock read
times the logged ``duration_ms``).
:func:`load_jobs` / :func:`save_jobs` keep the backoff state in the store (``sync_jobs``),
so a restarted ``prx-email sync --watch`` keeps backing off a failing server.

Each job that runs gets a fresh ``run_id`` (``logging_setup.run_scope``): every log line
written during it carries the id, and so does its :class:`JobReport` (the CLI prints it
with a failure), so one id ties a failed job's report to its log lines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from ..config.model import DEFAULT_SYNC_INTERVAL
from ..errors import EmailError, ErrorCode, OperationTimeout
from ..logging_setup import new_run_id, run_scope
from ..metrics import record_sync
from ..store.sync_state import JobState, SyncStateRepo
from ..types import SyncRequest
from .context import ServiceContext

log = logging.getLogger(__name__)

__all__ = [
    "JobOutcome",
    "JobReport",
    "RunnerConfig",
    "RunnerReport",
    "SyncJob",
    "backoff_delay",
    "clear_backoff",
    "failed_report",
    "jobs_for",
    "load_jobs",
    "run_sync_runner",
    "save_jobs",
]


@dataclass(frozen=True, slots=True)
class SyncJob:
    """One (account, folder) with its failure state."""

    account_id: int
    folder: str
    failures: int = 0
    next_due: float = 0.0  # unix seconds; 0 = due now


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    max_concurrency: int = 4
    interval_seconds: float = DEFAULT_SYNC_INTERVAL  # after a success
    backoff_base_seconds: float = 30.0  # after the first failure; doubles per failure
    backoff_max_seconds: float = 3600.0
    job_timeout_seconds: float | None = None
    max_messages: int | None = None  # per job and run


class JobOutcome(NamedTuple):
    """What one successful job did (a plain ``(synced, more_pending)`` tuple also works)."""

    synced: int
    more_pending: bool
    flags_changed: int = 0
    expunged: int = 0
    uidvalidity_reset: bool = False


@dataclass(frozen=True, slots=True)
class JobReport:
    account_id: int
    folder: str
    ran: bool
    synced: int = 0  # new messages stored
    error_code: str | None = None  # envelope code, e.g. EMAIL_AUTH_FAILED
    error: str | None = None
    hint: str | None = None
    failures: int = 0
    next_due: float = 0.0
    more_pending: bool = False
    flags_changed: int = 0
    expunged: int = 0
    uidvalidity_reset: bool = False
    run_id: str | None = None  # set when the job ran

    @property
    def ok(self) -> bool:
        """Ran and succeeded (a job not due is not ok: it synced nothing)."""
        return self.ran and self.error_code is None

    @property
    def job(self) -> SyncJob:
        return SyncJob(self.account_id, self.folder, self.failures, self.next_due)


@dataclass(frozen=True, slots=True)
class RunnerReport:
    jobs: tuple[JobReport, ...]

    @property
    def next_due(self) -> float | None:
        return min((j.next_due for j in self.jobs), default=None)


#: What actually syncs one job: a :class:`JobOutcome` or ``(messages synced, more pending)``.
JobRunner = Callable[[SyncJob], Awaitable[JobOutcome | tuple[int, bool]]]
ProgressHook = Callable[[SyncJob, int, int], None]


def backoff_delay(failures: int, config: RunnerConfig) -> float:
    """``base * 2**(failures-1)``, capped at the ceiling (0 for no failures)."""
    if failures <= 0:
        return 0.0
    exp = min(failures - 1, 62)
    return float(min(config.backoff_base_seconds * (2**exp), config.backoff_max_seconds))


def _default_runner(
    ctx: ServiceContext, config: RunnerConfig, progress: ProgressHook | None
) -> JobRunner:
    from . import sync as sync_service

    async def run(job: SyncJob) -> JobOutcome:
        def on_progress(p: sync_service.SyncProgress) -> None:
            if progress is not None:
                progress(job, p.done, p.total)

        rep = await sync_service.sync(
            ctx,
            SyncRequest(job.account_id, job.folder, config.max_messages),
            progress=on_progress,
        )
        return JobOutcome(
            synced=sum(f.fetched for f in rep.folders),
            more_pending=any(f.more_pending for f in rep.folders),
            flags_changed=sum(f.flags_updated for f in rep.folders),
            expunged=sum(f.expunged for f in rep.folders),
            uidvalidity_reset=any(f.uidvalidity_reset for f in rep.folders),
        )

    return run


async def run_sync_runner(
    jobs: Sequence[SyncJob],
    now: float,
    config: RunnerConfig,
    *,
    ctx: ServiceContext | None = None,
    runner: JobRunner | None = None,
    progress: ProgressHook | None = None,
) -> RunnerReport:
    """Run every due job, at most ``config.max_concurrency`` at a time.

    A job is due when ``next_due <= now``. Success: failures reset, next due after the
    interval (at once when ``more_pending``). Failure: failures + 1, next due after the
    backoff. Jobs not due are reported with ``ran=False``. Expected failures never escape:
    they become the job's ``error_code``; an unexpected exception becomes EMAIL_INTERNAL.

    :param runner: what syncs one job (default: ``services.sync.sync`` with ``ctx``).
    """
    if config.max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    if runner is None:
        if ctx is None:
            raise ValueError("run_sync_runner needs ctx or runner")
        runner = _default_runner(ctx, config, progress)
    gate = asyncio.Semaphore(config.max_concurrency)
    run_job = runner

    async def one(job: SyncJob) -> JobReport:
        if job.next_due > now:
            return JobReport(
                job.account_id,
                job.folder,
                ran=False,
                failures=job.failures,
                next_due=job.next_due,
            )
        # gather runs each job in its own task, so the scope is this job's alone.
        with run_scope(new_run_id()) as run_id:
            start = time.monotonic()
            report = replace(await attempt(job), run_id=run_id)
            _log_job(report, time.monotonic() - start)
        return report

    async def attempt(job: SyncJob) -> JobReport:
        async with gate:
            try:
                if config.job_timeout_seconds is not None:
                    try:
                        result = await asyncio.wait_for(run_job(job), config.job_timeout_seconds)
                    except EmailError:
                        raise  # OperationTimeout is a TimeoutError too: keep its own message
                    except TimeoutError as exc:
                        # The sync was cancelled mid-run, before it could count itself.
                        record_sync(
                            job.account_id,
                            job.folder,
                            config.job_timeout_seconds,
                            error_code=ErrorCode.TIMEOUT.envelope,
                        )
                        raise OperationTimeout(
                            f"sync of {job.folder} took longer than "
                            f"{config.job_timeout_seconds:g} s",
                            hint="raise the job timeout or lower max_messages",
                        ) from exc
                else:
                    result = await run_job(job)
                outcome = JobOutcome(*result)
            except EmailError as exc:
                return _failed(job, now, config, exc.code, exc.message, exc.hint)
            except Exception as exc:  # a bug must not take the other jobs down
                return _failed(job, now, config, ErrorCode.INTERNAL, type(exc).__name__, None)
        more = outcome.more_pending
        return JobReport(
            job.account_id,
            job.folder,
            ran=True,
            synced=outcome.synced,
            failures=0,
            next_due=now if more else now + config.interval_seconds,
            more_pending=more,
            flags_changed=outcome.flags_changed,
            expunged=outcome.expunged,
            uidvalidity_reset=outcome.uidvalidity_reset,
        )

    reports = await asyncio.gather(*(one(j) for j in jobs))
    return RunnerReport(tuple(reports))


def _log_job(report: JobReport, seconds: float) -> None:
    fields = {
        "account": report.account_id,
        "folder": report.folder,
        "duration_ms": round(seconds * 1000),
    }
    if report.error_code:
        log.warning(
            "sync job failed: %s",
            report.error,
            extra={**fields, "error_code": report.error_code},
        )
    else:
        log.info(
            "sync job done: %d new, %d flag changes, %d expunged",
            report.synced,
            report.flags_changed,
            report.expunged,
            extra=fields,
        )


def _failed(
    job: SyncJob,
    now: float,
    config: RunnerConfig,
    code: ErrorCode,
    message: str,
    hint: str | None,
) -> JobReport:
    failures = job.failures + 1
    return JobReport(
        job.account_id,
        job.folder,
        ran=True,
        error_code=code.envelope,
        error=message,
        hint=hint,
        failures=failures,
        next_due=now + backoff_delay(failures, config),
    )


def failed_report(job: SyncJob, now: float, config: RunnerConfig, exc: EmailError) -> JobReport:
    """The report of a job that failed outside :func:`run_sync_runner` (the watcher's IDLE)."""
    return _failed(job, now, config, exc.code, exc.message, exc.hint)


def jobs_for(
    ctx: ServiceContext, account_id: int | None = None, folder: str | None = None
) -> list[SyncJob]:
    """Jobs for every configured IMAP account and folder (or the ones selected).

    :raises AccountNotFound: ``account_id`` is not configured.
    """
    accounts = [ctx.account(account_id)] if account_id is not None else ctx.config.accounts
    jobs = []
    for acc in accounts:
        if acc.imap is None:
            continue
        for f in (folder,) if folder else acc.sync.folders:
            jobs.append(SyncJob(acc.id, f))
    return jobs


def load_jobs(ctx: ServiceContext, jobs: Sequence[SyncJob]) -> list[SyncJob]:
    """The same jobs with their persisted failure count and next due time."""
    stored = SyncStateRepo(ctx.db).jobs((j.account_id, j.folder) for j in jobs)
    return [
        replace(job, failures=st.failures, next_due=st.next_due)
        for job, st in zip(jobs, stored, strict=True)
    ]


def save_jobs(ctx: ServiceContext, report: RunnerReport, now: float) -> None:
    """Persist each job's failure count, next due time and last error."""
    SyncStateRepo(ctx.db).save_jobs(
        JobState(
            j.account_id,
            j.folder,
            failures=j.failures,
            next_due=j.next_due,
            last_error=j.error_code,
            last_run_at=now,
        )
        for j in report.jobs
        if j.ran
    )


def clear_backoff(ctx: ServiceContext, account_id: int, folders: Sequence[str], now: float) -> None:
    """A sync of these folders succeeded: forget their failures (due again at once).

    Called by every successful sync (``email.sync`` too), so a stored backoff never
    outlives the problem that caused it. Writes only rows that were failing.
    """
    repo = SyncStateRepo(ctx.db)
    failing = [j.folder for j in repo.jobs((account_id, f) for f in folders) if j.failures]
    if failing:
        repo.save_jobs(
            JobState(account_id, folder, failures=0, last_run_at=now) for folder in failing
        )
