"""WIT results → plain JSON values (snake_case keys, fixed order).

Every timestamp ``x`` is followed by ``x_iso`` (``YYYY-MM-DDTHH:MM:SSZ`` or null).
``summary`` defines a listed message's JSON; ``summary_json`` writes the same object as text
in one pass (no dict, no encoder walk), which ``message_page`` uses for the listings: in the
sandbox's CPython the dicts and their encoding were a quarter of an ``email.list`` call.
``tests/test_guest_summary_json.py`` checks that the two agree.
"""

from __future__ import annotations

import json
from typing import Any, Final

from wit_world.imports import types

from prx_email_guest._envelope import TEXT, RawJSON
from prx_email_guest._timefmt import format_iso

__all__ = [
    "account",
    "action_results",
    "attachment_download",
    "draft_info",
    "draft_status",
    "event",
    "event_page",
    "folder",
    "folder_list",
    "health_report",
    "message",
    "message_page",
    "message_thread",
    "outbox_entry",
    "outbox_page",
    "summary",
    "summary_json",
    "sync_report",
]

JSON = dict[str, Any]

_STATUS: Final = {s: s.name.lower() for s in types.OutboxStatus}
_OUTCOME: Final = {o: o.name.lower() for o in types.ActionOutcome}
_SOURCE: Final = {s: s.name.lower() for s in types.FolderSource}
_HEALTH: Final = {s: s.name.lower() for s in types.HealthStatus}


def health_report(h: types.HealthReport) -> JSON:
    return {
        "ok": h.ok,
        "network_checked": h.network_checked,
        "accounts": [
            {
                "account_id": a.account_id,
                "steps": [
                    {"step": s.step, "status": _HEALTH[s.status], "error_code": s.error_code}
                    for s in a.steps
                ],
            }
            for a in h.accounts
        ],
    }


def account(a: types.Account) -> JSON:
    return {
        "id": a.id,
        "name": a.name,
        "address": a.address,
        "has_imap": a.has_imap,
        "has_smtp": a.has_smtp,
        "folders": list(a.folders),
    }


def summary(s: types.MessageSummary) -> JSON:
    return {
        "id": s.id,
        "account_id": s.account_id,
        "folder": s.folder,
        "uid": s.uid,
        "message_id": s.message_id,
        "subject": s.subject,
        "from": s.from_,
        "to": list(s.to),
        "cc": list(s.cc),
        "date": s.date,
        "date_iso": format_iso(s.date),
        "flags": list(s.flags),
        "snippet": s.snippet,
        "has_attachments": s.has_attachments,
        "size": s.size,
        "thread_id": s.thread_id,
    }


_SUMMARY: Final = (
    '{"id":%d,"account_id":%d,"folder":%s,"uid":%s,"message_id":%s,"subject":%s,"from":%s,'
    '"to":[%s],"cc":[%s],"date":%s,"date_iso":%s,"flags":[%s],"snippet":%s,'
    '"has_attachments":%s,"size":%d,"thread_id":%s}'
)


def summary_json(s: types.MessageSummary) -> str:
    """``summary(s)`` as the envelope's encoder writes it."""
    date, uid, mid = s.date, s.uid, s.message_id
    return _SUMMARY % (
        s.id,
        s.account_id,
        TEXT(s.folder),
        "null" if uid is None else str(uid),
        "null" if mid is None else TEXT(mid),
        TEXT(s.subject),
        TEXT(s.from_),
        ",".join(map(TEXT, s.to)),
        ",".join(map(TEXT, s.cc)),
        "null" if date is None else str(date),
        _optional_text(format_iso(date)),
        _flags_json(s.flags),
        TEXT(s.snippet),
        "true" if s.has_attachments else "false",
        s.size,
        TEXT(s.thread_id),
    )


def _optional_text(text: str | None) -> str:
    return "null" if text is None else TEXT(text)


def message_page(p: types.MessagePage) -> RawJSON:
    """``{"messages": [summary…], "next_cursor": …}``, already encoded."""
    return RawJSON(
        '{"messages":['
        + ",".join([_listed_json(s) for s in p.messages])
        + '],"next_cursor":'
        + _optional_text(p.next_cursor)
        + "}"
    )


