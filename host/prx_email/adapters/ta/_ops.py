"""The TA operations, each a few tool calls through ``Plugin.execute`` (the sandbox).

Nothing here talks to a server or the store directly: the guest validates, the host
functions enforce the network gate and the draft-only policy, exactly as for any agent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...api import Plugin
from ...bridge.gate import network_enabled
from ...config.model import AccountConfig, Config
from ._protocol import FETCH_LIMIT_DEFAULT, ProtocolError, ok

#: New messages one fetch syncs at most before answering (the rest come with the next one).
SYNC_BUDGET = 500
FOLDER = "INBOX"
#: Ids per email.get_many call (its fixed maximum): with search pages of the configured
#: ``[limits] page_max``, a fetch of 50 messages is one search and three get_many calls.
GET_MANY = 20
CAPABILITIES = ("fetch", "create_draft", "draft_status", "health")
# The tools each optional op needs; an op is offered only when the catalogue has them all.
_NEEDS: dict[str, tuple[str, ...]] = {
    "fetch": ("email.accounts", "email.search", "email.get_many"),
    "create_draft": ("email.accounts", "email.draft_create"),
    "draft_status": ("email.accounts", "email.draft_status"),
    "health": ("email.accounts", "email.search"),
}


class OpFailed(ProtocolError):
    """A tool answered an error envelope; the text keeps its code, message and hint."""


def _call(plugin: Plugin, tool: str, args: dict[str, Any]) -> Any:
    envelope = plugin.execute(tool, args)
    if envelope.get("ok") is True:
        return envelope.get("data")
    err = envelope.get("error") or {}
    code, message, hint = err.get("code"), err.get("message"), err.get("hint")
    text = f"{code}: {message}" + (f" (hint: {hint})" if hint else "")
    raise OpFailed(text)


def _account(plugin: Plugin, address: str | None) -> dict[str, Any]:
    accounts: list[dict[str, Any]] = _call(plugin, "email.accounts", {})
    if not accounts:
        raise OpFailed("no account is configured")
    if address is None:
        return accounts[0]
    wanted = address.strip().lower()
    for acc in accounts:
        if str(acc.get("address", "")).lower() == wanted:
            return acc
    known = ", ".join(str(a.get("address")) for a in accounts)
    raise OpFailed(f"no account with address {address!r}; configured: {known}")


def _parse_since(value: str) -> int:
    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ProtocolError(
            f"fetch: since is not an ISO-8601 date-time: {value[:64]!r} "
            '(e.g. "2026-11-22T10:00:00Z")'
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # no offset means UTC, as in the plugin's tools
    return int(when.timestamp())


def _iso(ts: int | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _thread_id(msg: dict[str, Any]) -> str:
    refs = [r for r in msg.get("references") or [] if r]
    if refs:
        return str(refs[0])
    summary = msg["summary"]
    return str(msg.get("in_reply_to") or summary.get("message_id") or f"local:{summary['id']}")


def _shape(msg: dict[str, Any]) -> dict[str, str]:
    s = msg["summary"]
    return {
        "id": str(s.get("message_id") or f"local:{s['id']}"),
        "from": str(s.get("from") or ""),
        "to": ", ".join(s.get("to") or []),
        "subject": str(s.get("subject") or ""),
        "body_text": msg.get("body_text") or "",
        "body_html": msg.get("body_html") or "",
        "thread_id": _thread_id(msg),
        "received_at": _iso(s.get("date")),
    }


def fetch(plugin: Plugin, config: Config, params: dict[str, Any]) -> dict[str, Any]:
    since = _parse_since(params["since"])
    limit: int = params.get("limit", FETCH_LIMIT_DEFAULT)
    acc = _account(plugin, params.get("account"))
    if network_enabled() and acc.get("has_imap"):
        _call(
            plugin,
            "email.sync",
            {"account_id": acc["id"], "folder": FOLDER, "max_messages": SYNC_BUDGET},
        )
    # The store pages newest first: collect every match (summaries only, in pages of up to
    # page_max), then answer the oldest ``limit`` with their bodies, GET_MANY per call.
    page_size = plugin.services.limits().search_page_max
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        args: dict[str, Any] = {
            "account_id": acc["id"],
            "folder": FOLDER,
            "since": since,
            "limit": page_size,
        }
        if cursor:
            args["cursor"] = cursor
        page = _call(plugin, "email.search", args)
        found.extend(page["messages"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    found.sort(key=lambda s: (s.get("date") or 0, s["id"]))
    wanted = [summary["id"] for summary in found[:limit]]
    bodies: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), GET_MANY):
        batch = wanted[start : start + GET_MANY]
        got = _call(plugin, "email.get_many", {"account_id": acc["id"], "ids": batch})
        bodies.update((msg["summary"]["id"], msg) for msg in got["messages"])
    # A message deleted between the search and get_many is left out, not answered half.
    return ok(messages=[_shape(bodies[key]) for key in wanted if key in bodies])


def _addresses(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def create_draft(plugin: Plugin, config: Config, params: dict[str, Any]) -> dict[str, Any]:
    draft: dict[str, Any] = params["draft"]
    acc = _account(plugin, params.get("account"))
    args: dict[str, Any] = {
        "account_id": acc["id"],
        "to": _addresses(draft["to"]),
        "subject": draft["subject"],
        "body_html": draft["body_html"],
    }
    if draft.get("body_text") is not None:
        args["body_text"] = draft["body_text"]
    parent = draft.get("in_reply_to") or draft.get("thread_id")
    if parent:
        args["in_reply_to_message_id"] = parent
    info = _call(plugin, "email.draft_create", args)
    return ok(draft_id=info["draft_id"])


def draft_status(plugin: Plugin, config: Config, params: dict[str, Any]) -> dict[str, Any]:
    acc = _account(plugin, params.get("account"))
    status = _call(
        plugin, "email.draft_status", {"account_id": acc["id"], "draft_id": params["draft_id"]}
    )
    return ok(state=status["state"], reason=status.get("reason"))


def _provider(account: AccountConfig | None, address: str) -> str:
    from ...config.presets import PRESETS, preset_for  # health only: not on fetch's path

    preset = preset_for(address)
    if account is not None and account.imap is not None:
        for candidate in PRESETS.values():
            if candidate.imap.host == account.imap.host:
                preset = candidate
                break
    return preset.name if preset is not None else "custom"


def health(plugin: Plugin, config: Config, params: dict[str, Any]) -> dict[str, Any]:
    acc = _account(plugin, params.get("account"))
    if not acc.get("has_imap"):
        raise OpFailed(f"account {acc['address']} has no IMAP server configured")
    # A remote search that matches nothing: connects, logs in and selects INBOX, reads nothing.
    _call(
        plugin,
        "email.search",
        {"account_id": acc["id"], "folder": FOLDER, "remote": True, "before": 86400, "limit": 1},
    )
    address = str(acc["address"])
    return ok(address=address, provider=_provider(config.account(int(acc["id"])), address))


def capabilities(plugin: Plugin, config: Config, params: dict[str, Any]) -> dict[str, Any]:
    tools = {entry["name"] for entry in plugin.describe()}
    offered = [op for op in CAPABILITIES if all(t in tools for t in _NEEDS[op])]
    return ok(capabilities=offered)


OPERATIONS: dict[str, Callable[[Plugin, Config, dict[str, Any]], dict[str, Any]]] = {
    "fetch": fetch,
    "create_draft": create_draft,
    "draft_status": draft_status,
    "health": health,
    "capabilities": capabilities,
}
