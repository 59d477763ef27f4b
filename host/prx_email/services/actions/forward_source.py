"""What a forward carries of the original: its bytes, or its text and attachments.

- ``attachment`` mode: the raw RFC 822 message as the server holds it (``UID FETCH uid
  BODY.PEEK[]``, no \\Seen), so the forwarded original is byte for byte what was received.
  A message imported from a local mailbox (no server UID) is rebuilt from the store: its
  headers, bodies and kept attachments (``mail.forward.rebuild``).
- ``inline`` mode: the stored text (re-read from the server when the store cut it short)
  and, with ``include_attachments``, every attachment — from the attachment store when sync
  kept it, else from the server by BODYPART (``attachment._from_server``: sha256-checked).

Anything the forward needs and cannot have raises; nothing is half-forwarded:
:class:`~prx_email.errors.AttachmentUnavailable` for an attachment, ``NotFound`` for an
original the server no longer holds.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ...errors import AttachmentUnavailable, InvalidArgument, NotFound
from ...mail.compose import AttachmentData, check_content_type
from ...mail.forward import Original, rebuild
from ...mail.imap import fetch_raw
from ...mail.parse import parse_message
from ...store import mailbox as store
from ...types import AccountId, AttachmentMeta, ForwardMode, Message, MessageKey
from ..context import ServiceContext
from ..mailbox import get_message
from ._session import Session, open_session
from .attachment import _from_server, _read_stored

__all__ = ["ForwardSource", "forward_source"]

_OCTET = "application/octet-stream"
_RFC822 = "message/rfc822"
_UNAVAILABLE_HINT = (
    "sync the message's folder and forward again, or forward without attachments "
    "(include_attachments: false)"
)


@dataclass(frozen=True, slots=True)
class ForwardSource:
    """The original: its stored message, what the inline block shows, and what to attach."""

    message: Message
    original: Original
    truncated: bool = False
    attachments: tuple[AttachmentData, ...] = ()
    raw: bytes | None = field(default=None, repr=False)


def _content_type(meta: AttachmentMeta) -> str:
    """The type to attach the bytes as again: multipart/* and message/* other than rfc822 are
    structures the email package cannot wrap raw bytes in, so they travel as octet-stream."""
    try:
        ctype = check_content_type(meta.content_type.split(";", 1)[0].strip())
    except InvalidArgument:
        return _OCTET
    if ctype.startswith("multipart/") or (ctype.startswith("message/") and ctype != _RFC822):
        return _OCTET
    return ctype


def _original(msg: Message, text: str | None, html: str | None) -> Original:
    s = msg.summary
    return Original(s.from_, s.date, s.subject, s.to, s.cc, text, html)


class _Fetcher:
    """One IMAP session, opened on first need and shared by every fetch of one forward."""

    def __init__(
        self,
        ctx: ServiceContext,
        account: AccountId,
        session: Session | None,
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self.ctx, self.account, self.session, self.stack = ctx, account, session, stack

    async def get(self) -> Session:
        if self.session is None:
            self.session = await self.stack.enter_async_context(
                open_session(self.ctx, self.account)
            )
        return self.session


async def _raw(f: _Fetcher, msg: Message, loc: store.Located) -> bytes:
    assert loc.uid is not None
    key = msg.summary.id
    s = await f.get()
    with s.errors(loc.folder):
        sel = await s.select(loc.folder)
        raw = (
            await fetch_raw(s.client, loc.uid) if sel.info.uidvalidity == loc.uidvalidity else None
        )
    if raw is None:
        raise NotFound(
            f"message {key} is no longer on the server under its stored UID; nothing was sent",
            hint="sync its folder and look the message up again",
        )
    return raw


async def _attachment(
    f: _Fetcher, msg: Message, meta: AttachmentMeta, loc: store.Located | None
) -> AttachmentData:
    key = msg.summary.id
    data = _read_stored(f.ctx.config.attachments, meta)
    name = meta.filename or f"attachment-{meta.index}"
    if data is None:
        if loc is None or loc.uid is None:
            raise AttachmentUnavailable(
                f"attachment {meta.index} ({name!r}) of message {key} was not kept and the "
                "message has no server copy to fetch it from; nothing was sent",
                hint="forward without attachments (include_attachments: false)",
            )
        try:
            data = await _from_server(f.ctx, f.account, key, meta, await f.get())
        except NotFound as exc:
            raise AttachmentUnavailable(
                f"attachment {meta.index} ({name!r}) of message {key} was not kept and could "
                f"not be fetched from the server ({exc.message}); nothing was sent",
                hint=_UNAVAILABLE_HINT,
            ) from exc
    return AttachmentData(name, _content_type(meta), data)


async def forward_source(
    ctx: ServiceContext,
    account: AccountId,
    key: MessageKey,
    *,
    mode: ForwardMode,
    include_attachments: bool = True,
    max_bytes: int,
    session: Session | None = None,
) -> ForwardSource:
    """Everything a forward of stored message ``key`` carries (see the module docstring).

    ``max_bytes`` bounds a body re-read from the server (the send cap of the account).

    :raises NotFound: no such stored message; the server no longer holds it.
    :raises AttachmentUnavailable: an attachment was not kept and cannot be fetched.
    :raises ConnectionFailed, AuthFailed, OperationTimeout …: the server could not be asked.
    """
    msg = get_message(ctx.db, account, key)
    if msg is None:
        raise NotFound(
            f"no stored message {key} in account {account}",
            hint="use an id from email.list or email.search for the same account",
        )
    loc = store.locate(ctx.db, account, [key]).get(key)
    async with contextlib.AsyncExitStack() as stack:
        f = _Fetcher(ctx, account, session, stack)
        if mode is ForwardMode.ATTACHMENT:
            if loc is not None and loc.uid is not None:
                raw = await _raw(f, msg, loc)
            else:
                atts = [await _attachment(f, msg, m, loc) for m in msg.attachments]
                raw = rebuild(msg, atts)
            return ForwardSource(msg, _original(msg, msg.body_text, msg.body_html), raw=raw)
        text, html, truncated = msg.body_text, msg.body_html, msg.body_truncated
        if truncated and loc is not None and loc.uid is not None:
            full = parse_message(await _raw(f, msg, loc), max_body_bytes=max_bytes)
            text, html, truncated = full.body_text, full.body_html, full.body_truncated
        atts = (
            [await _attachment(f, msg, m, loc) for m in msg.attachments]
            if include_attachments
            else []
        )
        return ForwardSource(msg, _original(msg, text, html), truncated, tuple(atts))