def _quoted(template: str, keys: tuple[str, ...]) -> str:
    """``template`` with the quotes of these string members written in."""
    for key in keys:
        member = f'"{key}":%s'
        assert template.count(member) == 1, key
        template = template.replace(member, f'"{key}":"%s"')
    return template


# What the encoder escapes (``ensure_ascii=False``): quote, backslash, C0 controls. A summary
# with none of them in its strings — nearly all, flags aside — is written with the quotes in
# the template and no escaping call per string (two C calls for its strings instead of ~10).
# Flags ("\\Seen": a backslash) are few and repeat: their JSON is kept per distinct set.
_PLAIN_SUMMARY: Final = _quoted(_SUMMARY, ("folder", "subject", "from", "snippet", "thread_id"))
_FLAGS: dict[tuple[str, ...], str] = {}
_FLAGS_MAX: Final = 256


def _flags_json(flags: list[str]) -> str:
    """The items of a ``flags`` array, encoded (kept per distinct set, bounded)."""
    key = tuple(flags)
    text = _FLAGS.get(key)
    if text is None:
        text = ",".join(map(TEXT, flags))
        if len(_FLAGS) >= _FLAGS_MAX:
            _FLAGS.clear()
        _FLAGS[key] = text
    return text


def _listed_json(s: types.MessageSummary) -> str:
    """``summary_json(s)``, faster when no string of ``s`` (flags aside) needs an escape."""
    mid, to, cc = s.message_id, s.to, s.cc
    folder, subject, sender, snippet, thread = s.folder, s.subject, s.from_, s.snippet, s.thread_id
    joined = "".join((folder, subject, sender, snippet, thread, mid or "", *to, *cc))
    # isprintable() is False for every C0 control (and for some text that needs no escape,
    # which then takes the general path): three C scans, several times a regex's speed.
    if not joined.isprintable() or '"' in joined or "\\" in joined:
        return summary_json(s)
    date, uid = s.date, s.uid
    iso = format_iso(date)
    return _PLAIN_SUMMARY % (
        s.id,
        s.account_id,
        folder,
        "null" if uid is None else str(uid),
        "null" if mid is None else f'"{mid}"',
        subject,
        sender,
        '"' + '","'.join(to) + '"' if to else "",
        '"' + '","'.join(cc) + '"' if cc else "",
        "null" if date is None else str(date),
        "null" if iso is None else f'"{iso}"',
        _flags_json(s.flags),
        snippet,
        "true" if s.has_attachments else "false",
        s.size,
        thread,
    )


def _attachment(a: types.AttachmentMeta) -> JSON:
    return {
        "index": a.index,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "stored": a.stored,
    }


def message(m: types.Message) -> JSON:
    return {
        "summary": summary(m.summary),
        "reply_to": list(m.reply_to),
        "in_reply_to": m.in_reply_to,
        "references": list(m.references),
        "headers": [{"name": h.name, "value": h.value} for h in m.headers],
        "body_text": m.body_text,
        "body_html": m.body_html,
        "body_truncated": m.body_truncated,
        "attachments": [_attachment(a) for a in m.attachments],
        "untrusted": m.untrusted,
        "removed": _removed(m.removed),
    }


def _removed(removed: list[types.Removal]) -> list[JSON]:
    return [{"reason": r.reason, "count": r.count} for r in removed]


def sync_report(r: types.SyncReport) -> JSON:
    return {
        "account_id": r.account_id,
        "folders": [
            {
                "folder": f.folder,
                "fetched": f.fetched,
                "flags_updated": f.flags_updated,
                "expunged": f.expunged,
                "uidvalidity_reset": f.uidvalidity_reset,
                "more_pending": f.more_pending,
            }
            for f in r.folders
        ],
    }


def outbox_entry(e: types.OutboxEntry) -> JSON:
    return {
        "id": e.id,
        "account_id": e.account_id,
        "status": _STATUS[e.status],
        "message_id": e.message_id,
        "subject": e.subject,
        "recipients": list(e.recipients),
        "attempts": e.attempts,
        "created_at": e.created_at,
        "created_at_iso": format_iso(e.created_at),
        "updated_at": e.updated_at,
        "updated_at_iso": format_iso(e.updated_at),
        "next_attempt_at": e.next_attempt_at,
        "next_attempt_at_iso": format_iso(e.next_attempt_at),
        "sent_at": e.sent_at,
        "sent_at_iso": format_iso(e.sent_at),
        "last_error": e.last_error,
        "send_at": e.send_at,
        "send_at_iso": format_iso(e.send_at),
        "bounces": [
            {
                "recipient": b.recipient,
                "status": b.status,
                "action": b.action,
                "kind": b.kind,
                "reason": b.reason,
                "at": b.at,
                "at_iso": format_iso(b.at),
            }
            for b in e.bounces
        ],
    }


