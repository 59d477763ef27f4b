"""Watching folders (issue 13): one persistent IMAP connection per (account, folder).

Each watched folder runs this loop on its own connection::

      ┌─────────── wait: backoff × jitter (failures 1, 2, 3 … → base, 2·base, 4·base …) ─┐
      ▼                                                                                  │
   connect ─▶ mode ─▶ sync ─▶ IDLE ─ push (EXISTS / EXPUNGE / FETCH / VANISHED) ─▶ sync ─┤
      │        │       ▲       └── re-issue limit (idle_reissue_minutes): DONE, IDLE ──┐ │
      │        │       └── poll mode: every interval_seconds ─────────────────────────┘ │
      └────────┴──── any failure (drop, timeout, refused login, server error) ──────────┘

- **Mode**: IDLE (RFC 2177) when the server offers it; otherwise polling at the account's
  ``interval_seconds``, unless the account sets ``idle = "required"``: then
  :class:`IdleUnavailable` ends the whole watch at startup (never a silent degrade).
  ``idle = "off"`` always polls. A server that offers IDLE but refuses it is polled with
  ``idle = "auto"`` (a new startup line says why) and retried with backoff otherwise.
  Connections get TCP keepalives, so a peer that vanished silently is noticed in minutes.
- **Nothing missed, nothing doubled**: every sync is the normal pipeline
  (``services.sync.sync_folder``) resuming from the stored cursor (UIDVALIDITY, UIDNEXT,
  HIGHESTMODSEQ), so whatever changed while disconnected — or while this process was dead —
  is fetched by the first sync after (re)connecting; rows are upserted by UID and the
  cursor moves in the same transaction, so a repeat stores nothing twice.
- **Coalescing**: pushes that arrive during a sync end the next IDLE at once and are all
  covered by one sync; syncs of one folder never overlap (one lock per folder in this
  process) and at most ``max_concurrency`` folders sync at a time.
- **Backoff**: a failure is reported (:class:`~.scheduler.JobReport`) and stored like the
  scheduler's (``sync_jobs``); a backoff stored by an earlier run is honoured at startup.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .._aio import cancel_and_wait
from ..config.model import AccountConfig, IdleMode
from ..errors import ConfigError, EmailError, ProtocolError
from ..mail.errors import map_imap_errors
from ..mail.imap import CommandFailed, IdleEnd, ImapClient, idle
from ..metrics import record_sync, record_watch_connect, record_watch_drop
from .context import ServiceContext
from .imap_login import imap_server, login
from .scheduler import (
    JobOutcome,
    JobReport,
    RunnerConfig,
    RunnerReport,
    SyncJob,
    backoff_delay,
    clear_backoff,
    failed_report,
    load_jobs,
    run_sync_runner,
    save_jobs,
)

__all__ = [
    "IdleUnavailable",
    "WatchMode",
    "WatchReport",
    "WatchSettings",
    "WatchStarted",
    "watch",
    "watch_mode",
]

log = logging.getLogger(__name__)


class WatchMode(enum.StrEnum):
    IDLE = "idle"
    POLL = "poll"


class IdleUnavailable(ConfigError):
    """``idle = "required"`` and the server does not offer IDLE: the watch cannot start."""


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """How the watcher runs (the per-account knobs live in ``[accounts.sync]``)."""

    max_concurrency: int = 4  # folders syncing at once
    max_messages: int | None = None  # per sync; the rest follows at once
    poll_seconds: float | None = None  # overrides the accounts' interval_seconds
    reconnect_base_seconds: float = 1.0  # after the first failure; doubles per failure
    reconnect_max_seconds: float = 300.0
    #: After the first push, how long to keep listening so one burst ends IDLE once.
    settle_seconds: float = 0.01


@dataclass(frozen=True, slots=True)
class WatchStarted:
    """A folder's watch is up: the one startup line per folder (again if the mode changes)."""

    account_id: int
    folder: str
    mode: WatchMode
    reason: str  # why this mode, for people
    reissue_seconds: float | None  # IDLE mode
    poll_seconds: float | None  # poll mode


#: What the watcher reports: a folder's startup, or one sync (or backoff) as a JobReport.
WatchReport = WatchStarted | JobReport
ReportFn = Callable[[WatchReport], None]


