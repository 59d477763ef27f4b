"""IMAP sync (issue 3): a faithful local copy of each (account, folder), and remote search.

Per folder, one run:

1. ``EXAMINE`` (with CONDSTORE when offered) → UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ.
2. UIDVALIDITY differs from the stored one → delete the folder's rows and cursor, start over.
3. Nothing changed (UIDNEXT and HIGHESTMODSEQ both equal the stored ones) → done: no
   other command is sent, so a no-change resync costs one round trip.
4. Messages already stored (UID ≤ cursor): flag changes and expunges. With CONDSTORE/QRESYNC
   ``UID FETCH 1:<cursor> (UID FLAGS) (CHANGEDSINCE m VANISHED)``; otherwise a full
   ``UID FETCH 1:<cursor> (UID FLAGS)`` scan diffed against the store.
5. New messages: ``UID SEARCH UID <cursor+1>:*``, then ``UID FETCH`` of ``batch_size`` UIDs
   at a time (``UID FLAGS BODY.PEEK[]``: the size is the literal's; asking for RFC822.SIZE
   too cost Dovecot ~15 % more CPU), pipelined (``mail.imap.FetchPipeline``: eight batches
   requested ahead, responses routed by UID, reading paused beyond 32 MiB buffered),
   parsed on the event loop thread and written from a worker thread (``BatchWriter``:
   whatever queued up while a write ran goes in the next transaction). Each message is
   stored as its header-level summary (``mail.parse.parse_summary``: sender, recipients,
   subject, date, threading ids) plus its raw bytes, pending completion; batches are
   upserted and the cursor moved to the last UID written in the same transaction, so a
   failure leaves the cursor at the last stored batch.

A successful :func:`sync` clears the scheduler's stored backoff of the folders it synced
(``scheduler.clear_backoff``), whoever called it: ``email.sync`` or the CLI.

After the network part, :func:`sync` completes the account's pending rows
(``services.completion.complete_pending``: full parse, bodies, attachments saved under the policy,
full-text index), one transaction per batch, off the event loop. Reads complete pending rows
before they answer too, so a search never misses what a sync stored, even when this phase
was interrupted.

Remote search (:func:`search_remote`) runs ``UID SEARCH`` on the server, fetches and stores
any matching message not yet in the local store (without moving the cursor: the upsert is
idempotent, so the next sync simply rewrites it), and returns the matches from the store —
the same summaries, ordering and cursors as a local search.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..config.model import AccountConfig, ServerConfig
from ..errors import EmailError, InvalidArgument
from ..logging_setup import current_run_id, new_run_id, run_scope
from ..mail.bounce import looks_like_bounce, parse_bounce
from ..mail.classify import SenderFilter, automated_reason
from ..mail.errors import map_imap_errors
from ..mail.imap import (
    Arg,
    FetchPipeline,
    FetchResult,
    ImapClient,
    Literal,
    astring,
    format_uid_set,
)
from ..mail.parse import parse_message, parse_summary
from ..metrics import record_sync
from ..store.cursor import decode_cursor
from ..store.messages import MessageStore, StoreItem, SummaryItem
from ..store.sync_state import FolderState, SyncStateRepo
from ..types import FolderReport, SyncReport, SyncRequest
from . import completion, events
from ._batch_writer import BatchWriter
from .attachments import save_attachments
from .context import ServiceContext
from .imap_login import imap_server, login
from .scheduler import clear_backoff

if TYPE_CHECKING:
    from ..types import MessagePage, SearchQuery

__all__ = [
    "SyncProgress",
    "complete_pending",
    "open_imap",
    "search_remote",
    "sync",
    "sync_folder",
]

log = logging.getLogger(__name__)

_FETCH_ITEMS = "(UID FLAGS BODY.PEEK[])"
#: UID FETCH batches requested beyond the one being parsed: the server streams on while we
#: parse and store (with one batch ahead, 10,000 messages took ~1.5x as long).
FETCH_AHEAD = 8
#: Fetched bytes buffered beyond the batch in hand before reading pauses (flow control).
FETCH_BUFFER_BYTES = 32 << 20
#: Parsed batches waiting for the writer before the loop waits for it (bounds memory).
STORE_QUEUE = 4
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """Reported after each stored batch (and once at the start of a folder)."""

    account_id: int
    folder: str
    done: int
    total: int


ProgressFn = Callable[[SyncProgress], None]


def _imap_server(acc: AccountConfig) -> ServerConfig:
    return imap_server(acc)


async def open_imap(ctx: ServiceContext, acc: AccountConfig) -> ImapClient:
    """Connect and log in; an OAuth2 token the server rejects is refreshed and retried once.

    :raises ConnectionFailed, TlsFailed, AuthFailed, OperationTimeout, ConfigError:
    """
    return await login(ctx.credentials, acc)


# A mailbox has a handful of distinct flag sets: decode each once.
_FLAG_SETS: dict[tuple[object, ...], tuple[str, ...]] = {}


def _flags(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    key = tuple(value)
    try:
        return _FLAG_SETS[key]
    except KeyError:
        found = _decode_flags(key)
        if len(_FLAG_SETS) >= 1024:
            _FLAG_SETS.clear()
        _FLAG_SETS[key] = found
        return found
    except TypeError:  # a nested list in FLAGS: unhashable, and never a flag
        return _decode_flags(key)


def _decode_flags(values: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(
        f.decode("utf-8", "replace") for f in values if isinstance(f, bytes) and f != b"\\Recent"
    )


def _uid(item: dict[bytes, object]) -> int | None:
    uid = item.get(b"UID")
    return uid if isinstance(uid, int) else None


@dataclass(slots=True)
class _FolderRun:
    """One folder's sync on an open connection."""

    ctx: ServiceContext
    acc: AccountConfig
    client: ImapClient
    folder: str
    store: MessageStore
    progress: ProgressFn | None
    repo: SyncStateRepo = field(init=False)

    def __post_init__(self) -> None:
        self.repo = SyncStateRepo(self.ctx.db)

    async def run(self, budget: int | None) -> FolderReport:
        qresync = "QRESYNC" in self.client.enabled
        info = await self.client.select(self.folder)
        state = self.repo.state(self.acc.id, self.folder)
        reset = False
        if state is not None and state.uidvalidity != info.uidvalidity:
            self.repo.reset_folder(self.acc.id, self.folder)
            state, reset = None, True
        if state is None:
            state = FolderState(self.acc.id, self.folder, info.uidvalidity)
            self.repo.start_folder(state)

        if (
            info.uidnext is not None
            and state.uidnext == info.uidnext
            and info.highestmodseq is not None
            and state.highestmodseq == info.highestmodseq
        ):
            return FolderReport(self.folder)

        flags_updated = expunged = 0
        if state.last_uid > 0:
            flags_updated, expunged = await self._known(
                state.last_uid, info.uidvalidity, state.highestmodseq, info.highestmodseq, qresync
            )

        fetched, more = await self._new(state.last_uid, info.uidvalidity, budget)

        self.repo.finish_folder(
            self.acc.id,
            self.folder,
            uidvalidity=info.uidvalidity,
            uidnext=None if more else info.uidnext,
            highestmodseq=info.highestmodseq,
            last_sync_at=int(self.ctx.clock()),
        )
        return FolderReport(
            self.folder,
            fetched=fetched,
            flags_updated=flags_updated,
            expunged=expunged,
            uidvalidity_reset=reset,
            more_pending=more,
        )

    async def _known(
        self,
        last_uid: int,
        uidvalidity: int,
        old_modseq: int | None,
        new_modseq: int | None,
        qresync: bool,
    ) -> tuple[int, int]:
        """Reflect flag changes and expunges of stored messages; returns (updated, expunged)."""
        span = f"1:{last_uid}"
        if old_modseq is not None and new_modseq is not None:
            if old_modseq == new_modseq:
                return 0, 0
            res = await self.client.uid_fetch(
                span, "(UID FLAGS)", changedsince=old_modseq, vanished=qresync
            )
            changed = {u: _flags(i.get(b"FLAGS")) for i in res.items if (u := _uid(i))}
            if qresync:
                gone = set(res.vanished)
            else:
                present = set(await self.client.uid_search([b"UID", span.encode()]))
                gone = self.store.uids_in_folder(self.acc.id, self.folder, uidvalidity) - present
        else:
            res = await self.client.uid_fetch(span, "(UID FLAGS)")
            remote = {u: _flags(i.get(b"FLAGS")) for i in res.items if (u := _uid(i))}
            local = self.store.uid_flags(self.acc.id, self.folder, uidvalidity)
            changed = {u: f for u, f in remote.items() if u in local and set(local[u]) != set(f)}
            gone = set(local) - set(remote)
        gone = {u for u in gone if u <= last_uid}
        updated = self.store.set_flags(self.acc.id, self.folder, changed, uidvalidity=uidvalidity)
        removed = self.store.delete_uids(self.acc.id, self.folder, gone, uidvalidity=uidvalidity)
        return updated, removed

    async def _new(self, last_uid: int, uidvalidity: int, budget: int | None) -> tuple[int, bool]:
        # Rows ahead of the cursor come from remote search; drop those the server no longer
        # has, or the cursor would pass them without the expunge scan ever seeing them. Read
        # before the SEARCH: a row a concurrent email.move re-keys into this folder after the
        # server answered is not in the answer, and is not one the server lost.
        ahead = {
            u
            for u in self.store.uids_in_folder(self.acc.id, self.folder, uidvalidity)
            if u > last_uid
        }
        found = await self.client.uid_search([b"UID", b"%d:*" % (last_uid + 1)])
        uids = sorted(u for u in found if u > last_uid)
        if ahead - set(uids):
            self.store.delete_uids(
                self.acc.id, self.folder, ahead - set(uids), uidvalidity=uidvalidity
            )
        more = budget is not None and len(uids) > budget
        if budget is not None:
            uids = uids[:budget]
        total = len(uids)
        self._report(0, total)
        if not uids:
            return 0, more
        completion.record_settings(
            self.ctx.db,
            self.acc.id,
            max_body_bytes=self.acc.sync.max_body_bytes,
            attachments=self.ctx.config.attachments,
        )
        size = max(1, self.acc.sync.batch_size)
        batches = [uids[i : i + size] for i in range(0, total, size)]
        done = 0

        def written(count: int) -> None:
            nonlocal done
            done += count
            self._report(done, total)

        writer: BatchWriter[tuple[list[SummaryItem], int]] = BatchWriter(
            functools.partial(self._store, uidvalidity), max_queued=STORE_QUEUE, on_written=written
        )
        pipeline = FetchPipeline(
            self.client,
            _FETCH_ITEMS,
            batches,
            ahead=FETCH_AHEAD,
            max_buffered=FETCH_BUFFER_BYTES,
        )
        try:
            async with pipeline:
                for batch in batches:
                    result = await pipeline.next()
                    # Written from a worker thread (SQLite releases the GIL) while the next
                    # batch is parsed; strictly in order, each write with its cursor move.
                    await writer.put((self._build(result), batch[-1]))
        except BaseException:
            # What was fetched and parsed is still stored: the cursor covers exactly it.
            with contextlib.suppress(Exception):
                await writer.close()
            raise
        await writer.close()
        return done, more

    def _store(self, uidvalidity: int, jobs: Sequence[tuple[list[SummaryItem], int]]) -> int:
        """Store fetched batches (items, last UID) and move the cursor, in one transaction."""
        items = [item for batch_items, _ in jobs for item in batch_items]
        # One transaction: the batch's single multi-row upsert, then the cursor move.
        self.repo.store_summaries(self.acc.id, self.folder, uidvalidity, items, jobs[-1][1])
        return len(items)

    def _build(self, result: FetchResult) -> list[SummaryItem]:
        """Summaries and raw bytes of a fetched batch (bodies are completed later)."""
        items: list[SummaryItem] = []
        append = items.append  # per message on the sync hot path: positional, no lookups
        own = self.acc.address
        settings = self.acc.events
        suppress = settings.automated == "suppress"
        senders = SenderFilter(settings.allow_senders, settings.deny_senders)
        filtered = senders.active
        for it in result.items:
            uid = it.get(b"UID")
            raw = it.get(b"BODY[]")
            if not isinstance(uid, int) or not isinstance(raw, bytes):
                continue
            size = it.get(b"RFC822.SIZE")
            flags = _flags(it.get(b"FLAGS"))
            size = size if isinstance(size, int) else len(raw)
            summary = parse_summary(raw)
            # Loop prevention, at store time: the new_mail event carries the reason.
            automated = automated_reason(raw, summary.from_addr, own)
            quiet = (suppress and automated is not None) or (
                filtered and not senders.admits(summary.from_addr)
            )
            # Bounces, at store time too: BODY[] is the whole message, so the full parse
            # needs nothing completion would add; only mail whose header block looks like a
            # bounce (a few byte searches) pays for it.
            bounce = (
                parse_bounce(raw)
                if looks_like_bounce(raw, summary.from_, summary.subject)
                else None
            )
            append(SummaryItem(uid, flags, size, summary, raw, automated, quiet, bounce))
        return items

    def _build_full(self, result: FetchResult) -> list[StoreItem]:
        """Fully parsed items of a fetched batch, attachments saved (remote search)."""
        max_body = self.acc.sync.max_body_bytes
        policy = self.ctx.config.attachments
        items: list[StoreItem] = []
        for it in result.items:
            uid = _uid(it)
            raw = it.get(b"BODY[]")
            if uid is None or not isinstance(raw, bytes):
                continue
            msg = parse_message(raw, max_body_bytes=max_body)
            bounce = parse_bounce(raw) if looks_like_bounce(raw, msg.from_, msg.subject) else None
            size = it.get(b"RFC822.SIZE")
            metas = save_attachments(policy, msg.attachments) if msg.attachments else None
            items.append(
                StoreItem(
                    uid=uid,
                    flags=_flags(it.get(b"FLAGS")),
                    size=size if isinstance(size, int) else len(raw),
                    parsed=msg,
                    attachments=metas,
                    bounce=bounce,
                )
            )
        return items

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(SyncProgress(self.acc.id, self.folder, done, total))


