"""MCP resources: read-only views answered by tool calls through the sandbox.

=====================================  ===========================================  ==========
URI                                    what                                         tool call
=====================================  ===========================================  ==========
``email://accounts``                   the configured accounts                      accounts
``email://accounts/{id}/folders``      the account's folders with stored counts     folders
``email://accounts/{id}/unread``       the newest unread messages (up to 20)        list
``email://outbox``                     the newest outbox rows                       outbox
=====================================  ===========================================  ==========

Each read is an ordinary ``Plugin.execute`` (same gate, policy and bounds as a tool call).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ...envelope import Envelope

__all__ = [
    "ACCOUNTS",
    "OUTBOX",
    "STATIC",
    "UNREAD_PAGE",
    "ResourceView",
    "UnknownResource",
    "account_uris",
    "as_text",
    "is_known",
    "read_view",
    "uris_for",
]

ACCOUNTS = "email://accounts"
OUTBOX = "email://outbox"
#: How many unread messages the unread resource lists (``more`` says there are others).
UNREAD_PAGE = 20

_ACCOUNT_URI = re.compile(r"^email://accounts/([1-9][0-9]{0,9})/(folders|unread)\Z")

Execute = Callable[[str, dict[str, Any]], Awaitable[Envelope]]


@dataclass(frozen=True, slots=True)
class ResourceView:
    """One resource: its URI, a display name and description for the client's list."""

    uri: str
    name: str
    description: str


def account_uris(account_id: int, name: str) -> list[ResourceView]:
    base = f"email://accounts/{account_id}"
    return [
        ResourceView(
            f"{base}/folders",
            f"{name}: folders",
            f"Folders of account {account_id} with stored message and unread counts.",
        ),
        ResourceView(
            f"{base}/unread",
            f"{name}: unread",
            f"The newest unread messages of account {account_id} (up to {UNREAD_PAGE}: id, "
            "date, from, subject, snippet); per-folder counts are in its folders resource.",
        ),
    ]


STATIC = [
    ResourceView(ACCOUNTS, "accounts", "The configured accounts; their id is account_id."),
    ResourceView(OUTBOX, "outbox", "The newest outbox rows and their delivery status."),
]


def uris_for(kind: str, account_id: int | None) -> list[str]:
    """The resources a change of ``kind`` ("account" or "outbox") may have changed."""
    if kind == "outbox":
        return [OUTBOX]
    if account_id is None:
        return []
    return [view.uri for view in account_uris(account_id, "")]


def is_known(uri: str) -> bool:
    """Whether ``uri`` names one of our resources (the account may still be unknown)."""
    return uri in {ACCOUNTS, OUTBOX} or _ACCOUNT_URI.match(uri) is not None


class UnknownResource(LookupError):
    """No resource has that URI."""


async def read_view(uri: str, execute: Execute) -> Envelope:
    """The envelope behind ``uri``.

    :raises UnknownResource: no resource has that URI.
    """
    if uri == ACCOUNTS:
        return await execute("email.accounts", {})
    if uri == OUTBOX:
        return await execute("email.outbox", {"limit": 50})
    match = _ACCOUNT_URI.match(uri)
    if match is None:
        raise UnknownResource(uri)
    account_id, what = int(match.group(1)), match.group(2)
    if what == "folders":
        return await execute("email.folders", {"account_id": account_id})
    return await _unread(account_id, execute)


async def _unread(account_id: int, execute: Execute) -> Envelope:
    # One local read (email.list), never email.folders: that one asks the server when the
    # network is on and takes the slow lane; per-folder counts are the folders resource's.
    page = await execute(
        "email.list", {"account_id": account_id, "unseen_only": True, "limit": UNREAD_PAGE}
    )
    if not page.get("ok"):
        return page
    messages = page["data"].get("messages", [])
    more = page["data"].get("next_cursor") is not None
    data = {
        "account_id": account_id,
        "shown": len(messages),
        "newest": messages,
        "more": more,
    }
    return {"ok": True, "data": data}


def as_text(envelope: Envelope) -> str:
    """A resource's contents: the envelope's data (or its error) as JSON."""
    body = envelope["data"] if envelope.get("ok") else {"error": envelope.get("error")}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
