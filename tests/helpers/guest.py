"""A fake host for native guest tests: the functions of ``wit_world.imports.host``, recording
every call and answering with canned records or a canned ``Err``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from componentize_py_types import Err
from prx_email_guest import ALL_GROUPS, DEFAULT_LIMITS, Guest
from wit_world.imports import types

SUMMARY = types.MessageSummary(
    id=7,
    account_id=1,
    folder="INBOX",
    uid=42,
    message_id="<abc@example.org>",
    subject="Invoice 2026-11",
    from_="billing@example.org",
    to=["me@example.org"],
    cc=[],
    date=1_763_800_000,
    flags=["\\Seen"],
    snippet="Your invoice",
    has_attachments=True,
    size=3210,
    thread_id="<root@example.org>",
)

EVENT = types.Event(
    id=12,
    kind="flags_changed",
    account_id=1,
    folder="INBOX",
    message=7,
    uid=42,
    message_id="<abc@example.org>",
    thread_id="<root@example.org>",
    from_="billing@example.org",
    subject="Invoice 2026-11",
    snippet="Your invoice",
    ts_ms=1_763_800_000_250,
    automated=None,
    detail_json='{"flags":["\\\\Seen"],"previous":[]}',
)

MESSAGE = types.Message(
    summary=SUMMARY,
    reply_to=["billing-replies@example.org"],
    in_reply_to=None,
    references=["<root@example.org>"],
    headers=[types.Header(name="Subject", value="Invoice 2026-11")],
    body_text="Hello",
    body_html="<p>Hello</p>",
    body_truncated=False,
    attachments=[
        types.AttachmentMeta(
            index=0,
            filename="invoice.pdf",
            content_type="application/pdf",
            size=1000,
            sha256="ab" * 32,
            stored=True,
        )
    ],
    untrusted=True,
    removed=[types.Removal(reason="html-comment", count=1)],
)

PAGE = types.MessagePage(messages=[SUMMARY], next_cursor="c2")

ENTRY = types.OutboxEntry(
    id=9,
    account_id=1,
    status=types.OutboxStatus.FAILED,
    message_id="<out-9@example.org>",
    subject="Hi",
    recipients=["friend@example.net"],
    attempts=2,
    created_at=0,
    updated_at=60,
    next_attempt_at=120,
    sent_at=None,
    last_error="451 try later",
    send_at=None,
    bounces=[],
)

ACCOUNT = types.Account(
    id=1,
    name="Demo",
    address="me@example.org",
    has_imap=True,
    has_smtp=False,
    folders=["INBOX", "Archive"],
)

REPORT = types.SyncReport(
    account_id=1,
    folders=[
        types.FolderReport(
            folder="INBOX",
            fetched=3,
            flags_updated=1,
            expunged=0,
            uidvalidity_reset=False,
            more_pending=True,
        )
    ],
)

FOLDER = types.FolderInfo(name="Archive", role="archive", messages=3, unseen=1, synced=False)


def _results(ids: list[int]) -> list[types.ActionResult]:
    return [
        types.ActionResult(
            id=i,
            outcome=types.ActionOutcome.MOVED,
            folder="Archive",
            uid=100 + n,
            flags=[],
            labels=[],
        )
        for n, i in enumerate(ids)
    ]


DRAFT_INFO = types.DraftInfo(account_id=1, draft_id="<d1@example.org>", folder="Drafts", uid=7)


@dataclass
class FakeHost:
    """Same function names and positional signatures as ``wit_world.imports.host``."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    error: Any = None  # an EmailError_… case to raise as Err, or an exception to raise
    message: types.Message | None = field(default_factory=lambda: MESSAGE)
    tool_limits: types.ToolLimits = field(default_factory=lambda: DEFAULT_LIMITS)
    groups: list[str] = field(default_factory=lambda: sorted(ALL_GROUPS))

    limits_calls: int = 0  # kept apart from ``calls``: the guest asks once per instance

    def limits(self) -> types.ToolLimits:
        self.limits_calls += 1
        return self.tool_limits

    def tool_groups(self) -> list[str]:
        return list(self.groups)

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if isinstance(self.error, BaseException):
            raise self.error
        if self.error is not None:
            raise Err(self.error)

    def accounts(self) -> list[types.Account]:
        self._call("accounts")
        return [ACCOUNT]

    def health(self, account: int | None) -> types.HealthReport:
        self._call("health", account)
        step = types.HealthStep("imap.tls", types.HealthStatus.WARN, None)
        return types.HealthReport(True, False, [types.AccountHealth(account or 1, [step])])

    def sync(self, req: types.SyncRequest) -> types.SyncReport:
        self._call("sync", req)
        return REPORT

    def list_messages(self, query: types.ListQuery) -> types.MessagePage:
        self._call("list_messages", query)
        return PAGE

    def get_message(self, account: int, id: int) -> types.Message | None:
        self._call("get_message", account, id)
        return self.message

    def search(self, query: types.SearchQuery) -> types.MessagePage:
        self._call("search", query)
        return PAGE

    def send(self, msg: types.OutgoingMessage) -> types.OutboxEntry:
        self._call("send", msg)
        return ENTRY

    def reply(self, req: types.ReplyRequest) -> types.OutboxEntry:
        self._call("reply", req)
        return ENTRY

    def retry(self, id: int, now: bool) -> types.OutboxEntry:
        self._call("retry", id, now)
        return ENTRY

    def list_outbox(self, query: types.OutboxQuery) -> types.OutboxPage:
        self._call("list_outbox", query)
        return types.OutboxPage(entries=[ENTRY], next_cursor=None)

    def draft_create(self, req: types.DraftRequest) -> types.DraftInfo:
        self._call("draft_create", req)
        return DRAFT_INFO

    def draft_status(self, account: int, draft_id: str) -> types.DraftLookup:
        self._call("draft_status", account, draft_id)
        return types.DraftLookup(
            account_id=account,
            draft_id=draft_id,
            state=types.DraftState.DRAFTED,
            folder="Drafts",
            reason=None,
        )

    def draft_update(self, draft_id: str, req: types.DraftRequest) -> types.DraftInfo:
        self._call("draft_update", draft_id, req)
        return DRAFT_INFO

    def draft_delete(self, account: int, draft_id: str) -> int:
        self._call("draft_delete", account, draft_id)
        return 1

    def draft_send(self, account: int, draft_id: str, send_at: str | None) -> types.OutboxEntry:
        self._call("draft_send", account, draft_id, send_at)
        return ENTRY

    def cancel(self, id: int) -> types.OutboxEntry:
        self._call("cancel", id)
        return ENTRY

    def folders(self, account: int) -> types.FolderList:
        self._call("folders", account)
        return types.FolderList(folders=[FOLDER], source=types.FolderSource.SERVER)

    def folder_create(self, account: int, name: str) -> types.FolderChange:
        self._call("folder_create", account, name)
        return types.FolderChange(folder=FOLDER, changed=True)

    def folder_rename(self, account: int, old: str, new: str) -> types.FolderChange:
        self._call("folder_rename", account, old, new)
        return types.FolderChange(folder=FOLDER, changed=True)

    def folder_delete(self, account: int, name: str, force: bool) -> bool:
        self._call("folder_delete", account, name, force)
        return True

    def mark(self, req: types.FlagRequest) -> list[types.ActionResult]:
        self._call("mark", req)
        return _results(req.ids)

    def label(self, req: types.FlagRequest) -> list[types.ActionResult]:
        self._call("label", req)
        return _results(req.ids)

    def move(self, req: types.MoveRequest) -> list[types.ActionResult]:
        self._call("move", req)
        return _results(req.ids)

    def archive(self, account: int, ids: list[int]) -> list[types.ActionResult]:
        self._call("archive", account, ids)
        return _results(ids)

    def delete(self, req: types.DeleteRequest) -> list[types.ActionResult]:
        self._call("delete", req)
        return _results(req.ids)

    def thread(self, account: int, id: int) -> types.MessageThread:
        self._call("thread", account, id)
        return types.MessageThread(
            thread_id="<root@example.org>", messages=[SUMMARY], untrusted=True, removed=[]
        )

    def get_many(self, account: int, ids: list[int]) -> list[types.Message | None]:
        self._call("get_many", account, ids)
        return [self.message if i == SUMMARY.id else None for i in ids]

    def events(self, query: types.EventQuery) -> types.EventPage:
        self._call("events", query)
        return types.EventPage(events=[EVENT], next_after=EVENT.id, last_id=EVENT.id)

    def attachment(self, req: types.AttachmentRequest) -> types.AttachmentDownload:
        self._call("attachment", req)
        return types.AttachmentDownload(
            message=req.message,
            index=req.index,
            filename="invoice.pdf",
            content_type="application/pdf",
            size=3,
            sha256="cd" * 32,
            path=None,
            data_base64="YWJj",
            fetched_from_server=False,
        )

    def forward(self, req: types.ForwardRequest) -> types.OutboxEntry:
        self._call("forward", req)
        return ENTRY


def run(guest: Guest, tool: str, args: Any) -> dict[str, Any]:
    """Execute with ``args`` (a value, dumped to JSON; a str is passed as is) → parsed envelope."""
    raw = args if isinstance(args, str) else json.dumps(args)
    out = guest.execute(tool, raw)
    envelope: dict[str, Any] = json.loads(out)
    return envelope


def error_code(envelope: dict[str, Any]) -> str:
    assert envelope["ok"] is False, envelope
    code: str = envelope["error"]["code"]
    return code
