"""The only place that converts WIT values (wasmtime ``Record``/``Variant``) ↔ domain values.

wasmtime-py hands records in as ``Record`` objects whose attributes are the kebab-case
WIT field names, and accepts any object with those attributes back. ``result``,
``option`` and ``variant`` are untagged when their cases' Python classes differ and
``Variant(tag, payload)`` otherwise; ``ok``/``err``/``some`` below centralise that.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from wasmtime.component import Record, Variant

from ..errors import EmailError, InvalidArgument
from ..types import (
    ActionResult,
    AttachmentBase64,
    AttachmentDownload,
    AttachmentPath,
    AttachmentSource,
    DraftRequest,
    EventPage,
    FolderInfo,
    ForwardMode,
    ForwardRequest,
    ListQuery,
    OutboxQuery,
    OutboxStatus,
    OutgoingAttachment,
    OutgoingMessage,
    ReplyRequest,
    SearchQuery,
    SyncRequest,
)

# Python field name -> WIT field name where the snake->kebab rule is not enough.
_WIT_NAMES = {"from_": "from"}


def _wit_name(name: str) -> str:
    return _WIT_NAMES.get(name, name.replace("_", "-"))


# -- domain -> WIT ---------------------------------------------------------------

#: Exactly these classes pass unchanged (subclasses — enums, bool — go through to_wit).
_PLAIN = frozenset({str, int, type(None)})
# Dataclass type -> [(Python field, WIT field)], filled on first use.
_FIELDS: dict[type, list[tuple[str, str]]] = {}


def _case(value: enum.Enum) -> Any:
    # WIT case names are kebab-case (``awaiting-approval``); Python values are snake_case.
    v = value.value
    return v.replace("_", "-") if isinstance(v, str) else v


def to_wit(value: Any) -> Any:
    """A domain value as a WIT value: dataclass → record, tuple → list, enum → case name.

    ``None`` stays ``None`` (an absent ``option``); a present optional value is passed
    as is, which wasmtime lowers as ``some`` (our option payloads never nest).
    """
    if value is None or isinstance(value, bool | int | str | float):
        if isinstance(value, enum.Enum):
            return _case(value)
        return value
    if isinstance(value, enum.Enum):
        return _case(value)
    names = _FIELDS.get(type(value))
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[type(value)] = [
            (f.name, _wit_name(f.name)) for f in dataclasses.fields(value)
        ]
    if names is not None:
        rec = Record()
        fields = rec.__dict__  # Record is a plain attribute bag: fill its dict directly
        for name, wit in names:
            field = getattr(value, name)
            # Most fields are plain scalars: no call, no isinstance chain (a page of 20
            # summaries is ~400 fields; the recursion was a tenth of an email.list call).
            fields[wit] = field if type(field) in _PLAIN else to_wit(field)
        return rec
    if isinstance(value, tuple | list):
        return [to_wit(v) for v in value]
    raise TypeError(f"no WIT conversion for {type(value).__name__}")


def wit_fields(cls: type) -> dict[str, str] | None:
    """WIT field name → attribute of the dataclass ``cls``, as ``to_wit`` maps them; None
    when ``cls`` is not a dataclass. The planned lowering reads domain values through it."""
    names = _FIELDS.get(cls)
    if names is None:
        if not dataclasses.is_dataclass(cls):
            return None
        names = _FIELDS[cls] = [(f.name, _wit_name(f.name)) for f in dataclasses.fields(cls)]
    return {wit: name for name, wit in names}


def page(value: Any) -> Any:
    """The ok side of a ``result<message-page, email-error>``: a ``MessagePage`` as it is.

    The planned lowering (``_lowering``) reads the domain page itself, applying exactly
    ``to_wit``'s rules while it writes (a page of 20 summaries spent ~150 µs building the
    ``Record`` copy first); under wasmtime-py's generic lowering it is ``to_wit``.
    """
    return value if _DOMAIN_LOWERING else to_wit(value)


def error_info(message: str, hint: str | None, run_id: str | None = None) -> Record:
    info = Record()
    setattr(info, "message", message)  # noqa: B010 - Record has no declared fields
    setattr(info, "hint", hint)  # noqa: B010
    setattr(info, "run-id", run_id)  # the WIT field name, as to_wit writes record fields
    return info


def err(exc: EmailError) -> Variant:
    """An ``email-error`` value for the err side of a ``result``; the hint is never empty."""
    hint = exc.hint or exc.code.default_hint
    return Variant(exc.code.value, error_info(exc.message, hint, exc.run_id))


def ok(value: Any) -> Any:
    """The ok side of a ``result<T, email-error>`` whose ``T`` is a record or list.

    Untagged: ``T``'s Python class (``Record``/``list``) differs from ``Variant``.
    """
    return to_wit(value)


def action_results(results: list[ActionResult]) -> list[Record]:
    """``list<action-result>``; the outcome's case name is kebab-case (``already-there``)."""
    out = []
    for r in results:
        rec = to_wit(r)
        setattr(rec, "outcome", r.outcome.value.replace("_", "-"))  # noqa: B010
        out.append(rec)
    return out


