"""Moving and deleting messages: ``move``, ``archive``, ``delete``.

Per source folder, one SELECT and one ``UID SEARCH UID set`` (which ids the server still
holds), then either

- ``UID MOVE set dest`` (RFC 6851) when offered, or
- ``UID COPY set dest`` + ``UID STORE set +FLAGS.SILENT (\\Deleted)`` + ``UID EXPUNGE set``
  (RFC 4315), which removes exactly those UIDs and never another message someone flagged
  \\Deleted. Without UIDPLUS there is no such EXPUNGE: the move is refused before any command.

The COPYUID response code gives each message's new UID; the store re-keys the row to the
destination at once (``store.mailbox.apply_moves``). After the fallback's EXPUNGE a
``UID SEARCH`` checks the source really let go: what is still there raises
:class:`MoveIncomplete` ("now in both folders"), after the store has learnt the copies.

A message already in the destination answers ``already_there`` (no command for it); an
id the store does not know, or the server no longer holds, ``not_found``; a message imported
from a local mailbox (no server UID), ``local_only`` (nothing to move on the server).
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import InvalidState
from ...mail.imap import (
    CommandFailed,
    CopyUid,
    StoreOp,
    SystemFlag,
    uid_copy,
    uid_expunge,
    uid_move,
    uid_present,
    uid_store,
)
from ...store import mailbox as store
from ...types import AccountId, ActionOutcome, ActionResult, MessageKey
from ..context import ServiceContext
from ._session import (
    MoveIncomplete,
    Session,
    by_folder,
    check_ids,
    local_only,
    open_session,
)

__all__ = ["archive", "delete", "move"]


def _can_move(s: Session) -> None:
    caps = s.client.capabilities
    if "MOVE" not in caps and "UIDPLUS" not in caps:
        raise InvalidState(
            "the server offers neither MOVE nor UIDPLUS: moving would need an EXPUNGE that "
            "also removes other messages marked \\Deleted",
            hint="this server cannot move messages safely; use its own client",
        )


def _same(a: str, b: str) -> bool:
    return a == b or (a.upper() == "INBOX" and b.upper() == "INBOX")


async def _move_from(
    s: Session, folder: str, dest: str, locs: list[store.Located]
) -> list[ActionResult]:
    sel = await s.select(folder)
    valid = [loc for loc in locs if loc.uidvalidity == sel.info.uidvalidity and loc.uid]
    caps = s.client.capabilities
    uids = [loc.uid for loc in valid if loc.uid]
    left: set[int] = set()
    cu: CopyUid | None = None
    if uids and {"MOVE", "UIDPLUS"} <= caps:
        # UID MOVE skips UIDs that are gone; COPYUID names the ones it moved, so no
        # UID SEARCH is needed first (RFC 4315 3: no COPYUID when nothing was copied).
        with s.errors(dest):
            cu = await uid_move(s.client, uids, dest)
        present = set(cu.mapping) if cu else set()
    elif uids:
        with s.errors(folder):
            present = await uid_present(s.client, uids)
        uids = [u for u in uids if u in present]
        if uids and "MOVE" in caps:
            with s.errors(dest):
                cu = await uid_move(s.client, uids, dest)
        elif uids:
            with s.errors(dest):
                cu = await uid_copy(s.client, uids, dest)
            with s.errors(folder):
                try:
                    await uid_store(s.client, uids, StoreOp.ADD, [SystemFlag.DELETED], silent=True)
                    await uid_expunge(s.client, uids)
                except CommandFailed:
                    pass  # a refused STORE or EXPUNGE: what the source still holds tells
                left = await uid_present(s.client, uids)
    else:
        present = set()
    moving = [loc for loc in valid if loc.uid in present]
    ids_moving = {loc.id for loc in moving}
    out = [
        ActionResult(loc.id, ActionOutcome.NOT_FOUND, folder, loc.uid)
        for loc in locs
        if loc.id not in ids_moving
    ]
    if not moving:
        return out
    uids = [loc.uid for loc in moving if loc.uid]
    moved = [loc for loc in moving if loc.uid not in left]
    store.apply_moves(s.ctx.db, s.acc.id, [_moved(loc, dest, cu) for loc in moved])
    if left:
        copied = {u: (cu.mapping.get(u) if cu else None) for u in sorted(left)}
        raise MoveIncomplete(
            f"{len(left)} of {len(uids)} messages were copied to {dest!r} but could not be "
            f"removed from {folder!r}: they are now in both folders",
            folder=folder,
            dest=dest,
            copied=copied,
        )
    for loc in moved:
        new_uid = cu.mapping.get(loc.uid) if cu and loc.uid else None
        out.append(ActionResult(loc.id, ActionOutcome.MOVED, dest, new_uid, loc.flags))
    return out


def _moved(loc: store.Located, dest: str, cu: CopyUid | None) -> store.Move:
    if cu is None or loc.uid is None:
        return store.Move(loc.id, dest, 0, None)
    return store.Move(loc.id, dest, cu.uidvalidity, cu.mapping.get(loc.uid))


async def _move_all(s: Session, wanted: list[int], dest: str) -> list[ActionResult]:
    located = store.locate(s.ctx.db, s.acc.id, wanted)
    found = local_only(located.values())
    for loc in located.values():
        if loc.id not in found and _same(loc.folder, dest):
            found[loc.id] = ActionResult(
                loc.id, ActionOutcome.ALREADY_THERE, loc.folder, loc.uid, loc.flags
            )
    groups = by_folder(v for v in located.values() if v.id not in found)
    if groups:
        _can_move(s)
    for folder, locs in groups.items():
        for r in await _move_from(s, folder, dest, locs):
            found[r.id] = r
    return [found.get(i) or ActionResult(i, ActionOutcome.NOT_FOUND) for i in wanted]


async def move(
    ctx: ServiceContext,
    account: AccountId,
    ids: Sequence[MessageKey],
    *,
    folder: str | None = None,
    role: str | None = None,
    session: Session | None = None,
) -> list[ActionResult]:
    """Move messages to a folder named or found by role (``"archive"``, ``"trash"``…).

    :raises InvalidArgument: no ids, over the bulk limit, folder and role both or neither,
        a bad folder name or role.
    :raises FolderNotFound: the destination does not exist, no folder has the role.
    :raises InvalidState: the server can do neither MOVE nor UIDPLUS.
    :raises MoveIncomplete: copied, but the source kept some (now in both folders).
    """
    acc = ctx.account(account)
    wanted = check_ids(ids, acc.actions.bulk_limit)
    configured = {"archive": acc.actions.archive_folder, "trash": acc.actions.trash_folder}
    async with open_session(ctx, account, session) as s:
        dest = await s.resolve(
            folder=folder, role=role, configured=configured.get((role or "").lower())
        )
        return await _move_all(s, wanted, dest)


async def archive(
    ctx: ServiceContext,
    account: AccountId,
    ids: Sequence[MessageKey],
    *,
    session: Session | None = None,
) -> list[ActionResult]:
    """Move to the archive: the configured folder, else SPECIAL-USE \\Archive.

    :raises FolderNotFound: neither is there (the hint says how to set one).
    """
    return await move(ctx, account, ids, role="archive", session=session)


async def delete(
    ctx: ServiceContext,
    account: AccountId,
    ids: Sequence[MessageKey],
    *,
    permanent: bool = False,
    session: Session | None = None,
) -> list[ActionResult]:
    """Move to Trash (configured, else \\Trash); ``permanent`` expunges exactly these UIDs.

    A message already in Trash answers ``already_there`` unless ``permanent``.

    :raises FolderNotFound: no Trash folder (not ``permanent``).
    :raises InvalidState: ``permanent`` on a server without UIDPLUS; the server kept some.
    """
    if not permanent:
        return await move(ctx, account, ids, role="trash", session=session)
    acc = ctx.account(account)
    wanted = check_ids(ids, acc.actions.bulk_limit)
    located = store.locate(ctx.db, account, wanted)
    found = local_only(located.values())
    groups = by_folder(located.values())
    if groups:
        async with open_session(ctx, account, session) as s:
            if "UIDPLUS" not in s.client.capabilities:
                raise InvalidState(
                    "the server lacks UIDPLUS: a permanent delete would need an EXPUNGE that "
                    "also removes other messages marked \\Deleted",
                    hint="move the messages to Trash instead (permanent: false)",
                )
            for folder, locs in groups.items():
                sel = await s.select(folder)
                valid = [x for x in locs if x.uidvalidity == sel.info.uidvalidity and x.uid]
                with s.errors(folder):
                    present = await uid_present(s.client, [x.uid for x in valid if x.uid])
                    uids = sorted(present)
                    left: set[int] = set()
                    if uids:
                        await uid_store(
                            s.client, uids, StoreOp.ADD, [SystemFlag.DELETED], silent=True
                        )
                        await uid_expunge(s.client, uids)
                        left = await uid_present(s.client, uids)
                removed = [x for x in valid if x.uid in present and x.uid not in left]
                removed_ids = {x.id for x in removed}
                store.delete_rows(ctx.db, account, [x.id for x in removed])
                if left:
                    raise InvalidState(
                        f"the server kept {len(left)} of {len(uids)} messages in {folder!r} "
                        "after UID EXPUNGE",
                        hint="the folder may be read-only for this user; check its ACL",
                    )
                for x in locs:
                    done = x.id in removed_ids
                    outcome = ActionOutcome.DELETED if done else ActionOutcome.NOT_FOUND
                    found[x.id] = ActionResult(x.id, outcome, None if done else folder)
    return [found.get(i) or ActionResult(i, ActionOutcome.NOT_FOUND) for i in wanted]