def outbox_page(p: types.OutboxPage) -> JSON:
    return {"entries": [outbox_entry(e) for e in p.entries], "next_cursor": p.next_cursor}


def event(e: types.Event) -> JSON:
    """One event as issue 13 names its fields; the type's own fields are merged in."""
    out: JSON = {
        "id": e.id,
        "type": e.kind,
        "account_id": e.account_id,
        "folder": e.folder,
        "message_id": e.message,
        "uid": e.uid,
        "rfc_message_id": e.message_id,
        "thread_id": e.thread_id,
        "from": e.from_,
        "subject": e.subject,
        "snippet": e.snippet,
        "ts": e.ts_ms / 1000,
        "ts_iso": format_iso(e.ts_ms // 1000),
        "automated": e.automated is not None,
        "automated_reason": e.automated,
    }
    detail = json.loads(e.detail_json) if e.detail_json else {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.setdefault(key, value)
    return out


def event_page(p: types.EventPage) -> JSON:
    return {
        "events": [event(e) for e in p.events],
        "next_after": p.next_after,
        "last_id": p.last_id,
    }


_DRAFT_STATE: Final = {s: s.name.lower() for s in types.DraftState}


def draft_info(d: types.DraftInfo) -> JSON:
    return {"account_id": d.account_id, "draft_id": d.draft_id, "folder": d.folder, "uid": d.uid}


def draft_status(d: types.DraftLookup) -> JSON:
    return {
        "account_id": d.account_id,
        "draft_id": d.draft_id,
        "state": _DRAFT_STATE[d.state],
        "folder": d.folder,
        "reason": d.reason,
    }


def folder(f: types.FolderInfo) -> JSON:
    return {
        "name": f.name,
        "role": f.role,
        "messages": f.messages,
        "unseen": f.unseen,
        "synced": f.synced,
    }


_LOCAL_NOTE: Final = (
    "the host's network flag is off: these are the folders of the local store, with stored "
    "counts; the server may have more"
)


def folder_list(fl: types.FolderList) -> JSON:
    source = _SOURCE[fl.source]
    return {
        "folders": [folder(f) for f in fl.folders],
        "source": source,
        "note": _LOCAL_NOTE if source == "local" else None,
    }


#: Said with every ``local_only`` result (the host's ``ActionOutcome.LOCAL_ONLY``).
LOCAL_ONLY_HINT: Final = (
    "This message was imported from a local mailbox and has no copy on the server: move, "
    "mark, label and delete act on server messages only. Sync the account to act on its "
    "server copy, if there is one."
)


def _action_result(r: types.ActionResult) -> JSON:
    out: JSON = {
        "id": r.id,
        "outcome": _OUTCOME[r.outcome],
        "folder": r.folder,
        "uid": r.uid,
        "flags": list(r.flags),
        "labels": list(r.labels),
    }
    if r.outcome == types.ActionOutcome.LOCAL_ONLY:
        out["hint"] = LOCAL_ONLY_HINT
    return out


def action_results(results: list[types.ActionResult]) -> JSON:
    out = [_action_result(r) for r in results]
    counts: dict[str, int] = {}
    for res in results:
        name = _OUTCOME[res.outcome]
        counts[name] = counts.get(name, 0) + 1
    return {"results": out, "counts": counts}


def message_thread(t: types.MessageThread) -> JSON:
    return {
        "thread_id": t.thread_id,
        "messages": [summary(s) for s in t.messages],
        "untrusted": t.untrusted,
        "removed": _removed(t.removed),
    }


def attachment_download(d: types.AttachmentDownload) -> JSON:
    return {
        "message_id": d.message,
        "index": d.index,
        "filename": d.filename,
        "content_type": d.content_type,
        "size": d.size,
        "sha256": d.sha256,
        "path": d.path,
        "content_base64": d.data_base64,
        "fetched_from_server": d.fetched_from_server,
    }