def folder_change(change: tuple[FolderInfo, bool]) -> Record:
    """``folder-change`` from a service's (folder, whether it changed)."""
    rec = Record()
    setattr(rec, "folder", to_wit(change[0]))  # noqa: B010
    setattr(rec, "changed", bool(change[1]))  # noqa: B010
    return rec


def attachment_download(d: AttachmentDownload) -> Record:
    """``attachment-download``: the store key is ``message`` (as in ``reply-request``)."""
    rec = Record()
    for name, wit in (
        ("message_id", "message"),
        ("index", "index"),
        ("filename", "filename"),
        ("content_type", "content-type"),
        ("size", "size"),
        ("sha256", "sha256"),
        ("path", "path"),
        ("data_base64", "data-base64"),
        ("fetched_from_server", "fetched-from-server"),
    ):
        setattr(rec, wit, getattr(d, name))
    return rec


class ResultErr:
    """An err result for a ``result<option<T>, email-error>``.

    wasmtime-py 50 cannot lower the err case of that type from an untagged value: its
    ok case (an option) accepts any object, so every value is tried as ``ok`` first.
    ``patch_result_lowering`` teaches ``ResultType`` to lower this marker as ``err``.
    """

    __slots__ = ("error",)

    def __init__(self, error: Variant) -> None:
        self.error = error


# -- WIT -> domain ---------------------------------------------------------------


