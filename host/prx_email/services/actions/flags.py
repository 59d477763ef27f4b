"""Flags and labels: ``mark`` (system flags, keywords) and ``label`` (Gmail labels, else keywords).

Per folder: SELECT, ``UID FETCH set (UID FLAGS)`` (which of the ids the server still
holds, and which already carry the flags), then ``UID STORE`` on the subset that needs it
only — one command per direction per folder. Asking again for what is already so sends no
STORE and answers ``unchanged``. The store takes the flags the server reported at once.

Labels: with ``X-GM-EXT-1`` the same shape over ``X-GM-LABELS``; elsewhere keywords when
PERMANENTFLAGS holds ``\\*``; otherwise :class:`~prx_email.errors.InvalidState` before any
STORE.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import InvalidArgument, InvalidState
from ...mail.imap import (
    SelectedFolder,
    StoreOp,
    SystemFlag,
    decode_mailbox,
    fetch_flags,
    format_uid_set,
    gmail_labels,
    keyword_flag,
    uid_store,
)
from ...store import mailbox as store
from ...types import AccountId, ActionOutcome, ActionResult, MessageKey
from ..context import ServiceContext
from ._session import Session, by_folder, check_ids, local_only, open_session

__all__ = ["FLAG_NAMES", "label", "mark"]

#: The names an agent uses for system flags.
FLAG_NAMES = {
    "seen": SystemFlag.SEEN,
    "flagged": SystemFlag.FLAGGED,
    "answered": SystemFlag.ANSWERED,
    "draft": SystemFlag.DRAFT,
}


def _flag(name: str) -> str:
    """``seen`` → ``\\Seen``; anything else must be a keyword. :raises InvalidArgument:"""
    system = FLAG_NAMES.get(name.lower().lstrip("\\"))
    if system is not None:
        return system.value
    if name.startswith("\\"):
        raise InvalidArgument(
            f"{name!r} is not a flag that can be set", hint="flags: " + ", ".join(FLAG_NAMES)
        )
    return keyword_flag(name)


def _has(flags: Sequence[str], flag: str) -> bool:
    low = flag.lower()  # flags and keywords compare case-insensitively (RFC 3501 2.3.2)
    return any(f.lower() == low for f in flags)


def _check_keywords(sel: SelectedFolder, flags: Sequence[str]) -> None:
    new = [f for f in flags if not f.startswith("\\") and not _has(tuple(sel.permanent_flags), f)]
    if new and not sel.keywords_allowed:
        raise InvalidState(
            f"folder {sel.name!r} does not accept new keywords ({', '.join(new)})",
            hint="the server's PERMANENTFLAGS lacks \\*; use an existing keyword or a system flag",
        )


async def _mark_in(
    s: Session, folder: str, locs: list[store.Located], add: list[str], remove: list[str]
) -> list[ActionResult]:
    sel = await s.select(folder)
    _check_keywords(sel, add)
    valid = [loc for loc in locs if loc.uidvalidity == sel.info.uidvalidity]
    valid_ids = {loc.id for loc in valid}
    with s.errors(folder):
        current = (
            await fetch_flags(s.client, [loc.uid for loc in valid if loc.uid]) if valid else {}
        )
        need_add = [u for u, f in current.items() if any(not _has(f, x) for x in add)]
        need_rm = [u for u, f in current.items() if any(_has(f, x) for x in remove)]
        after = dict(current)
        if need_add:
            after.update(await uid_store(s.client, need_add, StoreOp.ADD, add))
        if need_rm:
            after.update(await uid_store(s.client, need_rm, StoreOp.REMOVE, remove))
    changed = set(need_add) | set(need_rm)
    by_uid = {loc.uid: loc for loc in valid}
    store.apply_flags(
        s.ctx.db, s.acc.id, {by_uid[u].id: f for u, f in after.items() if u in by_uid}
    )
    out = []
    for loc in locs:
        if loc.uid in after and loc.id in valid_ids:
            outcome = ActionOutcome.CHANGED if loc.uid in changed else ActionOutcome.UNCHANGED
            out.append(ActionResult(loc.id, outcome, folder, loc.uid, after[loc.uid]))
        else:
            out.append(ActionResult(loc.id, ActionOutcome.NOT_FOUND, folder, loc.uid))
    return out


def _results(
    ids: list[int], found: list[ActionResult], located: dict[int, store.Located]
) -> list[ActionResult]:
    by_id = local_only(located.values()) | {r.id: r for r in found}
    return [by_id.get(i) or ActionResult(i, ActionOutcome.NOT_FOUND) for i in ids]


async def mark(
    ctx: ServiceContext,
    account: AccountId,
    ids: Sequence[MessageKey],
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    session: Session | None = None,
) -> list[ActionResult]:
    """Add and/or remove flags (``seen``, ``flagged``, ``answered``, ``draft``, keywords).

    One result per id, in the order given: ``changed``, ``unchanged``, ``not_found``, or
    ``local_only`` (imported from a local mailbox: not on the server, nothing changed).

    :raises InvalidArgument: no ids, over the bulk limit, no flags, a bad flag or keyword,
        the same flag added and removed.
    :raises InvalidState: a new keyword in a folder whose PERMANENTFLAGS lacks ``\\*``.
    """
    acc = ctx.account(account)
    wanted = check_ids(ids, acc.actions.bulk_limit)
    add_f = list(dict.fromkeys(_flag(f) for f in add))
    rm_f = list(dict.fromkeys(_flag(f) for f in remove))
    if not add_f and not rm_f:
        raise InvalidArgument("no flags to add or remove", hint='e.g. {"add": ["seen"]}')
    both = {f.lower() for f in add_f} & {f.lower() for f in rm_f}
    if both:
        raise InvalidArgument(
            f"flags both added and removed: {', '.join(sorted(both))}", hint="pick one"
        )
    located = store.locate(ctx.db, account, wanted)
    groups = by_folder(located.values())
    found: list[ActionResult] = []
    if groups:
        async with open_session(ctx, account, session) as s:
            for folder, locs in groups.items():
                found += await _mark_in(s, folder, locs, add_f, rm_f)
    return _results(wanted, found, located)


def _labels_of(item: object) -> tuple[str, ...]:
    vals = item if isinstance(item, list) else []
    return tuple(decode_mailbox(v.decode("utf-8", "replace")) for v in vals if isinstance(v, bytes))


async def _gmail_in(
    s: Session, folder: str, locs: list[store.Located], add: list[str], remove: list[str]
) -> list[ActionResult]:
    sel = await s.select(folder)
    valid = [loc for loc in locs if loc.uidvalidity == sel.info.uidvalidity and loc.uid]
    valid_ids = {loc.id for loc in valid}
    current: dict[int, tuple[str, ...]] = {}
    with s.errors(folder):
        if valid:
            res = await s.client.uid_fetch(
                format_uid_set([loc.uid for loc in valid if loc.uid]), "(UID X-GM-LABELS)"
            )
            for item in res.items:
                uid = item.get(b"UID")
                if isinstance(uid, int):
                    current[uid] = _labels_of(item.get(b"X-GM-LABELS"))
        need_add = [u for u, have in current.items() if any(x not in have for x in add)]
        need_rm = [u for u, have in current.items() if any(x in have for x in remove)]
        after = dict(current)
        if need_add:
            after.update(await gmail_labels(s.client, need_add, StoreOp.ADD, add))
        if need_rm:
            after.update(await gmail_labels(s.client, need_rm, StoreOp.REMOVE, remove))
    changed = set(need_add) | set(need_rm)
    out = []
    for loc in locs:
        if loc.uid in after and loc.id in valid_ids:
            outcome = ActionOutcome.CHANGED if loc.uid in changed else ActionOutcome.UNCHANGED
            out.append(ActionResult(loc.id, outcome, folder, loc.uid, loc.flags, after[loc.uid]))
        else:
            out.append(ActionResult(loc.id, ActionOutcome.NOT_FOUND, folder, loc.uid))
    return out


async def label(
    ctx: ServiceContext,
    account: AccountId,
    ids: Sequence[MessageKey],
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    session: Session | None = None,
) -> list[ActionResult]:
    """Gmail labels when the server offers ``X-GM-EXT-1``, else IMAP keywords.

    :raises InvalidArgument: as :func:`mark`; a label that is no valid keyword (non-Gmail).
    :raises InvalidState: the server permits neither labels nor new keywords.
    """
    acc = ctx.account(account)
    wanted = check_ids(ids, acc.actions.bulk_limit)
    if not add and not remove:
        raise InvalidArgument("no labels to add or remove", hint='e.g. {"add": ["Receipts"]}')
    located = store.locate(ctx.db, account, wanted)
    groups = by_folder(located.values())
    found: list[ActionResult] = []
    async with open_session(ctx, account, session) as s:
        if "X-GM-EXT-1" in s.client.capabilities:
            for folder, locs in groups.items():
                found += await _gmail_in(s, folder, locs, list(add), list(remove))
            return _results(wanted, found, located)
        kw_add = [keyword_flag(x) for x in add]
        kw_rm = [keyword_flag(x) for x in remove]
        for folder, locs in groups.items():
            sel = await s.select(folder)
            if kw_add and not sel.keywords_allowed:
                raise InvalidState(
                    "the server offers no Gmail labels and does not accept new keywords",
                    hint="this server supports neither X-GM-EXT-1 nor keywords (PERMANENTFLAGS "
                    "without \\*); move the messages to a folder instead",
                )
            found += await _mark_in(s, folder, locs, kw_add, kw_rm)
    return [
        ActionResult(r.id, r.outcome, r.folder, r.uid, r.flags, _keywords(r.flags))
        for r in _results(wanted, found, located)
    ]


def _keywords(flags: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in flags if not f.startswith("\\") and not f.startswith("$"))
