"""Each tool: checked arguments → one typed host call → plain JSON data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from wit_world.imports import types

from prx_email_guest import _catalogue as c
from prx_email_guest import _codes
from prx_email_guest import _results as r
from prx_email_guest._codes import GuestError
from prx_email_guest._host import HostApi
from prx_email_guest._kinds import AttachmentArg

__all__ = ["HANDLERS"]

Args = dict[str, object]
Handler = Callable[[HostApi, Args], Any]


def _accounts(host: HostApi, args: Args) -> Any:
    return [r.account(a) for a in host.accounts()]


def _health(host: HostApi, args: Args) -> Any:
    return r.health_report(host.health(c.HEALTH_ACCOUNT.maybe(args)))


def _sync(host: HostApi, args: Args) -> Any:
    req = types.SyncRequest(
        account_id=c.ACCOUNT_ID.value(args),
        folder=c.SYNC_FOLDER.maybe(args),
        max_messages=c.MAX_MESSAGES.maybe(args),
    )
    return r.sync_report(host.sync(req))


def _list(host: HostApi, args: Args) -> Any:
    query = types.ListQuery(
        account_id=c.ACCOUNT_ID.value(args),
        folder=c.FOLDER.maybe(args),
        unseen_only=c.UNSEEN_ONLY.value(args),
        limit=c.LIMIT.value(args),
        cursor=c.CURSOR.maybe(args),
        automated=c.AUTOMATED.maybe(args),
    )
    return r.message_page(host.list_messages(query))


def _get(host: HostApi, args: Args) -> Any:
    account_id = c.ACCOUNT_ID.value(args)
    key = c.MESSAGE_KEY.value(args)
    found = host.get_message(account_id, key)
    if found is None:
        raise GuestError(
            _codes.NOT_FOUND,
            f"no message with id {key} in account {account_id}",
            "Ids are local to this store: take one from email.list or email.search "
            "(and sync first if the message is new).",
        )
    return r.message(found)


def _search(host: HostApi, args: Args) -> Any:
    query = types.SearchQuery(
        account_id=c.ACCOUNT_ID.value(args),
        text=c.QUERY.maybe(args),
        from_=c.FROM.maybe(args),
        to=c.TO.maybe(args),
        subject=c.SUBJECT.maybe(args),
        body=c.BODY.maybe(args),
        since=c.SINCE.maybe(args),
        before=c.BEFORE.maybe(args),
        unseen=c.UNSEEN.maybe(args),
        folder=c.FOLDER.maybe(args),
        limit=c.LIMIT.value(args),
        cursor=c.CURSOR.maybe(args),
        remote=c.REMOTE.value(args),
        automated=c.AUTOMATED.maybe(args),
    )
    return r.message_page(host.search(query))


def _attachment(a: AttachmentArg) -> types.OutgoingAttachment:
    source: types.AttachmentSource
    if a.path is not None:
        source = types.AttachmentSource_Path(a.path)
    else:
        source = types.AttachmentSource_Base64(a.content_base64 or "")
    return types.OutgoingAttachment(source=source, filename=a.filename, content_type=a.content_type)


def _recipients(args: Args) -> dict[str, list[str]]:
    """``to``/``cc``/``bcc`` as the request records take them (send, forward)."""
    return {
        "to": list(c.SEND_TO.value(args)),
        "cc": list(c.SEND_CC.value(args)),
        "bcc": list(c.SEND_BCC.value(args)),
    }


def _send(host: HostApi, args: Args) -> Any:
    msg = types.OutgoingMessage(
        account_id=c.ACCOUNT_ID.value(args),
        **_recipients(args),
        subject=c.SEND_SUBJECT.value(args),
        body_text=c.BODY_TEXT.maybe(args),
        body_html=c.BODY_HTML.maybe(args),
        attachments=[_attachment(a) for a in c.ATTACHMENTS.value(args)],
        send_at=c.SEND_AT.maybe(args),
    )
    return r.outbox_entry(host.send(msg))


def _reply(host: HostApi, args: Args) -> Any:
    req = types.ReplyRequest(
        account_id=c.ACCOUNT_ID.value(args),
        message=c.REPLY_TO_KEY.value(args),
        body_text=c.BODY_TEXT.maybe(args),
        body_html=c.BODY_HTML.maybe(args),
        reply_all=c.REPLY_ALL.value(args),
        send_at=c.SEND_AT.maybe(args),
    )
    return r.outbox_entry(host.reply(req))


def _retry(host: HostApi, args: Args) -> Any:
    return r.outbox_entry(host.retry(c.OUTBOX_ID.value(args), c.RETRY_NOW.value(args)))


_STATUS: Final = {s.name.lower(): s for s in types.OutboxStatus}


def _outbox(host: HostApi, args: Args) -> Any:
    status = c.OUTBOX_STATUS.maybe(args)
    query = types.OutboxQuery(
        account_id=c.OUTBOX_ACCOUNT.maybe(args),
        status=_STATUS[status] if status is not None else None,
        limit=c.LIMIT.value(args),
        cursor=c.CURSOR.maybe(args),
    )
    return r.outbox_page(host.list_outbox(query))


def _events(host: HostApi, args: Args) -> Any:
    query = types.EventQuery(
        after=c.EVENTS_AFTER.value(args),
        limit=c.EVENTS_LIMIT.value(args),
        types=list(c.EVENTS_TYPES.maybe(args) or ()),
        account_id=c.EVENTS_ACCOUNT.maybe(args),
        wait_ms=c.EVENTS_WAIT.value(args),
    )
    return r.event_page(host.events(query))


def _draft_request(args: Args) -> types.DraftRequest:
    return types.DraftRequest(
        account_id=c.ACCOUNT_ID.value(args),
        to=list(c.DRAFT_TO.value(args)),
        cc=list(c.SEND_CC.value(args)),
        bcc=list(c.SEND_BCC.value(args)),
        subject=c.DRAFT_SUBJECT.value(args),
        body_text=c.BODY_TEXT.maybe(args),
        body_html=c.BODY_HTML.maybe(args),
        attachments=[_attachment(a) for a in c.ATTACHMENTS.value(args)],
        reply_to=c.DRAFT_REPLY_TO.maybe(args),
        reply_to_message_id=c.DRAFT_REPLY_TO_MESSAGE_ID.maybe(args),
    )


def _draft_create(host: HostApi, args: Args) -> Any:
    return r.draft_info(host.draft_create(_draft_request(args)))


def _draft_status(host: HostApi, args: Args) -> Any:
    return r.draft_status(host.draft_status(c.ACCOUNT_ID.value(args), c.DRAFT_ID.value(args)))


def _draft_update(host: HostApi, args: Args) -> Any:
    return r.draft_info(host.draft_update(c.DRAFT_ID.value(args), _draft_request(args)))


def _draft_send(host: HostApi, args: Args) -> Any:
    entry = host.draft_send(c.ACCOUNT_ID.value(args), c.DRAFT_ID.value(args), c.SEND_AT.maybe(args))
    return r.outbox_entry(entry)


def _cancel(host: HostApi, args: Args) -> Any:
    return r.outbox_entry(host.cancel(c.OUTBOX_ID.value(args)))


def _draft_delete(host: HostApi, args: Args) -> Any:
    draft_id = c.DRAFT_ID.value(args)
    removed = host.draft_delete(c.ACCOUNT_ID.value(args), draft_id)
    return {"draft_id": draft_id, "removed": removed}


# --- mailbox actions (issue 11) ------------------------------------------------------------


def _folders(host: HostApi, args: Args) -> Any:
    return r.folder_list(host.folders(c.ACCOUNT_ID.value(args)))


def _folder_create(host: HostApi, args: Args) -> Any:
    change = host.folder_create(c.ACCOUNT_ID.value(args), c.FOLDER_NAME.value(args))
    return {"folder": r.folder(change.folder), "changed": change.changed}


def _folder_rename(host: HostApi, args: Args) -> Any:
    change = host.folder_rename(
        c.ACCOUNT_ID.value(args), c.FOLDER_NAME.value(args), c.NEW_NAME.value(args)
    )
    return {"folder": r.folder(change.folder), "changed": change.changed}


def _folder_delete(host: HostApi, args: Args) -> Any:
    name = c.FOLDER_NAME.value(args)
    existed = host.folder_delete(c.ACCOUNT_ID.value(args), name, c.FORCE.value(args))
    return {"folder": name, "deleted": existed}


def _flag_request(args: Args) -> types.FlagRequest:
    return types.FlagRequest(
        account_id=c.ACCOUNT_ID.value(args),
        ids=list(c.IDS.value(args)),
        add=list(c.FLAGS_ADD.value(args)),
        remove=list(c.FLAGS_REMOVE.value(args)),
    )


def _mark(host: HostApi, args: Args) -> Any:
    return r.action_results(host.mark(_flag_request(args)))


def _label(host: HostApi, args: Args) -> Any:
    return r.action_results(host.label(_flag_request(args)))


def _move(host: HostApi, args: Args) -> Any:
    req = types.MoveRequest(
        account_id=c.ACCOUNT_ID.value(args),
        ids=list(c.IDS.value(args)),
        folder=c.MOVE_FOLDER.maybe(args),
        role=c.MOVE_ROLE.maybe(args),
    )
    return r.action_results(host.move(req))


def _archive(host: HostApi, args: Args) -> Any:
    return r.action_results(host.archive(c.ACCOUNT_ID.value(args), list(c.IDS.value(args))))


def _delete(host: HostApi, args: Args) -> Any:
    req = types.DeleteRequest(
        account_id=c.ACCOUNT_ID.value(args),
        ids=list(c.IDS.value(args)),
        permanent=c.PERMANENT.value(args),
    )
    return r.action_results(host.delete(req))


def _thread(host: HostApi, args: Args) -> Any:
    return r.message_thread(host.thread(c.ACCOUNT_ID.value(args), c.MESSAGE_KEY.value(args)))


def _get_many(host: HostApi, args: Args) -> Any:
    ids = list(c.GET_MANY_IDS.value(args))
    found = host.get_many(c.ACCOUNT_ID.value(args), ids)
    # The host answers one entry per distinct id, in the order given (None: unknown).
    return {
        "messages": [r.message(m) for m in found if m is not None],
        "not_found": [i for i, m in zip(ids, found, strict=False) if m is None],
    }


def _attachment_get(host: HostApi, args: Args) -> Any:
    req = types.AttachmentRequest(
        account_id=c.ACCOUNT_ID.value(args),
        message=c.ATTACHMENT_OF.value(args),
        index=c.ATTACHMENT_INDEX.value(args),
        inline=c.INLINE.value(args),
    )
    return r.attachment_download(host.attachment(req))


# --- email.forward (issue 11) ----------------------------------------------------------------

_FORWARD_MODE: Final = {m.name.lower(): m for m in types.ForwardMode}


def _forward(host: HostApi, args: Args) -> Any:
    req = types.ForwardRequest(
        account_id=c.ACCOUNT_ID.value(args),
        message=c.FORWARD_OF.value(args),
        **_recipients(args),
        body_text=c.FORWARD_NOTE_TEXT.maybe(args),
        body_html=c.FORWARD_NOTE_HTML.maybe(args),
        mode=_FORWARD_MODE[c.FORWARD_MODE.value(args)],
        include_attachments=c.INCLUDE_ATTACHMENTS.value(args),
        send_at=c.SEND_AT.maybe(args),
    )
    return r.outbox_entry(host.forward(req))


HANDLERS: Final[dict[str, Handler]] = {
    "email.accounts": _accounts,
    "email.health": _health,
    "email.sync": _sync,
    "email.list": _list,
    "email.get": _get,
    "email.search": _search,
    "email.send": _send,
    "email.reply": _reply,
    "email.retry": _retry,
    "email.outbox": _outbox,
    "email.events": _events,
    "email.draft_create": _draft_create,
    "email.draft_status": _draft_status,
    "email.draft_update": _draft_update,
    "email.draft_delete": _draft_delete,
    "email.draft_send": _draft_send,
    "email.cancel": _cancel,
    "email.folders": _folders,
    "email.folder_create": _folder_create,
    "email.folder_rename": _folder_rename,
    "email.folder_delete": _folder_delete,
    "email.mark": _mark,
    "email.move": _move,
    "email.archive": _archive,
    "email.delete": _delete,
    "email.label": _label,
    "email.thread": _thread,
    "email.get_many": _get_many,
    "email.attachment": _attachment_get,
    "email.forward": _forward,
}