def _get(rec: Any, name: str) -> Any:
    try:
        return getattr(rec, name)
    except AttributeError:
        raise InvalidArgument(f"missing field {name!r} in a value from the plugin") from None


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def account_of(rec: Any) -> int:
    """The ``account-id`` of a request record (the policy checks it before anything else).

    :raises InvalidArgument: missing or not an integer.
    """
    value = _get(rec, "account-id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument("account-id from the plugin is not an integer")
    return value


def sync_request(rec: Any) -> SyncRequest:
    return SyncRequest(
        account_id=_get(rec, "account-id"),
        folder=_get(rec, "folder"),
        max_messages=_get(rec, "max-messages"),
    )


def list_query(rec: Any) -> ListQuery:
    return ListQuery(
        account_id=_get(rec, "account-id"),
        folder=_get(rec, "folder"),
        unseen_only=_get(rec, "unseen-only"),
        limit=_get(rec, "limit"),
        cursor=_get(rec, "cursor"),
        automated=_get(rec, "automated"),
    )


def search_query(rec: Any) -> SearchQuery:
    return SearchQuery(
        account_id=_get(rec, "account-id"),
        text=_get(rec, "text"),
        from_=_get(rec, "from"),
        to=_get(rec, "to"),
        subject=_get(rec, "subject"),
        body=_get(rec, "body"),
        since=_get(rec, "since"),
        before=_get(rec, "before"),
        unseen=_get(rec, "unseen"),
        folder=_get(rec, "folder"),
        limit=_get(rec, "limit"),
        cursor=_get(rec, "cursor"),
        remote=_get(rec, "remote"),
        automated=_get(rec, "automated"),
    )


def attachment_source(value: Any) -> AttachmentSource:
    # Both cases carry a string, so wasmtime passes the variant tagged.
    if isinstance(value, Variant):
        if value.tag == "path":
            return AttachmentPath(str(value.payload))
        if value.tag == "base64":
            return AttachmentBase64(str(value.payload))
    raise InvalidArgument("unknown attachment source from the plugin")


def _recipients(rec: Any) -> dict[str, tuple[str, ...]]:
    """``to``/``cc``/``bcc`` of a request record (outgoing message, forward)."""
    return {name: _strs(_get(rec, name)) for name in ("to", "cc", "bcc")}


def outgoing_message(rec: Any) -> OutgoingMessage:
    return OutgoingMessage(
        account_id=_get(rec, "account-id"),
        **_recipients(rec),
        subject=_get(rec, "subject"),
        body_text=_get(rec, "body-text"),
        body_html=_get(rec, "body-html"),
        attachments=tuple(
            OutgoingAttachment(
                source=attachment_source(_get(a, "source")),
                filename=_get(a, "filename"),
                content_type=_get(a, "content-type"),
            )
            for a in _get(rec, "attachments")
        ),
        send_at=_get(rec, "send-at"),
    )


def _attachments(value: Any) -> tuple[OutgoingAttachment, ...]:
    return tuple(
        OutgoingAttachment(
            source=attachment_source(_get(a, "source")),
            filename=_get(a, "filename"),
            content_type=_get(a, "content-type"),
        )
        for a in value
    )


def draft_request(rec: Any) -> DraftRequest:
    return DraftRequest(
        account_id=_get(rec, "account-id"),
        to=_strs(_get(rec, "to")),
        cc=_strs(_get(rec, "cc")),
        bcc=_strs(_get(rec, "bcc")),
        subject=_get(rec, "subject"),
        body_text=_get(rec, "body-text"),
        body_html=_get(rec, "body-html"),
        attachments=_attachments(_get(rec, "attachments")),
        reply_to=_get(rec, "reply-to"),
        reply_to_message_id=_get(rec, "reply-to-message-id"),
    )


def reply_request(rec: Any) -> ReplyRequest:
    return ReplyRequest(
        account_id=_get(rec, "account-id"),
        message=_get(rec, "message"),
        body_text=_get(rec, "body-text"),
        body_html=_get(rec, "body-html"),
        reply_all=_get(rec, "reply-all"),
        send_at=_get(rec, "send-at"),
    )


def forward_request(rec: Any) -> ForwardRequest:
    """:raises InvalidArgument: an unknown mode."""
    mode = _get(rec, "mode")
    try:
        parsed = ForwardMode(mode)
    except ValueError:
        raise InvalidArgument(f"unknown forward mode {mode!r}") from None
    return ForwardRequest(
        account_id=_get(rec, "account-id"),
        message=_get(rec, "message"),
        **_recipients(rec),
        body_text=_get(rec, "body-text"),
        body_html=_get(rec, "body-html"),
        mode=parsed,
        include_attachments=bool(_get(rec, "include-attachments")),
        send_at=_get(rec, "send-at"),
    )


def outbox_query(rec: Any) -> OutboxQuery:
    status = _get(rec, "status")
    try:
        parsed = None if status is None else OutboxStatus(str(status).replace("-", "_"))
    except ValueError:
        raise InvalidArgument(f"unknown outbox status {status!r}") from None
    return OutboxQuery(
        account_id=_get(rec, "account-id"),
        status=parsed,
        limit=_get(rec, "limit"),
        cursor=_get(rec, "cursor"),
    )


def ids(value: Any) -> tuple[int, ...]:
    """A ``list<message-key>`` as ints (wasmtime already checked each is a u64)."""
    return tuple(int(v) for v in value)


def flag_request(rec: Any) -> tuple[int, tuple[int, ...], tuple[str, ...], tuple[str, ...]]:
    """``flag-request`` → (account, ids, add, remove)."""
    return (
        _get(rec, "account-id"),
        ids(_get(rec, "ids")),
        _strs(_get(rec, "add")),
        _strs(_get(rec, "remove")),
    )


def move_request(rec: Any) -> tuple[int, tuple[int, ...], str | None, str | None]:
    """``move-request`` → (account, ids, folder, role)."""
    return (_get(rec, "account-id"), ids(_get(rec, "ids")), _get(rec, "folder"), _get(rec, "role"))


def delete_request(rec: Any) -> tuple[int, tuple[int, ...], bool]:
    """``delete-request`` → (account, ids, permanent)."""
    return (_get(rec, "account-id"), ids(_get(rec, "ids")), bool(_get(rec, "permanent")))


def attachment_request(rec: Any) -> tuple[int, int, int, bool]:
    """``attachment-request`` → (account, message, index, inline)."""
    return (
        _get(rec, "account-id"),
        _get(rec, "message"),
        _get(rec, "index"),
        bool(_get(rec, "inline")),
    )


# -- wasmtime-py workaround ------------------------------------------------------


def patch_result_lowering() -> None:
    """Let wasmtime lower ``ResultErr`` as an err case; memoize its type lookups.

    See ``_wasmtime_patches`` (idempotent; called before host functions are defined).
    """
    from . import _wasmtime_patches

    global _DOMAIN_LOWERING
    _DOMAIN_LOWERING = _wasmtime_patches.apply(ResultErr, lambda value: value.error)


#: Whether results are lowered by ``_lowering``'s plans, which accept domain values
#: (set by ``patch_result_lowering``); ``page`` hands pages over unconverted then.
_DOMAIN_LOWERING = False


# -- event log (issue 13) ----------------------------------------------------------------


def event_query(rec: Any) -> tuple[int, int, tuple[str, ...], int | None, int]:
    """``event-query`` → (after, limit, types, account_id, wait_ms); the service checks bounds."""
    account = getattr(rec, "account-id")
    return (
        int(rec.after),
        int(rec.limit),
        tuple(str(t) for t in rec.types),
        None if account is None else int(account),
        int(getattr(rec, "wait-ms")),
    )


def event_page(page: EventPage) -> Record:
    """``event-page``: ``type`` is ``kind`` in WIT (a keyword), the detail JSON text."""
    events = []
    for e in page.events:
        rec = Record()
        for wit, value in (
            ("id", e.id),
            ("kind", e.type),
            ("account-id", e.account_id),
            ("folder", e.folder),
            ("message", e.message_id),
            ("uid", e.uid),
            ("message-id", e.rfc_message_id),
            ("thread-id", e.thread_id),
            ("from", e.from_),
            ("subject", e.subject),
            ("snippet", e.snippet),
            ("ts-ms", round(e.ts * 1000)),
            ("automated", e.automated),
            ("detail-json", json.dumps(dict(e.detail), separators=(",", ":"))),
        ):
            setattr(rec, wit, value)
        events.append(rec)
    out = Record()
    setattr(out, "events", events)  # noqa: B010
    setattr(out, "next-after", page.next_after)
    setattr(out, "last-id", page.last_id)
    return out