async def sync_folder(
    ctx: ServiceContext,
    acc: AccountConfig,
    client: ImapClient,
    folder: str,
    *,
    budget: int | None = None,
    progress: ProgressFn | None = None,
) -> FolderReport:
    """Sync one folder on an open connection (library errors mapped); every run counts in
    the metrics, whoever runs it (``sync``, the watcher)."""
    server = _imap_server(acc)
    run = _FolderRun(ctx, acc, client, folder, MessageStore(ctx.db), progress)
    start = time.monotonic()
    try:
        with map_imap_errors(server.host, server.port, folder=folder, timeout=server.timeout):
            rep = await run.run(budget)
    except EmailError as exc:
        record_sync(acc.id, folder, time.monotonic() - start, error_code=exc.code.envelope)
        raise
    record_sync(
        acc.id,
        folder,
        time.monotonic() - start,
        fetched=rep.fetched,
        flags=rep.flags_updated,
        expunged=rep.expunged,
    )
    return rep


async def complete_pending(ctx: ServiceContext, account_id: int) -> int:
    """Complete the account's pending rows (bodies, attachments, index) off the event loop."""
    if not MessageStore(ctx.db).has_pending(account_id):
        return 0
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, completion.complete_pending, ctx.db, account_id)


async def sync(
    ctx: ServiceContext,
    req: SyncRequest,
    *,
    progress: ProgressFn | None = None,
    complete: bool = True,
) -> SyncReport:
    """Fetch new mail, flag changes and expunges for one account (one folder or its defaults).

    New messages are stored as summaries first; then, unless ``complete`` is False (a
    benchmark timing the phases apart), their bodies are completed and indexed
    (:func:`complete_pending`). Rows left pending are completed by the next read or sync.

    Runs under the caller's ``run_id`` (the scheduler mints one per job), else its own;
    every log line of the run carries it.

    :raises AccountNotFound, ConfigError, ConnectionFailed, TlsFailed, AuthFailed,
        FolderNotFound, OperationTimeout, ProtocolError, InvalidArgument:
    """
    if current_run_id() is not None:
        return await _sync(ctx, req, progress=progress, complete=complete)
    with run_scope(new_run_id()):
        try:
            return await _sync(ctx, req, progress=progress, complete=complete)
        except EmailError as exc:
            # No scheduler around to report it: the run's failure is logged here.
            log.warning(
                "sync failed: %s",
                exc.message,
                extra={"account": req.account_id, "folder": req.folder,
                       "error_code": exc.code.envelope},
            )  # fmt: skip
            if exc.run_id is None:  # the envelope names the run its log lines carry
                exc.run_id = current_run_id()
            raise


