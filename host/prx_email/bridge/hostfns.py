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
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from wasmtime.component import Linker

from ..errors import EmailError, InternalError
from ..types import (
    Account,
    ActionResult,
    AttachmentDownload,
    DraftInfo,
    DraftRequest,
    DraftStatus,
    EventPage,
    FolderInfo,
    FolderList,
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
    Thread,
    ToolLimits,
)
from . import convert
from .gate import network_enabled, require_network
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
    def folders(self, account_id: int, *, network: bool) -> FolderList: ...
    def folder_create(self, account_id: int, name: str) -> tuple[FolderInfo, bool]: ...
    def folder_rename(self, account_id: int, old: str, new: str) -> tuple[FolderInfo, bool]: ...
    def folder_delete(self, account_id: int, name: str, *, force: bool = False) -> bool: ...
    def mark(
        self, account_id: int, ids: Sequence[int], *, add: Sequence[str], remove: Sequence[str]
    ) -> list[ActionResult]: ...
    def label(
        self, account_id: int, ids: Sequence[int], *, add: Sequence[str], remove: Sequence[str]
    ) -> list[ActionResult]: ...
    def move(
        self,
        account_id: int,
        ids: Sequence[int],
        *,
        folder: str | None = None,
        role: str | None = None,
    ) -> list[ActionResult]: ...
    def archive(self, account_id: int, ids: Sequence[int]) -> list[ActionResult]: ...
    def delete(
        self, account_id: int, ids: Sequence[int], *, permanent: bool = False
    ) -> list[ActionResult]: ...
    def thread(self, account_id: int, key: int) -> Thread: ...
    def get_many(self, account_id: int, ids: Sequence[int]) -> list[Message | None]: ...
    def attachment(
        self, account_id: int, key: int, index: int, *, inline: bool, network: bool
    ) -> AttachmentDownload: ...
    def events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        types: Sequence[str] = (),
        account_id: int | None = None,
        wait_ms: int = 0,
    ) -> EventPage: ...


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


# -- mailbox actions (issue 11): the gate first, before any argument is looked at ---------


def _folders(services: HostServices, account: int) -> Any:
    # Network off: the local store answers, and the result says so (source: local).
    return convert.ok(services.folders(account, network=network_enabled()))


def _folder_create(services: HostServices, policy: Policy, account: int, name: str) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "folder_create", int(account))
    require_network("folder_create")
    return convert.folder_change(services.folder_create(account, name))


def _folder_rename(services: HostServices, policy: Policy, account: int, old: str, new: str) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "folder_rename", int(account))
    require_network("folder_rename")
    return convert.folder_change(services.folder_rename(account, old, new))


def _folder_delete(
    services: HostServices, policy: Policy, account: int, name: str, force: bool
) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "folder_delete", int(account))
    require_network("folder_delete")
    return bool(services.folder_delete(account, name, force=bool(force)))


def _mark(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "mark", convert.account_of(rec))
    require_network("mark")
    account, ids, add, remove = convert.flag_request(rec)
    return convert.action_results(services.mark(account, ids, add=add, remove=remove))


def _label(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "label", convert.account_of(rec))
    require_network("label")
    account, ids, add, remove = convert.flag_request(rec)
    return convert.action_results(services.label(account, ids, add=add, remove=remove))


def _move(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "move", convert.account_of(rec))
    require_network("move")
    account, ids, folder, role = convert.move_request(rec)
    return convert.action_results(services.move(account, ids, folder=folder, role=role))


def _archive(services: HostServices, policy: Policy, account: int, ids: Any) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "archive", int(account))
    require_network("archive")
    return convert.action_results(services.archive(account, convert.ids(ids)))


def _delete(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check(Action.CHANGE_MAILBOX, "delete", convert.account_of(rec))
    require_network("delete")
    account, ids, permanent = convert.delete_request(rec)
    return convert.action_results(services.delete(account, ids, permanent=permanent))


def _attachment(services: HostServices, rec: Any) -> Any:
    # Network off: only bytes kept at sync time can be handed out (the service refuses
    # the rest with EMAIL_NETWORK_DISABLED before any connection).
    account, key, index, inline = convert.attachment_request(rec)
    found = services.attachment(account, key, index, inline=inline, network=network_enabled())
    return convert.attachment_download(found)


def _events(services: HostServices, rec: Any) -> Any:
    # The local store answers with the network off; the wait happens here, in the host,
    # between the bridge's pause and resume of the guest's compute clock.
    after, limit, types, account, wait_ms = convert.event_query(rec)
    page = services.events(
        after=after, limit=limit, types=types, account_id=account, wait_ms=wait_ms
    )
    return convert.event_page(page)


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
        "folders": _guarded("folders", lambda a: _folders(s, a), on_enter, on_leave),
        "folder-create": _guarded(
            "folder-create", lambda a, n: _folder_create(s, p, a, n), on_enter, on_leave
        ),
        "folder-rename": _guarded(
            "folder-rename", lambda a, o, n: _folder_rename(s, p, a, o, n), on_enter, on_leave
        ),
        "folder-delete": _guarded(
            "folder-delete", lambda a, n, f: _folder_delete(s, p, a, n, f), on_enter, on_leave
        ),
        "mark": _guarded("mark", lambda r: _mark(s, p, r), on_enter, on_leave),
        "label": _guarded("label", lambda r: _label(s, p, r), on_enter, on_leave),
        "move": _guarded("move", lambda r: _move(s, p, r), on_enter, on_leave),
        "archive": _guarded("archive", lambda a, i: _archive(s, p, a, i), on_enter, on_leave),
        "delete": _guarded("delete", lambda r: _delete(s, p, r), on_enter, on_leave),
        "thread": _guarded("thread", lambda a, k: convert.ok(s.thread(a, k)), on_enter, on_leave),
        "get-many": _guarded(
            "get-many",
            lambda a, i: convert.ok(s.get_many(a, convert.ids(i))),
            on_enter,
            on_leave,
        ),
        "attachment": _guarded("attachment", lambda r: _attachment(s, r), on_enter, on_leave),
        "events": _guarded("events", lambda q: _events(s, q), on_enter, on_leave),
    }
    convert.patch_result_lowering()
    with linker.root() as root, root.add_instance(HOST_INSTANCE) as host:
        for name, fn in functions.items():
            host.add_func(name, fn)
