"""Completion of pending rows: the full parse a first sync deferred.

::

    sync ──upsert_summaries──▶ pending row (summary + raw bytes)
                                   │ complete_pending (here): parse_message, save
                                   │ attachment bytes under the recorded policy
                                   ▼
                              MessageStore.complete: bodies, snippet, headers,
                              attachment metadata, full-text entries, raw dropped
                              (one transaction per batch)

A crash or error mid-way leaves the current batch pending (never half-indexed); a later
call finishes it. Idempotent, and safe from several threads and processes (a row another
completer finished is skipped). Reads complete what they return first
(``services/mailbox.py``); they use the *lenient* saver, so an unusable attachment root
never fails a read (the metadata is recorded with ``stored`` false, as for a type the
policy refuses).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..config.model import AttachmentPolicy
from ..errors import EmailError
from ..mail.parse import DEFAULT_MAX_BODY_BYTES, parse_message
from ..store.db import Database
from ..store.messages import (
    CompletedRow,
    CompletionSettings,
    MessageStore,
    attachment_metas,
)
from ..types import AccountId, AttachmentMeta, MessageKey, ParsedAttachment
from .attachments import save_attachments

__all__ = [
    "DEFAULT_BATCH",
    "AttachmentSaver",
    "complete_keys",
    "complete_pending",
    "lenient_saver",
    "record_settings",
]

#: Saves attachment bytes under a policy; returns the metadata with ``stored`` set.
AttachmentSaver = Callable[
    [AttachmentPolicy, Sequence[ParsedAttachment]], tuple[AttachmentMeta, ...]
]

DEFAULT_BATCH = 200


def lenient_saver(
    policy: AttachmentPolicy, attachments: Sequence[ParsedAttachment]
) -> tuple[AttachmentMeta, ...]:
    """:func:`save_attachments`, except that a failure records the metadata unsaved."""
    try:
        return save_attachments(policy, attachments)
    except EmailError:
        return tuple(
            AttachmentMeta(i, a.filename, a.content_type, len(a.data), a.sha256, False)
            for i, a in enumerate(attachments)
        )


def record_settings(
    db: Database,
    account_id: AccountId,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    attachments: AttachmentPolicy | None = None,
) -> None:
    """Record how this account's pending rows are completed (a sync, before it stores)."""
    MessageStore(db).set_completion_settings(
        account_id, CompletionSettings(max_body_bytes, attachments)
    )


def complete_keys(
    db: Database,
    account_id: AccountId | None = None,
    *,
    keys: Iterable[MessageKey] | None = None,
    limit: int | None = None,
    saver: AttachmentSaver = save_attachments,
    batch_size: int = DEFAULT_BATCH,
) -> list[CompletedRow]:
    """Complete pending rows (all, one account's, or just ``keys``); returns their parses.

    Rows another completer finished meanwhile are returned too (same bytes, same parse),
    so a read can patch what it already holds. When nothing is pending this is one
    indexed lookup.

    :raises StorageError: the store failed (the batch in hand stays pending).
    :raises AttachmentRejected, StorageError: ``saver`` could not save (default saver).
    """
    return _complete(db, account_id, keys, limit, saver, batch_size)[0]


def _complete(
    db: Database,
    account_id: AccountId | None,
    keys: Iterable[MessageKey] | None,
    limit: int | None,
    saver: AttachmentSaver,
    batch_size: int,
) -> tuple[list[CompletedRow], int]:
    """The parsed rows, and how many of them this call completed (not another completer)."""
    store = MessageStore(db)
    wanted = None if keys is None else sorted({int(k) for k in keys})
    if wanted is not None and not wanted:
        return [], 0
    if not store.has_pending(account_id):
        return [], 0
    done = 0
    settings: dict[int, CompletionSettings] = {}
    out: list[CompletedRow] = []
    after = 0
    while limit is None or len(out) < limit:
        n = batch_size if limit is None else min(batch_size, limit - len(out))
        rows = store.pending(account_id, limit=n, after=after, keys=wanted)
        if not rows:
            break
        after = rows[-1].key
        batch: list[CompletedRow] = []
        for row in rows:
            cfg = settings.get(row.account_id)
            if cfg is None:
                cfg = settings[row.account_id] = store.completion_settings(
                    row.account_id
                ) or CompletionSettings(DEFAULT_MAX_BODY_BYTES, None)
            parsed = parse_message(row.raw, max_body_bytes=cfg.max_body_bytes)
            policy = cfg.attachments
            if policy is not None and parsed.attachments:
                metas = saver(policy, parsed.attachments)
            else:
                metas = attachment_metas(parsed)
            batch.append(CompletedRow(row, parsed, metas))
        done += store.complete(batch)
        out.extend(batch)
    return out, done


def complete_pending(
    db: Database,
    account_id: AccountId | None = None,
    *,
    keys: Iterable[MessageKey] | None = None,
    limit: int | None = None,
    saver: AttachmentSaver = save_attachments,
    batch_size: int = DEFAULT_BATCH,
) -> int:
    """:func:`complete_keys`, returning how many rows this call completed."""
    return _complete(db, account_id, keys, limit, saver, batch_size)[1]