async def _sync(
    ctx: ServiceContext, req: SyncRequest, *, progress: ProgressFn | None, complete: bool
) -> SyncReport:
    acc = ctx.account(req.account_id)
    server = _imap_server(acc)
    if req.max_messages is not None and req.max_messages < 1:
        raise InvalidArgument("max_messages must be at least 1", hint="omit it for no limit")
    folders = (req.folder,) if req.folder else acc.sync.folders
    budget = req.max_messages
    start = time.monotonic()
    try:
        client = await open_imap(ctx, acc)
    except EmailError as exc:  # a failed login is a failed run of every folder asked for
        for folder in folders:
            record_sync(acc.id, folder, time.monotonic() - start, error_code=exc.code.envelope)
        raise
    reports: list[FolderReport] = []
    synced: list[str] = []
    try:
        with map_imap_errors(server.host, server.port, timeout=server.timeout):
            await client.enable("QRESYNC")
        for folder in folders:
            start = time.monotonic()
            rep = await sync_folder(ctx, acc, client, folder, budget=budget, progress=progress)
            seconds = time.monotonic() - start
            log.info(
                "folder synced: %d new, %d flag changes, %d expunged",
                rep.fetched,
                rep.flags_updated,
                rep.expunged,
                extra={
                    "account": acc.id,
                    "folder": folder,
                    "duration_ms": round(seconds * 1000),
                },
            )
            reports.append(rep)
            synced.append(folder)
            if budget is not None:
                budget -= rep.fetched
                if budget <= 0 and folder != folders[-1]:
                    reports.extend(
                        FolderReport(f, more_pending=True) for f in _after(folders, folder)
                    )
                    break
    finally:
        await client.logout()
    # Success: a backoff stored by an earlier failed run (scheduler, --watch) is over.
    clear_backoff(ctx, acc.id, synced, ctx.clock())
    if complete:
        await complete_pending(ctx, acc.id)
    # Event-log retention ([events]); one indexed DELETE or two, nothing when within bounds.
    events.prune(ctx)
    return SyncReport(acc.id, tuple(reports))


