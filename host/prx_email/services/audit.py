"""The audit of every mutation and policy decision (issue 16): what is recorded, and how.

The host functions that change a mailbox, a draft or the outbox call :meth:`Auditor.host_call`
once per call, after it answered (``bridge.hostfns._guarded_call``), with the raw WIT arguments
the outcome (``ok`` or the error code, refusals by policy and quota included) and what it
answered (the outbox row's id, Message-ID and status; per-message action outcomes). What the
host does outside the guest goes through :func:`audited` or :func:`record_decision` (config
reloads, the CLI's ``outbox retry|cancel``, approvals and rejections).

What an entry keeps of the arguments is a digest (:func:`digest`): ids, flags, folder names,
recipients and subjects as given; any other text (bodies, base64 attachments, paths) only as
its length and sha256. Secrets never reach a host function's arguments (they live in the
host's credential provider), so none can reach the log. Writing never fails the call: a store
failure is logged (the call already happened) and the entry is lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from ..errors import EmailError, ErrorCode, InvalidArgument
from ..logging_setup import current_run_id, new_run_id
from ..store.audit import AuditEntry, AuditRepo, ChainStatus
from ..store.db import Database

__all__ = [
    "AUDITED",
    "ENTRY_POINTS",
    "AuditEntry",
    "Auditor",
    "ChainStatus",
    "audited",
    "check_entry_point",
    "digest",
    "record_decision",
]

log = logging.getLogger(__name__)

#: Where a call came from: the Python API (default), the CLI, the MCP server, the TA
#: adapter, the operator console.
ENTRY_POINTS: Final = ("api", "cli", "mcp", "ta", "console")

#: The audited host functions and the names of their positional arguments.
AUDITED: Final[Mapping[str, tuple[str, ...]]] = {
    "send": ("message",),
    "reply": ("request",),
    "forward": ("request",),
    "retry": ("outbox-id", "now"),
    "cancel": ("outbox-id",),
    "draft-create": ("request",),
    "draft-update": ("draft-id", "request"),
    "draft-delete": ("account-id", "draft-id"),
    "draft-send": ("account-id", "draft-id", "send-at"),
    "mark": ("request",),
    "label": ("request",),
    "move": ("request",),
    "archive": ("account-id", "ids"),
    "delete": ("request",),
    "folder-create": ("account-id", "name"),
    "folder-rename": ("account-id", "old", "new"),
    "folder-delete": ("account-id", "name", "force"),
}

# Text fields kept as given (the issue: subject, recipients); every other string is hashed.
_KEPT_TEXT: Final = frozenset(
    {
        "to",
        "cc",
        "bcc",
        "subject",
        "folder",
        "role",
        "add",
        "remove",
        "name",
        "old",
        "new",
        "draft-id",
        "send-at",
        "mode",
        "reply-to-message-id",
        "filename",
        "content-type",
        "config",
        "hash",
        "message-id",
    }
)
_MAX_KEPT = 256  # characters of a kept text value
_MAX_ITEMS = 100  # items of a list kept (the count is always recorded)


def check_entry_point(value: str) -> str:
    """``value`` when it is one of :data:`ENTRY_POINTS`.

    :raises InvalidArgument: any other value.
    """
    if value not in ENTRY_POINTS:
        raise InvalidArgument(
            f"unknown entry point {value!r}", hint=f"use one of {', '.join(ENTRY_POINTS)}"
        )
    return value


def _text(key: str, value: str) -> object:
    if key in _KEPT_TEXT:
        return value if len(value) <= _MAX_KEPT else value[:_MAX_KEPT] + "…"
    data = value.encode("utf-8", "surrogatepass")
    return {"chars": len(value), "sha256": hashlib.sha256(data).hexdigest()}


def _value(key: str, value: object, depth: int = 0) -> object:
    if depth > 6:
        return "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(key, value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _value(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, Sequence):
        items = [_value(key, v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            return {"count": len(value), "first": items}
        return items
    tag = getattr(value, "tag", None)
    if isinstance(tag, str) and hasattr(value, "payload"):  # a WIT variant
        return {tag: _value(tag, value.payload, depth + 1)}
    fields = getattr(value, "__dict__", None)
    if isinstance(fields, dict):  # a WIT record: kebab-case attributes
        return {str(k): _value(str(k), v, depth + 1) for k, v in fields.items()}
    return type(value).__name__


def digest(args: Mapping[str, object]) -> dict[str, Any]:
    """The part of ``args`` an audit entry may keep (see the module docstring)."""
    return {str(k): _value(str(k), v) for k, v in args.items()}


def _account_of(args: Mapping[str, Any]) -> int | None:
    for value in (
        args.get("account-id"),
        *(a.get("account-id") for a in args.values() if isinstance(a, dict)),
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _answer(result: object) -> dict[str, Any] | None:
    """What an audit entry keeps of a host function's WIT answer (see ``host_call``)."""
    fields = getattr(result, "__dict__", None)
    if isinstance(fields, dict) and "message-id" in fields and "status" in fields:
        return {
            "outbox-id": fields.get("id"),
            "message-id": _text("message-id", str(fields["message-id"])),
            "status": str(fields["status"]),
        }
    if isinstance(result, list) and result and all(hasattr(r, "outcome") for r in result):
        pairs = [(getattr(r, "id", None), str(r.outcome)) for r in result[:_MAX_ITEMS]]
        return {"outcomes": [[i, o] for i, o in pairs], "count": len(result)}
    return None