# Per event loop: an asyncio.Lock must not be shared between loops.
def watch_mode(acc: AccountConfig, capabilities: frozenset[str]) -> tuple[WatchMode, str]:
    """IDLE or polling for ``acc`` on a server with these capabilities, and why (for people).

    :raises IdleUnavailable: the account sets ``idle = "required"`` and IDLE is not offered.
    """
    setting = acc.sync.idle
    if setting is IdleMode.OFF:
        return WatchMode.POLL, 'idle = "off"'
    if "IDLE" in capabilities:
        return WatchMode.IDLE, "the server offers IDLE"
    if setting is IdleMode.REQUIRED:
        server = imap_server(acc)
        raise IdleUnavailable(
            f'account {acc.id} sets idle = "required" but the IMAP server '
            f"{server.host}:{server.port} does not offer IDLE (RFC 2177)",
            hint='set idle = "auto" in [accounts.sync] to poll every interval_seconds '
            "instead, or use a server that offers IDLE",
        )
    return WatchMode.POLL, "the server does not offer IDLE"


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, str], asyncio.Lock]]
_locks = weakref.WeakKeyDictionary()


def folder_lock(account_id: int, folder: str) -> asyncio.Lock:
    """The lock every watcher sync of this folder holds (never two at once)."""
    locks = _locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault((account_id, folder), asyncio.Lock())