def _after(folders: Sequence[str], folder: str) -> list[str]:
    return list(folders[folders.index(folder) + 1 :])


# -- remote search ---------------------------------------------------------------------------


def _imap_date(ts: int) -> bytes:
    d = datetime.fromtimestamp(ts, UTC)
    return f"{d.day}-{_MONTHS[d.month - 1]}-{d.year}".encode("ascii")


def search_criteria(q: SearchQuery) -> tuple[list[Arg], str | None]:
    """IMAP SEARCH keys for a query, and the CHARSET to announce (UTF-8 when non-ASCII).

    Every user string is a quoted string or a literal (``mail.imap.astring``), never an atom.

    :raises InvalidArgument: a value contains CR, LF or NUL.
    """
    keys: list[Arg] = []
    for key, value in (
        (b"TEXT", q.text),
        (b"FROM", q.from_),
        (b"TO", q.to),
        (b"SUBJECT", q.subject),
        (b"BODY", q.body),
    ):
        if value:
            keys += [key, astring(value, key.decode().lower())]
    # SENT*: the Date header, as the local search uses (SINCE/BEFORE would be INTERNALDATE).
    # IMAP compares whole days, so the server may return a few extra matches at the edges;
    # the page is filtered again below with the exact timestamps.
    if q.since is not None:
        keys += [b"SENTSINCE", _imap_date(q.since)]
    if q.before is not None:
        keys += [b"SENTBEFORE", _imap_date(q.before + 86_399)]
    if q.unseen is True:
        keys.append(b"UNSEEN")
    elif q.unseen is False:
        keys.append(b"SEEN")
    if not keys:
        keys.append(b"ALL")
    charset = "UTF-8" if any(isinstance(k, Literal) for k in keys) else None
    return keys, charset


