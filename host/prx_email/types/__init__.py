"""Domain values shared by every host layer.

They mirror the records of ``wit/types.wit`` one to one (snake_case fields);
``prx_email.bridge.convert`` is the only place that turns them into WIT values.

Each concern lives in a private submodule, loaded on first use of one of its names (PEP 562):
creating a frozen slotted dataclass costs about a millisecond, and a sync process needs only
a few of them (attachments, sync reports), not the outbox or outgoing ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

AccountId = int
MessageKey = int
OutboxId = int
Timestamp = int  # seconds since the Unix epoch, UTC

if TYPE_CHECKING:
    from ._account import Account
    from ._actions import (
        ActionOutcome,
        ActionResult,
        AttachmentDownload,
        FolderInfo,
        FolderList,
        Thread,
    )
    from ._attachment import AttachmentMeta, ParsedAttachment
    from ._draft import DraftInfo, DraftRequest, DraftState, DraftStatus
    from ._events import EVENT_TYPES, Event, EventPage
    from ._health import AccountHealth, HealthReport, HealthStatus, HealthStep
    from ._limits import ToolLimits, check_dates
    from ._message import Header, Message, MessagePage, MessageSummary, Removal
    from ._outbox import OutboxBounce, OutboxEntry, OutboxPage, OutboxQuery, OutboxStatus
    from ._query import ListQuery, SearchQuery
    from ._send import (
        AttachmentBase64,
        AttachmentPath,
        AttachmentSource,
        ForwardMode,
        ForwardRequest,
        OutgoingAttachment,
        OutgoingMessage,
        ReplyRequest,
    )
    from ._sync import FolderReport, SyncReport, SyncRequest

_LAZY = {
    "Account": "._account",
    "ActionOutcome": "._actions",
    "ActionResult": "._actions",
    "AttachmentDownload": "._actions",
    "FolderInfo": "._actions",
    "FolderList": "._actions",
    "Thread": "._actions",
    "AttachmentMeta": "._attachment",
    "ParsedAttachment": "._attachment",
    "Header": "._message",
    "Message": "._message",
    "Removal": "._message",
    "MessagePage": "._message",
    "MessageSummary": "._message",
    "OutboxBounce": "._outbox",
    "OutboxEntry": "._outbox",
    "OutboxPage": "._outbox",
    "OutboxQuery": "._outbox",
    "OutboxStatus": "._outbox",
    "ListQuery": "._query",
    "SearchQuery": "._query",
    "AttachmentBase64": "._send",
    "AttachmentPath": "._send",
    "AttachmentSource": "._send",
    "ForwardMode": "._send",
    "ForwardRequest": "._send",
    "OutgoingAttachment": "._send",
    "OutgoingMessage": "._send",
    "ReplyRequest": "._send",
    "ToolLimits": "._limits",
    "check_dates": "._limits",
    "FolderReport": "._sync",
    "DraftInfo": "._draft",
    "DraftRequest": "._draft",
    "DraftState": "._draft",
    "DraftStatus": "._draft",
    "EVENT_TYPES": "._events",
    "Event": "._events",
    "EventPage": "._events",
    "SyncReport": "._sync",
    "SyncRequest": "._sync",
    "AccountHealth": "._health",
    "HealthReport": "._health",
    "HealthStatus": "._health",
    "HealthStep": "._health",
}

__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "EVENT_TYPES",
    "Account",
    "AccountHealth",
    "AccountId",
    "ActionOutcome",
    "ActionResult",
    "AttachmentBase64",
    "AttachmentDownload",
    "AttachmentMeta",
    "AttachmentPath",
    "AttachmentSource",
    "DraftInfo",
    "DraftRequest",
    "DraftState",
    "DraftStatus",
    "Event",
    "EventPage",
    "FolderInfo",
    "FolderList",
    "FolderReport",
    "ForwardMode",
    "ForwardRequest",
    "Header",
    "HealthReport",
    "HealthStatus",
    "HealthStep",
    "ListQuery",
    "Message",
    "MessageKey",
    "MessagePage",
    "MessageSummary",
    "OutboxBounce",
    "OutboxEntry",
    "OutboxId",
    "OutboxPage",
    "OutboxQuery",
    "OutboxStatus",
    "OutgoingAttachment",
    "OutgoingMessage",
    "ParsedAttachment",
    "Removal",
    "ReplyRequest",
    "SearchQuery",
    "SyncReport",
    "SyncRequest",
    "Thread",
    "Timestamp",
    "ToolLimits",
    "check_dates",
]