class Auditor:
    """Appends audit entries for one entry point to one store."""

    def __init__(self, db: Database, entry_point: str = "api") -> None:
        self.repo = AuditRepo(db)
        self.entry_point = check_entry_point(entry_point)

    def host_call(
        self, name: str, args: Sequence[object], outcome: str, result: object = None
    ) -> None:
        """Record one answered call of the host function ``name`` (no-op if not audited).

        ``result`` (the WIT answer of an ``ok`` call) adds the outbox row it made or changed
        (id, Message-ID, status) or each message's action outcome.
        """
        names = AUDITED.get(name)
        if names is None:
            return
        try:
            named = {names[i] if i < len(names) else f"arg{i}": a for i, a in enumerate(args)}
            kept = digest(named)
            answer = _answer(result)
            if answer:
                kept["result"] = answer
        except Exception:  # raised into wasmtime it would trap the guest: keep the outcome
            log.exception("could not digest the arguments of %s", name)
            kept = {"digest": "failed"}
        self._append(name, kept, outcome, None, None)

    def record(
        self,
        tool: str,
        args: Mapping[str, object],
        outcome: str,
        *,
        account_id: int | None = None,
        run_id: str | None = None,
    ) -> AuditEntry | None:
        """Append one entry (``args`` digested again: callers may pass raw values).

        Returns the entry, or None when the store failed (logged, never raised).
        """
        return self._append(tool, digest(args), outcome, account_id, run_id)

    def _append(
        self,
        tool: str,
        kept: dict[str, Any],
        outcome: str,
        account_id: int | None,
        run_id: str | None,
    ) -> AuditEntry | None:
        try:
            return self.repo.append(
                ts=time.time(),
                entry_point=self.entry_point,
                tool=tool,
                account_id=account_id if account_id is not None else _account_of(kept),
                args=kept,
                outcome=outcome,
                run_id=run_id or current_run_id() or new_run_id(),
            )
        except Exception:
            log.exception("could not append the audit entry for %s", tool)
            return None


@contextlib.contextmanager
def audited(
    db: Database,
    tool: str,
    args: Mapping[str, object],
    *,
    entry_point: str = "api",
    account_id: int | None = None,
) -> Iterator[None]:
    """Audit the block as one ``tool`` call: ``ok``, else the ``EmailError``'s code (re-raised).

    For what the host does outside a host function: the CLI's ``outbox retry|cancel``, a
    SIGHUP config reload, ``Plugin.reload_config``.
    """
    outcome = ErrorCode.INTERNAL.envelope
    try:
        yield
        outcome = "ok"
    except EmailError as exc:
        outcome = exc.code.envelope
        raise
    finally:
        record_decision(db, tool, args, outcome, entry_point=entry_point, account_id=account_id)


def record_decision(
    db: Database,
    tool: str,
    args: Mapping[str, object],
    outcome: str,
    *,
    entry_point: str = "api",
    account_id: int | None = None,
) -> AuditEntry | None:
    """Audit a decision taken outside a host function (approve, reject, config reload).

    ``tool``: e.g. ``"approve"``; ``args``: ids, hashes, recipients (digested as above);
    ``outcome``: ``"ok"`` or the error code.
    """
    return Auditor(db, entry_point).record(tool, args, outcome, account_id=account_id)