async def search_remote(ctx: ServiceContext, query: SearchQuery) -> MessagePage:
    """Run the query as IMAP ``UID SEARCH`` on the server; return the matches from the store.

    Matches not yet stored are fetched and stored first (the cursor does not move).

    :raises InvalidArgument, AccountNotFound, ConnectionFailed, TlsFailed, AuthFailed,
        FolderNotFound, OperationTimeout:
    """
    if query.cursor:
        decode_cursor(query.cursor)  # a foreign cursor is refused before any round trip
    criteria, charset = search_criteria(query)
    acc = ctx.account(query.account_id)
    server = _imap_server(acc)
    folder = query.folder or "INBOX"
    client = await open_imap(ctx, acc)
    try:
        with map_imap_errors(server.host, server.port, folder=folder, timeout=server.timeout):
            await client.enable("QRESYNC")
            info = await client.select(folder)
            state = SyncStateRepo(ctx.db).state(acc.id, folder)
            if state is None or state.uidvalidity != info.uidvalidity:
                # Unknown or reset folder: bring it up to date first, so the store's rows
                # carry the server's current UIDVALIDITY.
                await sync_folder(ctx, acc, client, folder)
                info = await client.select(folder)
            uids = await client.uid_search(criteria, charset=charset)
            store = MessageStore(ctx.db)
            missing = sorted(set(uids) - store.uids_in_folder(acc.id, folder, info.uidvalidity))
            if missing:
                run = _FolderRun(ctx, acc, client, folder, store, None)
                for i in range(0, len(missing), acc.sync.batch_size):
                    chunk = missing[i : i + acc.sync.batch_size]
                    res = await client.uid_fetch(format_uid_set(chunk), _FETCH_ITEMS)
                    store.upsert_many(acc.id, folder, info.uidvalidity, run._build_full(res))
    finally:
        await client.logout()
    await complete_pending(ctx, acc.id)
    return store.uid_page(
        acc.id,
        folder,
        info.uidvalidity,
        uids,
        limit=query.limit,
        cursor=query.cursor,
        since=query.since,
        before=query.before,
    ).page
