"""What the plugin counts, and how it is read: counters, histograms and the endpoint.

::

    services / runtime ──record_*()──▶ _families (one definition each) ──▶ _registry (dicts)
                                                                              │ read on demand
    serve_metrics(host, port) · snapshot() · render() ◀──── _export (prometheus_client) ◀┘
                                         + services.metrics.StoreCollector (store gauges)

Recording costs a dict update (no ``prometheus_client`` import until something reads the
values); it happens per folder sync, per delivery attempt and per sandbox call, never per
message. ``set_enabled(False)`` turns it off (the benchmark's baseline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _families as f
from ._families import tool_label
from ._http import (
    DEFAULT_LISTEN,
    MetricsServer,
    parse_listen,
    serve_configured,
    serve_metrics,
)
from ._registry import set_enabled

if TYPE_CHECKING:
    from ..services.context import ServiceContext

__all__ = [
    "DEFAULT_LISTEN",
    "MetricsServer",
    "parse_listen",
    "record_sandbox_call",
    "record_send_attempt",
    "record_sync",
    "record_watch_connect",
    "record_watch_drop",
    "record_webhook_attempt",
    "render",
    "reset",
    "serve_configured",
    "serve_metrics",
    "set_enabled",
    "snapshot",
]


def record_sync(
    account: int,
    folder: str,
    seconds: float,
    *,
    error_code: str | None = None,
    fetched: int = 0,
    flags: int = 0,
    expunged: int = 0,
) -> None:
    """One folder's sync run (``error_code`` set when it failed)."""
    f.SYNC_RUNS.inc(account, folder, "error" if error_code else "ok", error_code or "")
    f.SYNC_SECONDS.observe(seconds, account, folder)
    if fetched:
        f.SYNC_FETCHED.inc(account, folder, amount=fetched)
    if flags:
        f.SYNC_FLAG_CHANGES.inc(account, folder, amount=flags)
    if expunged:
        f.SYNC_EXPUNGES.inc(account, folder, amount=expunged)


def record_send_attempt(
    account: int, outcome: str, error_code: str | None = None, *, retry: bool = False
) -> None:
    """One delivery attempt; ``retry`` when the row was queued again for later."""
    f.SEND_ATTEMPTS.inc(account, outcome, error_code or "")
    if retry:
        f.SEND_RETRIES.inc(account)


def record_sandbox_call(tool: str, outcome: str, seconds: float) -> None:
    """One sandbox call: ``outcome`` ok / error, or trap, timeout, memory, too_large, closed."""
    label = tool_label(tool)
    f.SANDBOX_CALLS.inc(label, outcome)
    f.SANDBOX_SECONDS.observe(seconds, label)
    if outcome in ("trap", "memory"):
        f.SANDBOX_TRAPS.inc()
    elif outcome == "timeout":
        f.SANDBOX_TRAPS.inc()
        f.SANDBOX_TIMEOUTS.inc()


def record_watch_connect(account: int, folder: str, mode: str) -> None:
    """A watcher connected (or reconnected) for ``folder``; ``mode`` idle or poll."""
    f.WATCH_CONNECTS.inc(account, folder, mode)


def record_watch_drop(account: int, folder: str, error_code: str) -> None:
    """A watcher's connection was dropped after an error."""
    f.WATCH_DROPS.inc(account, folder, error_code)


def record_webhook_attempt(webhook: str, outcome: str) -> None:
    """One webhook POST (``delivered``, ``failed``) or an event ``dead_lettered``; the
    label is the webhook's configured name (bounded by the config)."""
    f.WEBHOOK_DELIVERIES.inc(webhook, outcome)


def reset() -> None:
    """Forget every recorded value (tests, benchmarks)."""
    for metric in f.ALL:
        metric.clear()


def render(ctx: ServiceContext | None = None) -> bytes:
    """The Prometheus text format of the counters (and, given ``ctx``, the store gauges)."""
    from ._export import render as _render

    return _render(ctx)


def snapshot(ctx: ServiceContext | None = None) -> dict[str, Any]:
    """A plain-dict copy of every metric family (see ``_export.snapshot``)."""
    from ._export import snapshot as _snapshot

    return _snapshot(ctx)
