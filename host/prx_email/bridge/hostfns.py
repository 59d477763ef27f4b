"""The host functions of ``wit/host.wit``, registered on a component ``Linker``.

Each one checks the policy (``policy``: the account's tool group and mode), converts its WIT
arguments (``convert``), applies the network gate (``gate``), calls ``HostServices`` and
converts the answer back; stored messages leave through ``services.untrusted``. None of them
ever raises into wasmtime — that would trap the guest and poison its instance: an
``EmailError`` keeps its code, anything else becomes ``internal`` with a generic message and
is logged here with its traceback.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from wasmtime.component import Linker

from ..config.model import ToolGroup
from ..errors import EmailError, ErrorCode, InternalError
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
    ForwardRequest,
    HealthReport,
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
READ = ToolGroup.READ


class HostServices(Protocol):
    """What the host functions call; ``prx_email.services.facade.Services`` implements it.

    Methods raise ``EmailError`` subclasses for expected failures.
    """

    def limits(self) -> ToolLimits: ...
    def accounts(self) -> list[Account]: ...
    def health(self, account_id: int | None, *, network: bool) -> HealthReport: ...
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
    def draft_send(
        self, account_id: int, draft_id: str, send_at: str | None = None
    ) -> OutboxEntry: ...
    def cancel(self, outbox_id: int) -> OutboxEntry: ...
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
    def forward(self, req: ForwardRequest) -> OutboxEntry: ...
    def events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        types: Sequence[str] = (),
        account_id: int | None = None,
        wait_ms: int = 0,
    ) -> EventPage: ...


class AuditHook(Protocol):
    """Told each answered host call: its name, raw WIT arguments, outcome (``ok`` or the
    envelope code) and WIT answer; ``services.audit.Auditor.host_call`` implements it.
    Never raises."""

    def __call__(self, name: str, args: Sequence[Any], outcome: str, result: Any) -> None: ...


class Hooks(Protocol):
    """Called around every host function (the runtime pauses the guest's deadline)."""

    def __call__(self) -> None: ...


def _noop() -> None:
    return None


def _guarded_call(
    name: str,
    body: Callable[..., Any],
    on_enter: Hooks,
    on_leave: Hooks,
    *,
    on_error: Callable[[EmailError], Any] = convert.err,
    audit: AuditHook | None = None,
) -> Callable[..., Any]:
    def host_function(_store: Any, *args: Any) -> Any:
        on_enter()
        # Audited here, around every call and whatever it answers (refusals too), so no
        # guest can reach a mutation without leaving an entry.
        outcome, result = "ok", None
        try:
            result = body(*args)
            return result
        except EmailError as exc:
            outcome = exc.code.envelope
            return on_error(exc)
        except Exception:
            outcome = ErrorCode.INTERNAL.envelope
            log.exception("host function %s failed", name)
            return on_error(InternalError(f"the host failed while running {name}"))
        except BaseException as exc:
            # KeyboardInterrupt/SystemExit must not unwind through wasmtime's C frames
            # (ctypes would swallow it and hand back an unset result): answer, then
            # re-raise in the caller once the guest returns (``raise_pending``).
            outcome = ErrorCode.INTERNAL.envelope
            _pending.exc = exc
            return on_error(InternalError(f"{name} was interrupted"))
        finally:
            if audit is not None:
                audit(name, args, outcome, result)
            on_leave()

    return host_function


_pending = threading.local()


def raise_pending() -> None:
    """Re-raise a KeyboardInterrupt/SystemExit that hit a host function on this thread."""
    exc: BaseException | None = getattr(_pending, "exc", None)
    if exc is not None:
        _pending.exc = None
        raise exc


def _search(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check_group(READ, "search", convert.account_of(rec))
    query = convert.search_query(rec)
    if query.remote:
        require_network("remote search")
    return convert.page(_untrusted().clean_page(services.search(query)))


def _sync(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check_group(READ, "sync", convert.account_of(rec))
    require_network("sync")
    req = convert.sync_request(rec)
    return convert.ok(services.sync(req))


def _mutation(
    policy: Policy, group: ToolGroup, action: Action, name: str, account: int | None
) -> None:
    """What every host function that sends or changes the server checks first, in this
    order: the account's tool group, the mode (read_only / draft_only), the network gate."""
    policy.check_group(group, name, account)
    policy.check(action, name, account)
    require_network(name)


def _send(services: HostServices, policy: Policy, rec: Any) -> Any:
    _mutation(policy, ToolGroup.SEND, Action.SEND, "send", convert.account_of(rec))
    msg = convert.outgoing_message(rec)
    return convert.ok(services.send(msg))


def _reply(services: HostServices, policy: Policy, rec: Any) -> Any:
    _mutation(policy, ToolGroup.SEND, Action.SEND, "reply", convert.account_of(rec))
    req = convert.reply_request(rec)
    return convert.ok(services.reply(req))


def _retry(services: HostServices, policy: Policy, outbox_id: int, now: bool) -> Any:
    policy.check_outbox(Action.SEND, "retry", outbox_id)
    require_network("retry")
    return convert.ok(services.retry(outbox_id, now=bool(now)))


def _draft_create(services: HostServices, policy: Policy, rec: Any) -> Any:
    _mutation(policy, ToolGroup.DRAFTS, Action.WRITE_DRAFT, "draft-create", convert.account_of(rec))
    return convert.ok(services.draft_create(convert.draft_request(rec)))


def _draft_update(services: HostServices, policy: Policy, draft_id: str, rec: Any) -> Any:
    _mutation(policy, ToolGroup.DRAFTS, Action.WRITE_DRAFT, "draft-update", convert.account_of(rec))
    return convert.ok(services.draft_update(str(draft_id), convert.draft_request(rec)))


def _draft_delete(services: HostServices, policy: Policy, account: int, draft_id: str) -> Any:
    _mutation(policy, ToolGroup.DRAFTS, Action.WRITE_DRAFT, "draft-delete", int(account))
    return services.draft_delete(int(account), str(draft_id))


def _draft_send(
    services: HostServices, policy: Policy, account: int, draft_id: str, send_at: Any
) -> Any:
    # Sending, scheduled or not: refused in draft_only/read_only before anything is read.
    _mutation(policy, ToolGroup.SEND, Action.SEND, "draft-send", int(account))
    at = None if send_at is None else str(send_at)
    return convert.ok(services.draft_send(int(account), str(draft_id), at))


def _cancel(services: HostServices, policy: Policy, outbox_id: int) -> Any:
    # Allowed in every mode: it can only stop a message, never send one. No network. It
    # belongs to the send group (the outbox's), switched per account like the rest.
    account_id = policy.outbox_account(int(outbox_id)) if policy.outbox_account else None
    policy.check_group(ToolGroup.SEND, "cancel", account_id)
    return convert.ok(services.cancel(int(outbox_id)))


def _draft_status(services: HostServices, policy: Policy, account: int, draft_id: str) -> Any:
    policy.check_group(ToolGroup.DRAFTS, "draft-status", int(account))
    require_network("draft-status")
    return convert.ok(services.draft_status(int(account), str(draft_id)))


# -- mailbox actions (issue 11): the gate first, before any argument is looked at ---------


def _health(services: HostServices, policy: Policy, account: int | None) -> Any:
    # Not gated: with the network off the offline checks answer (network-checked: false).
    acc = None if account is None else int(account)
    policy.check_group(READ, "health", acc)
    return convert.ok(services.health(acc, network=network_enabled()))


def _folders(services: HostServices, policy: Policy, account: int) -> Any:
    policy.check_group(READ, "folders", int(account))
    # Network off: the local store answers, and the result says so (source: local).
    return convert.ok(services.folders(account, network=network_enabled()))


def _folder_create(services: HostServices, policy: Policy, account: int, name: str) -> Any:
    _mutation(policy, ToolGroup.FOLDERS, Action.CHANGE_MAILBOX, "folder_create", int(account))
    return convert.folder_change(services.folder_create(account, name))


def _folder_rename(services: HostServices, policy: Policy, account: int, old: str, new: str) -> Any:
    _mutation(policy, ToolGroup.FOLDERS, Action.CHANGE_MAILBOX, "folder_rename", int(account))
    return convert.folder_change(services.folder_rename(account, old, new))


def _folder_delete(
    services: HostServices, policy: Policy, account: int, name: str, force: bool
) -> Any:
    _mutation(policy, ToolGroup.FOLDERS, Action.CHANGE_MAILBOX, "folder_delete", int(account))
    return bool(services.folder_delete(account, name, force=bool(force)))


def _mark(services: HostServices, policy: Policy, rec: Any) -> Any:
    _mutation(policy, ToolGroup.MARK, Action.CHANGE_MAILBOX, "mark", convert.account_of(rec))
    account, ids, add, remove = convert.flag_request(rec)
    return convert.action_results(services.mark(account, ids, add=add, remove=remove))


def _label(services: HostServices, policy: Policy, rec: Any) -> Any:
    _mutation(policy, ToolGroup.LABEL, Action.CHANGE_MAILBOX, "label", convert.account_of(rec))
    account, ids, add, remove = convert.flag_request(rec)
    return convert.action_results(services.label(account, ids, add=add, remove=remove))


def _move(services: HostServices, policy: Policy, rec: Any) -> Any:
    _mutation(policy, ToolGroup.MOVE, Action.CHANGE_MAILBOX, "move", convert.account_of(rec))
    account, ids, folder, role = convert.move_request(rec)
    return convert.action_results(services.move(account, ids, folder=folder, role=role))


def _archive(services: HostServices, policy: Policy, account: int, ids: Any) -> Any:
    _mutation(policy, ToolGroup.MOVE, Action.CHANGE_MAILBOX, "archive", int(account))
    return convert.action_results(services.archive(account, convert.ids(ids)))


def _delete(services: HostServices, policy: Policy, rec: Any) -> Any:
    _mutation(policy, ToolGroup.DELETE, Action.CHANGE_MAILBOX, "delete", convert.account_of(rec))
    account, ids, permanent = convert.delete_request(rec)
    return convert.action_results(services.delete(account, ids, permanent=permanent))


def _attachment(services: HostServices, policy: Policy, rec: Any) -> Any:
    # Network off: only bytes kept at sync time can be handed out (the service refuses
    # the rest with EMAIL_NETWORK_DISABLED before any connection).
    policy.check_group(READ, "attachment", convert.account_of(rec))
    account, key, index, inline = convert.attachment_request(rec)
    found = services.attachment(account, key, index, inline=inline, network=network_enabled())
    return convert.attachment_download(found)


def _forward(services: HostServices, policy: Policy, rec: Any) -> Any:
    # A forward sends: the send group, the mode and the gate, before the request is read.
    _mutation(policy, ToolGroup.SEND, Action.SEND, "forward", convert.account_of(rec))
    return convert.ok(services.forward(convert.forward_request(rec)))


# -- reads: the read group; what comes out of a stored message is untrusted ------------


def _untrusted() -> Any:
    # Imported on the first read, not at start-up: a TA or CLI process that only describes
    # never pays for it (its HTML parser and sanitiser load on the first full message).
    from ..services import untrusted

    return untrusted


def _list_messages(services: HostServices, policy: Policy, rec: Any) -> Any:
    policy.check_group(READ, "list-messages", convert.account_of(rec))
    return convert.page(_untrusted().clean_page(services.list_messages(convert.list_query(rec))))


def _list_outbox(services: HostServices, policy: Policy, rec: Any) -> Any:
    query = convert.outbox_query(rec)
    policy.check_group(READ, "list-outbox", query.account_id)
    return convert.ok(services.list_outbox(query))


def _get_message(services: HostServices, policy: Policy, account: int, key: int) -> Any:
    policy.check_group(READ, "get-message", int(account))
    found = services.get_message(account, key)
    return convert.to_wit(None if found is None else _untrusted().clean_message(found))


def _get_many(services: HostServices, policy: Policy, account: int, ids: Any) -> Any:
    policy.check_group(READ, "get-many", int(account))
    found = services.get_many(account, convert.ids(ids))
    clean = _untrusted().clean_message
    return convert.ok([None if m is None else clean(m) for m in found])


def _thread(services: HostServices, policy: Policy, account: int, key: int) -> Any:
    policy.check_group(READ, "thread", int(account))
    found = services.thread(account, key)
    # The bodies, for the snippets of HTML-only messages (stored with their hidden text).
    ids = [s.id for s in found.messages]
    step = max(1, services.limits().get_many_max)
    full = [
        m for i in range(0, len(ids), step) for m in services.get_many(account, ids[i : i + step])
    ]
    return convert.ok(_untrusted().clean_thread(found, full))


def _groups_or_read(policy: Policy) -> Callable[[], Any]:
    def tool_groups() -> Any:
        try:
            return [g.value for g in policy.visible_groups()]
        except Exception:  # list<string> has no error case; read only is the safe side
            log.exception("host function tool-groups failed")
            return [READ.value]

    return tool_groups


def _events(services: HostServices, policy: Policy, rec: Any) -> Any:
    # The local store answers with the network off; the wait happens here, in the host,
    # between the bridge's pause and resume of the guest's compute clock.
    after, limit, types, account, wait_ms = convert.event_query(rec)
    policy.check_group(READ, "events", account)
    page = services.events(
        after=after, limit=limit, types=types, account_id=account, wait_ms=wait_ms
    )
    return convert.event_page(_untrusted().clean_event_page(page))


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
    audit: AuditHook | None = None,
) -> None:
    """Define every function of the ``host`` interface on ``linker``.

    ``policy`` is the mode policy (default: ``PRX_EMAIL_MODE`` only, no account modes).
    ``audit`` is told every answered call (it records the mutating ones).
    """
    s = services
    p = policy if policy is not None else allow_all()
    _guarded = functools.partial(_guarded_call, audit=audit)
    functions: dict[str, Callable[..., Any]] = {
        "limits": _guarded("limits", _limits_or_defaults(s), on_enter, on_leave),
        "accounts": _guarded("accounts", _accounts_or_empty(s), on_enter, on_leave),
        "tool-groups": _guarded("tool-groups", _groups_or_read(p), on_enter, on_leave),
        "health": _guarded("health", lambda a: _health(s, p, a), on_enter, on_leave),
        "sync": _guarded("sync", lambda r: _sync(s, p, r), on_enter, on_leave),
        "list-messages": _guarded(
            "list-messages", lambda q: _list_messages(s, p, q), on_enter, on_leave
        ),
        "get-message": _guarded(
            "get-message",
            lambda a, k: _get_message(s, p, a, k),
            on_enter,
            on_leave,
            on_error=lambda e: convert.ResultErr(convert.err(e)),
        ),
        "search": _guarded("search", lambda q: _search(s, p, q), on_enter, on_leave),
        "send": _guarded("send", lambda m: _send(s, p, m), on_enter, on_leave),
        "reply": _guarded("reply", lambda r: _reply(s, p, r), on_enter, on_leave),
        "retry": _guarded("retry", lambda i, n: _retry(s, p, i, n), on_enter, on_leave),
        "list-outbox": _guarded("list-outbox", lambda q: _list_outbox(s, p, q), on_enter, on_leave),
        "draft-create": _guarded(
            "draft-create", lambda r: _draft_create(s, p, r), on_enter, on_leave
        ),
        "draft-status": _guarded(
            "draft-status", lambda a, d: _draft_status(s, p, a, d), on_enter, on_leave
        ),
        "draft-update": _guarded(
            "draft-update", lambda d, r: _draft_update(s, p, d, r), on_enter, on_leave
        ),
        "draft-delete": _guarded(
            "draft-delete", lambda a, d: _draft_delete(s, p, a, d), on_enter, on_leave
        ),
        "draft-send": _guarded(
            "draft-send", lambda a, d, t: _draft_send(s, p, a, d, t), on_enter, on_leave
        ),
        "cancel": _guarded("cancel", lambda i: _cancel(s, p, i), on_enter, on_leave),
        "folders": _guarded("folders", lambda a: _folders(s, p, a), on_enter, on_leave),
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
        "thread": _guarded("thread", lambda a, k: _thread(s, p, a, k), on_enter, on_leave),
        "get-many": _guarded("get-many", lambda a, i: _get_many(s, p, a, i), on_enter, on_leave),
        "attachment": _guarded("attachment", lambda r: _attachment(s, p, r), on_enter, on_leave),
        "forward": _guarded("forward", lambda r: _forward(s, p, r), on_enter, on_leave),
        "events": _guarded("events", lambda q: _events(s, p, q), on_enter, on_leave),
    }
    convert.patch_result_lowering()
    with linker.root() as root, root.add_instance(HOST_INSTANCE) as host:
        for name, fn in functions.items():
            host.add_func(name, fn)
