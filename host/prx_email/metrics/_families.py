"""Every counter and histogram of the plugin, defined once (gauges come from the store).

Labels are bounded: account ids and folder names come from the config (or a folder the
server has), codes and outcomes from closed sets, and a tool name is kept only for the
first :data:`MAX_TOOLS` names that look like tools (anything else is ``other``). No
message id, address or user text is ever a label.
"""

from __future__ import annotations

import re
import threading

from ._registry import Counter, Histogram, Metric

__all__ = [
    "ALL",
    "MAX_TOOLS",
    "SANDBOX_CALLS",
    "SANDBOX_SECONDS",
    "SANDBOX_TIMEOUTS",
    "SANDBOX_TRAPS",
    "SEND_ATTEMPTS",
    "SEND_RETRIES",
    "SYNC_EXPUNGES",
    "SYNC_FETCHED",
    "SYNC_FLAG_CHANGES",
    "SYNC_RUNS",
    "SYNC_SECONDS",
    "WATCH_CONNECTS",
    "WATCH_DROPS",
    "WEBHOOK_DELIVERIES",
    "tool_label",
]

#: Seconds: a sync of one folder (no-change resyncs ~10 ms, a first sync minutes).
_SYNC_BOUNDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: Seconds: one sandbox call (a local list ~1 ms; remote calls wait on the network).
_CALL_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SYNC_RUNS = Counter(
    "prx_email_sync_runs",
    "Folder sync runs by outcome (ok, error) and error code (empty when ok).",
    ("account", "folder", "outcome", "error_code"),
)
SYNC_FETCHED = Counter(
    "prx_email_sync_messages_fetched", "New messages stored by sync.", ("account", "folder")
)
SYNC_FLAG_CHANGES = Counter(
    "prx_email_sync_flag_changes",
    "Flag changes from the server applied to stored messages.",
    ("account", "folder"),
)
SYNC_EXPUNGES = Counter(
    "prx_email_sync_expunges",
    "Messages expunged on the server and removed from the store.",
    ("account", "folder"),
)
SYNC_SECONDS = Histogram(
    "prx_email_sync_duration_seconds",
    "Duration of one folder's sync (failed runs included).",
    ("account", "folder"),
    bounds=_SYNC_BOUNDS,
)
SEND_ATTEMPTS = Counter(
    "prx_email_send_attempts",
    "Outbox delivery attempts by outcome (sent, partial, transient, permanent, exhausted, "
    "not-attempted, unverified, unknown, recovered, lost-claim) and error code.",
    ("account", "outcome", "error_code"),
)
SEND_RETRIES = Counter(
    "prx_email_send_retries",
    "Delivery attempts that ended with the row queued again for a later attempt.",
    ("account",),
)
SANDBOX_CALLS = Counter(
    "prx_email_sandbox_calls",
    "Tool calls into the sandbox by tool and outcome (ok, error: an error envelope; "
    "trap, timeout, memory, too_large, closed: no guest answer).",
    ("tool", "outcome"),
)
SANDBOX_SECONDS = Histogram(
    "prx_email_sandbox_call_duration_seconds",
    "Wall time of one sandbox call (host functions included).",
    ("tool",),
    bounds=_CALL_BOUNDS,
)
SANDBOX_TRAPS = Counter(
    "prx_email_sandbox_traps", "Guest calls that trapped (the instance was replaced).", ()
)
SANDBOX_TIMEOUTS = Counter(
    "prx_email_sandbox_timeouts", "Guest calls stopped at the compute deadline.", ()
)

WATCH_CONNECTS = Counter(
    "prx_email_watch_connects",
    "Watcher connections established per folder, by the mode they run in (idle, poll).",
    ("account", "folder", "mode"),
)
WATCH_DROPS = Counter(
    "prx_email_watch_drops",
    "Watcher connections dropped after an error (a reconnect with backoff follows).",
    ("account", "folder", "error_code"),
)
WEBHOOK_DELIVERIES = Counter(
    "prx_email_webhook_deliveries",
    "Webhook POSTs by outcome (delivered: a 2xx; failed: retried later) and events "
    "dead-lettered, per configured webhook name.",
    ("webhook", "outcome"),
)

ALL: tuple[Metric, ...] = (
    SYNC_RUNS,
    SYNC_FETCHED,
    SYNC_FLAG_CHANGES,
    SYNC_EXPUNGES,
    SYNC_SECONDS,
    SEND_ATTEMPTS,
    SEND_RETRIES,
    SANDBOX_CALLS,
    SANDBOX_SECONDS,
    SANDBOX_TRAPS,
    SANDBOX_TIMEOUTS,
    WATCH_CONNECTS,
    WATCH_DROPS,
    WEBHOOK_DELIVERIES,
)

#: Distinct tool names kept as labels; later ones are counted as ``other``.
MAX_TOOLS = 64
_TOOL = r"email\.[a-z][a-z0-9_-]{0,31}"
_tools: set[str] = set()
_tools_lock = threading.Lock()


def tool_label(tool: str) -> str:
    """``tool`` when it looks like a tool name and fewer than MAX_TOOLS are known."""
    if tool in _tools:
        return tool
    if not re.fullmatch(_TOOL, tool):  # re caches the compiled pattern
        return "other"
    with _tools_lock:
        if len(_tools) >= MAX_TOOLS:
            return "other"
        _tools.add(tool)
    return tool
