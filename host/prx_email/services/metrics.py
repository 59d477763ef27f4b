"""Gauges derived from the store, in the Prometheus text format (``prx-email metrics``).

For one-shot use (cron + node_exporter's textfile collector): nothing here counts events,
it reads what the store holds now. One collector, :class:`StoreCollector`, yields:

- ``prx_email_outbox_rows{status}``: outbox rows per status (every status, zeros included)
- ``prx_email_smtp_circuit_open{account}``: 1 while the account's SMTP circuit is open;
  ``prx_email_smtp_circuit_open_until_timestamp_seconds{account}`` when it is
- ``prx_email_sync_job_failures{account,folder}``: consecutive failures of the sync job;
  ``prx_email_sync_job_backing_off{account,folder}`` 1 while it waits out a backoff;
  ``prx_email_sync_job_next_due_timestamp_seconds{account,folder}``
- ``prx_email_sync_last_success_timestamp_seconds{account,folder}``: the last complete sync
- ``prx_email_events_written``: the id of the newest event the log ever wrote (it only grows:
  ``rate()`` of it is events written per second); ``prx_email_event_consumer_lag{consumer}``:
  events a named consumer has not acknowledged yet

The values come from the store's own readers (``OutboxRepo.counts``, ``CircuitBreaker``,
``scheduler.load_jobs``, ``SyncStateRepo.state``), never from SQL of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..store.outbox import OutboxRepo
from ..store.sync_state import SyncStateRepo
from ..types import OutboxStatus
from .circuit import CircuitBreaker
from .context import ServiceContext

__all__ = ["StoreCollector", "store_metrics_text"]


class StoreCollector(Collector):
    """Reads the store on every ``collect`` (``now``: a fixed time for tests)."""

    def __init__(self, ctx: ServiceContext, now: float | None = None) -> None:
        self.ctx = ctx
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now if self.now is not None else time.time()
        yield self._outbox()
        yield from self._circuits(now)
        yield from self._sync_jobs(now)
        yield from self._events()

    def _events(self) -> Iterator[GaugeMetricFamily]:
        from ..store.events import EventLog

        log = EventLog(self.ctx.db)
        last = log.last_id()
        written = GaugeMetricFamily(
            "prx_email_events_written",
            "Id of the newest event the durable log wrote (ids only grow; rate() = events/s).",
        )
        written.add_metric([], last)
        yield written
        lag = GaugeMetricFamily(
            "prx_email_event_consumer_lag",
            "Events a named consumer has not acknowledged yet.",
            labels=["consumer"],
        )
        for c in log.consumers():
            lag.add_metric([c.name], max(0, last - c.acked))
        yield lag

    def _outbox(self) -> GaugeMetricFamily:
        counts = OutboxRepo(self.ctx.db).counts()
        rows = GaugeMetricFamily(
            "prx_email_outbox_rows", "Outbox rows by status.", labels=["status"]
        )
        for status in OutboxStatus:
            rows.add_metric([status.value], counts.get(status.value, 0))
        return rows

    def _circuits(self, now: float) -> Iterator[GaugeMetricFamily]:
        from .outbox import circuit_settings  # the one place the config becomes settings

        is_open = GaugeMetricFamily(
            "prx_email_smtp_circuit_open",
            "1 while the account's SMTP circuit breaker is open (sending paused).",
            labels=["account"],
        )
        until = GaugeMetricFamily(
            "prx_email_smtp_circuit_open_until_timestamp_seconds",
            "When an open SMTP circuit lets the next probe through.",
            labels=["account"],
        )
        for acc in self.ctx.config.accounts:
            if acc.smtp is None:
                continue
            breaker = CircuitBreaker(self.ctx.db, per_account={acc.id: circuit_settings(acc)})
            open_until = breaker.open_until(acc.id, now)
            is_open.add_metric([str(acc.id)], 0 if open_until is None else 1)
            if open_until is not None:
                until.add_metric([str(acc.id)], open_until)
        yield is_open
        yield until

    def _sync_jobs(self, now: float) -> Iterator[GaugeMetricFamily]:
        from .scheduler import jobs_for, load_jobs

        labels = ["account", "folder"]
        failures = GaugeMetricFamily(
            "prx_email_sync_job_failures",
            "Consecutive failures of the sync job.",
            labels=labels,
        )
        backing_off = GaugeMetricFamily(
            "prx_email_sync_job_backing_off",
            "1 while the sync job waits out a failure backoff.",
            labels=labels,
        )
        next_due = GaugeMetricFamily(
            "prx_email_sync_job_next_due_timestamp_seconds",
            "When the sync job is next due (0: now).",
            labels=labels,
        )
        last_ok = GaugeMetricFamily(
            "prx_email_sync_last_success_timestamp_seconds",
            "When the folder was last synced completely.",
            labels=labels,
        )
        repo = SyncStateRepo(self.ctx.db)
        for job in load_jobs(self.ctx, jobs_for(self.ctx)):
            key = [str(job.account_id), job.folder]
            failures.add_metric(key, job.failures)
            backing_off.add_metric(key, int(job.failures > 0 and job.next_due > now))
            next_due.add_metric(key, job.next_due)
            state = repo.state(job.account_id, job.folder)
            if state is not None and state.last_sync_at is not None:
                last_ok.add_metric(key, state.last_sync_at)
        yield from (failures, backing_off, next_due, last_ok)


def store_metrics_text(ctx: ServiceContext, now: float | None = None) -> bytes:
    """The store's gauges in the Prometheus text exposition format (0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(ctx, now))
    return generate_latest(registry)
