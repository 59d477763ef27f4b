"""The host functions of ``wit/host.wit``, registered on a component ``Linker``.

Each one converts its WIT arguments (``convert``), applies the network gate (``gate``),
calls ``HostServices`` and converts the answer back. None of them ever raises into
wasmtime — that would trap the guest and poison its instance: an ``EmailError`` keeps
its code, anything else becomes ``internal`` with a generic message and is logged here
with its traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from wasmtime.component import Linker

from ..errors import EmailError, InternalError
from ..types import (
    Account,
    DraftInfo,
    DraftRequest,
    DraftStatus,
    ListQuery,
    Message,
    MessagePage,
    OutboxEntry,
    OutboxPage,
    OutboxQuery,
    OutgoingMessage,
    ReplyRequest,
    SearchQuery,
    SyncReport,
    SyncRequest,
    ToolLimits,
)
from . import convert
from .gate import require_network
from .policy import Action, Policy, allow_all

log = logging.getLogger(__name__)

HOST_INSTANCE = "prx:email/host@0.1.0"


class HostServices(Protocol):
    """What the host functions call; ``prx_email.services.facade.Services`` implements it.

    Methods raise ``EmailError`` subclasses for expected failures.
    """

    def limits(self) -> ToolLimits: ...
    def accounts(self) -> list[Account]: ...
    def sync(self, req: SyncRequest) -> SyncReport: ...
    def list_messages(self, query: ListQuery) -> MessagePage: ...
    def get_message(self, account_id: int, key: int) -> Message | None: ...
    def search(self, query: SearchQuery) -> MessagePage: ...
    def send(self, msg: OutgoingMessage) -> OutboxEntry: ...
    def reply(self, req: ReplyRequest) -> OutboxEntry: ...
    def retry(self, outbox_id: int, *, now: bool = False) -> OutboxEntry: ...
    def list_outbox(self, query: OutboxQuery) -> OutboxPage: ...
    def draft_create(self, req: DraftRequest) -> DraftInfo: ...
    def draft_status(self, account_id: int, draft_id: str) -> DraftStatus: ...
    def draft_update(self, draft_id: str, req: DraftRequest) -> DraftInfo: ...
    def draft_delete(self, account_id: int, draft_id: str) -> int: ...


class Hooks(Protocol):
    """Called around every host function (the runtime pauses the guest's deadline)."""

    def __call__(self) -> None: ...


def _noop() -> None:
    return None


def _guarded(
    name: str,
    body: Callable[..., Any],
    on_enter: Hooks,
    on_leave: Hooks,
    *,
    on_error: Callable[[EmailError], Any] = convert.err,
) -> Callable[..., Any]:
    def host_function(_store: Any, *args: Any) -> Any:
        on_enter()
        try:
            return body(*args)
        except EmailError as exc:
            return on_error(exc)
        except Exception:
            log.exception("host function %s failed", name)
            return on_error(InternalError(f"the host failed while running {name}"))
        except BaseException as exc:
            # KeyboardInterrupt/SystemExit must not unwind through wasmtime's C frames
            # (ctypes would swallow it and hand back an unset result): answer, then
            # re-raise in the caller once the guest returns (``raise_pending``).
            _pending.exc = exc
            return on_error(InternalError(f"{name} was interrupted"))
        finally:
            on_leave()

    return host_function


_pending = threading.local()


def raise_pending() -> None:
    """Re-raise a KeyboardInterrupt/SystemExit that hit a host function on this thread."""
    exc: BaseException | None = getattr(_pending, "exc", None)
    if exc is not None:
        _pending.exc = None
        raise exc


def _search(services: HostServices, rec: Any) -> Any:
    query = convert.search_query(rec)
    if query.remote:
        require_network("remote search")
    return convert.ok(services.search(query))


def _sync(services: HostServices, rec: Any) -> Any:
    require_network("sync")
    req = convert.sync_request(rec)
    return convert.ok(services.sync(req))


def _send(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check(Action.SEND, "send", convert.account_of(rec))
    require_network("send")
    msg = convert.outgoing_message(rec)
    return convert.ok(services.send(msg))


def _reply(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check(Action.SEND, "reply", convert.account_of(rec))
    require_network("reply")
    req = convert.reply_request(rec)
    return convert.ok(services.reply(req))


def _retry(services: HostServices, policy: Policy, outbox_id: int, now: bool) -> Any:
    policy.check_outbox(Action.SEND, "retry", outbox_id)
    require_network("retry")
    return convert.ok(services.retry(outbox_id, now=bool(now)))


def _draft_create(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check(Action.WRITE_DRAFT, "draft-create", convert.account_of(rec))
    require_network("draft-create")
    return convert.ok(services.draft_create(convert.draft_request(rec)))


def _draft_update(services: HostServices, policy: Policy, draft_id: str, rec: Any) -> Any:
    policy.check(Action.WRITE_DRAFT, "draft-update", convert.account_of(rec))
    require_network("draft-update")
    return convert.ok(services.draft_update(str(draft_id), convert.draft_request(rec)))


def _draft_delete(services: HostServices, policy: Policy, account: int, draft_id: str) -> Any:
    policy.check(Action.WRITE_DRAFT, "draft-delete", int(account))
    require_network("draft-delete")
    return services.draft_delete(int(account), str(draft_id))


def _draft_status(services: HostServices, account: int, draft_id: str) -> Any:
    require_network("draft-status")
    return convert.ok(services.draft_status(int(account), str(draft_id)))


def _limits_or_defaults(services: HostServices) -> Callable[[], Any]:
    def limits() -> Any:
        try:
            return convert.to_wit(services.limits())
        except Exception:  # tool-limits has no error case; the defaults are the safe side
            log.exception("host function limits failed")
            return convert.to_wit(ToolLimits())

    return limits


def _accounts_or_empty(services: HostServices) -> Callable[[], Any]:
    def accounts() -> Any:
        try:
            return convert.to_wit(services.accounts())
        except Exception:  # list<account> has no error case
            log.exception("host function accounts failed")
            return []

    return accounts


def define_host(
    linker: Linker,
    services: HostServices,
    *,
    on_enter: Hooks = _noop,
    on_leave: Hooks = _noop,
    policy: Policy | None = None,
) -> None:
    """Define every function of the ``host`` interface on ``linker``.

    ``policy`` is the mode policy (default: ``PRX_EMAIL_MODE`` only, no account modes).
    """
    s = services
    p = policy if policy is not None else allow_all()
    functions: dict[str, Callable[..., Any]] = {
        "limits": _guarded("limits", _limits_or_defaults(s), on_enter, on_leave),
        "accounts": _guarded("accounts", _accounts_or_empty(s), on_enter, on_leave),
        "sync": _guarded("sync", lambda r: _sync(s, r), on_enter, on_leave),
        "list-messages": _guarded(
            "list-messages",
            lambda q: convert.ok(s.list_messages(convert.list_query(q))),
            on_enter,
            on_leave,
        ),
        "get-message": _guarded(
            "get-message",
            lambda a, k: convert.to_wit(s.get_message(a, k)),
            on_enter,
            on_leave,
            on_error=lambda e: convert.ResultErr(convert.err(e)),
        ),
        "search": _guarded("search", lambda q: _search(s, q), on_enter, on_leave),
        "send": _guarded("send", lambda m: _send(s, p, m), on_enter, on_leave),
        "reply": _guarded("reply", lambda r: _reply(s, p, r), on_enter, on_leave),
        "retry": _guarded("retry", lambda i, n: _retry(s, p, i, n), on_enter, on_leave),
        "list-outbox": _guarded(
            "list-outbox",
            lambda q: convert.ok(s.list_outbox(convert.outbox_query(q))),
            on_enter,
            on_leave,
        ),
        "draft-create": _guarded(
            "draft-create", lambda r: _draft_create(s, p, r), on_enter, on_leave
        ),
        "draft-status": _guarded(
            "draft-status", lambda a, d: _draft_status(s, a, d), on_enter, on_leave
        ),
        "draft-update": _guarded(
            "draft-update", lambda d, r: _draft_update(s, p, d, r), on_enter, on_leave
        ),
        "draft-delete": _guarded(
            "draft-delete", lambda a, d: _draft_delete(s, p, a, d), on_enter, on_leave
        ),
    }
    convert.patch_result_lowering()
    with linker.root() as root, root.add_instance(HOST_INSTANCE) as host:
        for name, fn in functions.items():
            host.add_func(name, fn)
