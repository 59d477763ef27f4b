"""Drafts in the account's own Drafts folder, identified by a Message-ID generated once.

::

    create ──APPEND (\\Draft)──▶ drafted ──the person sends it──▶ sent (found in Sent/…)
                                   │  ▲
                            update │  │ APPEND new version, then UID EXPUNGE the old one
                                   ▼  │
                                 drafted ──delete / the person discards it──▶ discarded

The server is the only record: nothing is kept in the store. ``status`` is best effort: it
looks the Message-ID up in the Drafts folder, then in Sent and every other folder except
Trash and Junk; it answers ``unknown`` (with the reason) when the server cannot be asked.

Crash safety of ``update``: the new version is appended before the old one is removed, so
a crash in between leaves two copies with the same identity, never none. ``status`` treats
them as one draft and the next ``update`` or ``delete`` removes every older copy.

A draft keeps its Bcc header (as mail clients store drafts); ``email.draft_send``
(:mod:`.outbox._draft_send`) reads the newest copy with :func:`fetch`, sends it without
that header, and removes it with :func:`remove_copies` once the outbox row is ``sent``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

from ..config.model import AccountConfig
from ..errors import ConfigError, EmailError, FolderNotFound, InvalidArgument, NotFound
from ..mail.compose import (
    Composed,
    check_subject,
    compose,
    parse_mailboxes,
    references_chain,
)
from ..mail.errors import map_imap_errors
from ..mail.imap import (
    ImapClient,
    ListEntry,
    append,
    fetch_raw,
    list_entries,
    search_message_id,
    uid_delete,
)
from ..types import DraftInfo, DraftRequest, DraftState, DraftStatus
from .context import ServiceContext
from .imap_login import login

_DRAFT_FLAGS = (b"\\Draft", b"\\Seen")
# Folders whose copies say nothing about sending: a discarded draft often lands in Trash.
_NOT_SENT_ATTRS = ("\\trash", "\\junk", "\\noselect", "\\nonexistent", "\\drafts")
_NOT_SENT_NAMES = re.compile(r"(?:^|[./])(?:trash|junk|spam|deleted(?: items| messages)?)\Z", re.I)
_MESSAGE_ID = re.compile(r"^<[^<>\s\x00-\x1f\x7f]{1,994}>\Z")


def normalize_draft_id(value: str) -> str:
    """The draft id as a Message-ID with angle brackets.

    :raises InvalidArgument: not a plausible Message-ID.
    """
    v = value.strip()
    if not v.startswith("<"):
        v = f"<{v}>"
    if "@" not in v or not _MESSAGE_ID.match(v):
        raise InvalidArgument(
            f"not a draft id: {value[:80]!r}",
            hint="use the draft_id returned by email.draft_create (a Message-ID like <…@…>)",
        )
    return v


# -- composing --------------------------------------------------------------------------------


def _parent_by_key(ctx: ServiceContext, account_id: int, key: int) -> tuple[str, list[str]]:
    from ..store.messages import MessageStore

    parent = MessageStore(ctx.db).get(account_id, key)
    if parent is None:
        raise NotFound(
            f"no stored message {key} in account {account_id}",
            hint="use an id from email.list or email.search for the same account",
        )
    if not parent.summary.message_id:
        raise InvalidArgument(
            f"message {key} has no Message-ID to reply to",
            hint="draft a new message instead (without in_reply_to)",
        )
    refs = references_chain(parent.summary.message_id, parent.references, parent.in_reply_to)
    return parent.summary.message_id, refs


def _parent_by_message_id(
    ctx: ServiceContext, account_id: int, message_id: str
) -> tuple[str, list[str]]:
    from ..store.messages import MessageStore

    mid = normalize_draft_id(message_id)
    found = MessageStore(ctx.db).find_by_message_id(account_id, mid)
    if found:
        return _parent_by_key(ctx, account_id, found[0].id)
    # Not stored (not synced yet): thread on the id alone, as a client replying to it would.
    return mid, [mid]


def build_draft(
    ctx: ServiceContext, account: AccountConfig, req: DraftRequest, message_id: str | None = None
) -> Composed:
    """The draft's MIME bytes; ``message_id`` keeps an existing draft's identity.

    :raises InvalidArgument, NotFound, AttachmentRejected:
    """
    from .outbox import load_attachments

    to = parse_mailboxes(req.to, "to")
    cc = parse_mailboxes(req.cc, "cc")
    bcc = parse_mailboxes(req.bcc, "bcc")
    total = len(to) + len(cc) + len(bcc)
    if total > account.send.max_recipients:
        raise InvalidArgument(
            f"{total} recipients in to, cc and bcc together, at most {account.send.max_recipients}",
            hint="Split the message into several sends.",
        )
    subject = check_subject(req.subject)
    body_text, body_html = req.body_text, req.body_html
    if body_text is None and body_html is not None:
        from ..mail.htmltext import html_to_text

        body_text = html_to_text(body_html)
    if body_text is None:
        body_text = ""  # an empty draft is still a draft
    in_reply_to: str | None = None
    refs: list[str] = []
    if req.reply_to is not None:
        in_reply_to, refs = _parent_by_key(ctx, account.id, req.reply_to)
    elif req.reply_to_message_id is not None:
        in_reply_to, refs = _parent_by_message_id(ctx, account.id, req.reply_to_message_id)
    atts = load_attachments(ctx.config.attachments, req.attachments)
    return compose(
        sender=account.address,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        attachments=atts,
        in_reply_to=in_reply_to,
        references=refs,
        now=ctx.clock(),
        message_id=message_id,
        bcc_header=True,
    )


# -- the IMAP session -------------------------------------------------------------------------


def _imap_account(ctx: ServiceContext, account_id: int) -> AccountConfig:
    account = ctx.account(account_id)
    if account.imap is None:
        raise ConfigError(
            f"account {account_id} has no IMAP server, so it has no Drafts folder",
            hint="add an [accounts.imap] table for this account",
        )
    return account


@contextlib.asynccontextmanager
async def _session(ctx: ServiceContext, account: AccountConfig) -> AsyncIterator[ImapClient]:
    server = account.imap
    assert server is not None
    client = await login(ctx.credentials, account)
    try:
        with map_imap_errors(server.host, server.port):
            yield client
    finally:
        await client.logout()


async def _drafts_folder(
    client: ImapClient, account: AccountConfig, entries: list[ListEntry] | None = None
) -> str:
    if account.send.drafts_folder:
        return account.send.drafts_folder
    for entry in entries if entries is not None else await list_entries(client):
        if entry.has("\\Drafts"):
            return entry.name
    raise FolderNotFound(
        "the server marks no folder as Drafts (SPECIAL-USE \\Drafts)",
        hint="set [accounts.send] drafts_folder to the name of the account's Drafts folder",
    )


async def _find(client: ImapClient, folder: str, draft_id: str, *, write: bool) -> list[int]:
    await client.select(folder, readonly=not write, condstore=False)
    return await search_message_id(client, draft_id)


# -- operations -------------------------------------------------------------------------------


async def create(ctx: ServiceContext, req: DraftRequest) -> DraftInfo:
    """Compose and APPEND a new draft; its Message-ID is the draft id.

    :raises EmailError: invalid content, no Drafts folder, or the server failed.
    """
    account = _imap_account(ctx, req.account_id)
    built = build_draft(ctx, account, req)
    async with _session(ctx, account) as client:
        folder = await _drafts_folder(client, account)
        uid = await append(client, folder, built.raw, _DRAFT_FLAGS)
    return DraftInfo(account.id, built.message_id, folder, uid)


async def update(ctx: ServiceContext, draft_id: str, req: DraftRequest) -> DraftInfo:
    """Replace a draft: APPEND the new version (same Message-ID), then remove older copies.

    :raises NotFound: no draft with that id in the Drafts folder.
    """
    account = _imap_account(ctx, req.account_id)
    draft_id = normalize_draft_id(draft_id)
    built = build_draft(ctx, account, req, message_id=draft_id)
    async with _session(ctx, account) as client:
        folder = await _drafts_folder(client, account)
        old = await _find(client, folder, draft_id, write=True)
        if not old:
            raise NotFound(
                f"no draft {draft_id} in {folder!r}",
                hint="it was sent or discarded (see email.draft_status); create a new one",
            )
        uid = await append(client, folder, built.raw, _DRAFT_FLAGS)
        if uid is None:
            # No UIDPLUS: every copy but the newest (highest UID) is an older version.
            current = await search_message_id(client, draft_id)
            keep = max(current) if current else None
            old = [u for u in current if u != keep]
        await uid_delete(client, [u for u in old if u != uid])
    return DraftInfo(account.id, draft_id, folder, uid)


async def delete(ctx: ServiceContext, account_id: int, draft_id: str) -> int:
    """Remove every copy of a draft from the Drafts folder; returns how many were removed.

    :raises NotFound: no draft with that id in the Drafts folder.
    """
    account = _imap_account(ctx, account_id)
    draft_id = normalize_draft_id(draft_id)
    async with _session(ctx, account) as client:
        folder = await _drafts_folder(client, account)
        uids = await _find(client, folder, draft_id, write=True)
        if not uids:
            raise NotFound(
                f"no draft {draft_id} in {folder!r}",
                hint="it was already sent or discarded (see email.draft_status)",
            )
        await uid_delete(client, uids)
    return len(uids)


async def fetch(ctx: ServiceContext, account: AccountConfig, draft_id: str) -> tuple[str, bytes]:
    """The Drafts folder and the bytes of the newest copy (highest UID) of a draft.

    :raises NotFound: no draft with that id in the Drafts folder.
    """
    draft_id = normalize_draft_id(draft_id)
    account = _imap_account(ctx, account.id)
    async with _session(ctx, account) as client:
        folder = await _drafts_folder(client, account)
        uids = await _find(client, folder, draft_id, write=False)
        raw = await fetch_raw(client, max(uids)) if uids else None
    if raw is None:
        raise NotFound(
            f"no draft {draft_id} in {folder!r}",
            hint="it was sent or discarded (see email.draft_status); create a new one",
        )
    return folder, raw


async def remove_copies(
    ctx: ServiceContext, account: AccountConfig, folder: str, draft_id: str
) -> int:
    """Remove every copy of a draft from ``folder`` (none there is fine); how many."""
    async with _session(ctx, account) as client:
        uids = await _find(client, folder, normalize_draft_id(draft_id), write=True)
        await uid_delete(client, uids)
    return len(uids)


def _status_folders(account: AccountConfig, entries: list[ListEntry], drafts: str) -> list[str]:
    """Where a sent draft may be: Sent first, then every folder that is not Drafts/Trash/Junk."""
    first = [e.name for e in entries if e.has("\\Sent")]
    if account.send.sent_folder:
        first.insert(0, account.send.sent_folder)
    rest = [
        e.name
        for e in entries
        if e.name != drafts
        and not any(e.has(a) for a in _NOT_SENT_ATTRS)
        and not _NOT_SENT_NAMES.search(e.name)
    ]
    ordered: list[str] = []
    for name in (*first, *rest):
        if name not in ordered and name != drafts:
            ordered.append(name)
    return ordered


async def status(ctx: ServiceContext, account_id: int, draft_id: str) -> DraftStatus:
    """Best-effort state of a draft; ``unknown`` with the reason when the server fails.

    :raises AccountNotFound, ConfigError, InvalidArgument: before anything is asked.
    """
    account = _imap_account(ctx, account_id)
    draft_id = normalize_draft_id(draft_id)
    try:
        async with _session(ctx, account) as client:
            entries = await list_entries(client)
            drafts = await _drafts_folder(client, account, entries)
            if await _find(client, drafts, draft_id, write=False):
                return DraftStatus(account.id, draft_id, DraftState.DRAFTED, drafts)
            names = {e.name for e in entries}
            for folder in _status_folders(account, entries, drafts):
                if folder not in names:
                    continue  # a configured Sent folder the server does not have
                if await _find(client, folder, draft_id, write=False):
                    return DraftStatus(account.id, draft_id, DraftState.SENT, folder)
    except EmailError as exc:
        reason = f"{exc.code.envelope}: {exc.message}"
        return DraftStatus(account.id, draft_id, DraftState.UNKNOWN, reason=reason)
    return DraftStatus(account.id, draft_id, DraftState.DISCARDED)