async def watch(
    ctx: ServiceContext, jobs: Sequence[SyncJob], settings: WatchSettings, report: ReportFn
) -> None:
    """Watch every job's folder until cancelled (then each connection logs out).

    :raises IdleUnavailable: an account requires IDLE and its server does not offer it.
    """
    gate = asyncio.Semaphore(max(1, settings.max_concurrency))
    unique = list(dict.fromkeys((j.account_id, j.folder) for j in jobs))
    stored = load_jobs(ctx, [SyncJob(a, f) for a, f in unique])
    tasks = [
        asyncio.create_task(_FolderWatch(ctx, job, settings, report, gate).run()) for job in stored
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        await cancel_and_wait(*tasks)
        await asyncio.gather(*tasks, return_exceptions=True)


class _FolderWatch:
    """One folder's connection, mode and failure count."""

    def __init__(
        self,
        ctx: ServiceContext,
        job: SyncJob,
        settings: WatchSettings,
        report: ReportFn,
        gate: asyncio.Semaphore,
    ) -> None:
        self.ctx = ctx
        self.job = job
        self.settings = settings
        self.report = report
        self.gate = gate
        self.client: ImapClient | None = None
        self.mode: WatchMode | None = None
        self.fatal: IdleUnavailable | None = None
        self.idle_refused: str | None = None  # why polling although IDLE is offered
        self.runner = RunnerConfig(
            max_concurrency=1,
            backoff_base_seconds=settings.reconnect_base_seconds,
            backoff_max_seconds=settings.reconnect_max_seconds,
            max_messages=settings.max_messages,
        )

    @property
    def account(self) -> AccountConfig:
        # Looked up each time: a SIGHUP reload swaps ctx.config under a running watch.
        return self.ctx.account(self.job.account_id)

    def poll_seconds(self) -> float:
        return self.settings.poll_seconds or self.account.sync.interval_seconds

    async def run(self) -> None:
        while True:
            await self._wait_until_due()
            failed = await self._session()
            if self.fatal is not None:
                raise self.fatal
            record_watch_drop(failed.account_id, failed.folder, failed.error_code or "")
            self.job = failed.job
            save_jobs(self.ctx, RunnerReport((failed,)), self.ctx.clock())

    async def _wait_until_due(self) -> None:
        """Honour the backoff; while it lasts, report the job as not run every poll interval."""
        while (left := self.job.next_due - self.ctx.clock()) > 0:
            self.report(
                JobReport(
                    self.job.account_id,
                    self.job.folder,
                    ran=False,
                    failures=self.job.failures,
                    next_due=self.job.next_due,
                )
            )
            await asyncio.sleep(min(left, self.poll_seconds()))

    async def _session(self) -> JobReport:
        """Connect, sync and wait for changes until something fails; returns that report."""
        try:
            while True:
                if self.client is not None:
                    self.client.take_changed()  # what this sync sees needs no second one
                rep = await self._sync()
                if not rep.ok:
                    return rep
                self.job = rep.job
                self.report(rep)
                if rep.more_pending:
                    continue  # a max_messages budget left some: the next part at once
                if self.client is not None and self.client.take_changed():
                    continue  # new mail was reported during the sync: IDLE would not wake
                try:
                    await self._wait_for_change()
                except EmailError as exc:
                    return self._failure(exc)
        finally:
            await self._disconnect()

    async def _sync(self) -> JobReport:
        async with self.gate:
            now = self.ctx.clock()
            job = replace(self.job, next_due=0.0)
            out = await run_sync_runner([job], now, self.runner, runner=self._run_once)
            (rep,) = out.jobs
        if not rep.ok:
            rep = self._jittered(rep, now)
            if self.fatal is None:  # a fatal error is the command's to report, once
                self.report(rep)
            await self._disconnect()
        return rep

    async def _run_once(self, job: SyncJob) -> JobOutcome:
        """One sync of the folder on the watcher's connection (connecting first if needed)."""
        from . import events
        from .sync import complete_pending, sync_folder

        acc = self.account
        if self.client is None:
            start = time.monotonic()
            try:
                self.client = await login(self.ctx.credentials, acc)
            except EmailError as exc:  # a failed login is a failed run, as in services.sync
                record_sync(
                    acc.id, job.folder, time.monotonic() - start, error_code=exc.code.envelope
                )
                raise
            self.client.keepalive()  # IDLE is silent for minutes: notice a dead peer anyway
            server = imap_server(acc)
            with map_imap_errors(server.host, server.port, timeout=server.timeout):
                await self.client.enable("QRESYNC")
            self._choose_mode(acc, self.client)
            assert self.mode is not None
            record_watch_connect(acc.id, job.folder, self.mode.value)
        async with folder_lock(acc.id, job.folder):
            rep = await sync_folder(
                self.ctx, acc, self.client, job.folder, budget=self.settings.max_messages
            )
        clear_backoff(self.ctx, acc.id, [job.folder], self.ctx.clock())
        await complete_pending(self.ctx, acc.id)
        events.prune(self.ctx)  # the event log's retention, as after every services.sync run
        return JobOutcome(
            rep.fetched, rep.more_pending, rep.flags_updated, rep.expunged, rep.uidvalidity_reset
        )

    def _choose_mode(self, acc: AccountConfig, client: ImapClient) -> None:
        try:
            mode, reason = watch_mode(acc, client.capabilities)
        except IdleUnavailable as exc:
            self.fatal = exc
            raise
        if mode is WatchMode.IDLE and self.idle_refused is not None:
            mode, reason = WatchMode.POLL, self.idle_refused
        self._set_mode(acc, mode, reason)

    def _set_mode(self, acc: AccountConfig, mode: WatchMode, reason: str) -> None:
        """Use ``mode``; a change (the first included) is reported: the startup line."""
        if mode is self.mode:
            return
        self.mode = mode
        idle_mode = mode is WatchMode.IDLE
        self.report(
            WatchStarted(
                acc.id,
                self.job.folder,
                mode,
                reason,
                reissue_seconds=acc.sync.idle_reissue_minutes * 60 if idle_mode else None,
                poll_seconds=None if idle_mode else self.poll_seconds(),
            )
        )

    async def _wait_for_change(self) -> None:
        """Return when the folder may have changed: a push in IDLE, or the poll interval."""
        if self.mode is not WatchMode.IDLE or self.client is None:
            await asyncio.sleep(self.poll_seconds())
            return
        acc = self.account
        server = imap_server(acc)
        limit = acc.sync.idle_reissue_minutes * 60
        settle = self.settings.settle_seconds
        while True:
            started = time.monotonic()
            try:
                with map_imap_errors(
                    server.host, server.port, folder=self.job.folder, timeout=server.timeout
                ):
                    res = await idle(self.client, max_seconds=limit, settle=settle)
            except ProtocolError as exc:
                if acc.sync.idle is not IdleMode.AUTO or not isinstance(
                    exc.__cause__, CommandFailed
                ):
                    raise
                # Offered but refused: poll from now on, and say so (never a silent degrade).
                self.idle_refused = f"the server offers IDLE but refused it: {exc.message}"
                self._set_mode(acc, WatchMode.POLL, self.idle_refused)
                await asyncio.sleep(self.poll_seconds())
                return
            if res.reason is IdleEnd.PUSH:
                return
            # The limit (or the server) ended IDLE with nothing to report: IDLE again.
            log.info(
                "IDLE re-issued after %.1f s",
                time.monotonic() - started,
                extra={"account": acc.id, "folder": self.job.folder, "reason": res.reason.value},
            )

    def _failure(self, exc: EmailError) -> JobReport:
        now = self.ctx.clock()
        rep = self._jittered(failed_report(self.job, now, self.runner, exc), now)
        self.report(rep)
        return rep

    def _jittered(self, rep: JobReport, now: float) -> JobReport:
        """Half the backoff fixed, half random: reconnects of many folders spread out."""
        delay = backoff_delay(rep.failures, self.runner)
        return replace(rep, next_due=now + delay * (0.5 + random.random() / 2))

    async def _disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.logout()
