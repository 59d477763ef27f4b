"""Folders: list (server or, network off, the store), create, rename, delete.

- ``folders``: LIST (with SPECIAL-USE roles) + pipelined STATUS, ``synced`` from the
  store's sync cursors; with the network off the store's folders (``source="local"``,
  counts of the stored rows).
- ``folder_create`` / ``folder_rename`` / ``folder_delete`` are idempotent: creating a
  folder that exists, or deleting one that does not, answers ok with ``changed`` False.
  Delete refuses a special-use folder and one holding messages unless ``force``; the store
  follows a rename (rows, sync cursors) and a delete (rows, cursor) at once.
"""

from __future__ import annotations

from ...errors import FolderNotFound, InvalidArgument, InvalidState
from ...mail.imap import (
    check_folder_name,
    create_folder,
    delete_folder,
    rename_folder,
    status_many,
)
from ...store import mailbox as store
from ...types import AccountId, FolderInfo, FolderList
from ..context import ServiceContext
from ._session import Session, open_session

__all__ = ["folder_create", "folder_delete", "folder_rename", "folders"]


async def _infos(s: Session, names: list[str] | None = None) -> list[FolderInfo]:
    entries = await s.entries(refresh=True)
    if names is not None:
        entries = [e for e in entries if e.name in names]
    selectable = [e.name for e in entries if e.selectable]
    with s.errors():
        counts = await status_many(s.client, selectable)
    synced = store.synced_folders(s.ctx.db, s.acc.id)
    out = []
    for e in entries:
        st = counts.get(e.name)
        out.append(
            FolderInfo(
                e.name,
                e.role,
                st.messages if st else 0,
                st.unseen if st else 0,
                e.name in synced,
            )
        )
    return out


async def folders(
    ctx: ServiceContext, account: AccountId, *, network: bool, session: Session | None = None
) -> FolderList:
    """The account's folders with roles and counts; from the store when ``network`` is off.

    :raises AccountNotFound, ConnectionFailed, AuthFailed, OperationTimeout, StorageError:
    """
    if not network:
        ctx.account(account)
        local = store.local_folders(ctx.db, account)
        return FolderList(
            tuple(
                FolderInfo(
                    f.name,
                    "inbox" if f.name.upper() == "INBOX" else None,
                    f.messages,
                    f.unseen,
                    f.synced,
                )
                for f in local
            ),
            source="local",
        )
    async with open_session(ctx, account, session) as s:
        return FolderList(tuple(await _infos(s)), source="server")


async def folder_create(
    ctx: ServiceContext, account: AccountId, name: str, *, session: Session | None = None
) -> tuple[FolderInfo, bool]:
    """CREATE ``name``; (the folder, whether it was created). Exists already → not created.

    :raises InvalidArgument: a name refused by ``check_folder_name``.
    """
    check_folder_name(name)
    async with open_session(ctx, account, session) as s:
        await s.entries(refresh=True)  # a shared session may have listed before a change
        existed = await s.entry(name) is not None
        if not existed:
            with s.errors():
                await create_folder(s.client, name)
        infos = await _infos(s, [name])
        if not infos:
            raise FolderNotFound(
                f"the server accepted CREATE {name!r} but does not list it",
                hint="the server may map the name; list the folders with email.folders",
            )
        return infos[0], not existed


async def folder_rename(
    ctx: ServiceContext,
    account: AccountId,
    old: str,
    new: str,
    *,
    session: Session | None = None,
) -> tuple[FolderInfo, bool]:
    """RENAME ``old`` to ``new``; (the folder, whether renamed). Already renamed → not renamed.

    :raises FolderNotFound: neither ``old`` nor ``new`` exists.
    :raises InvalidState: both exist, or ``old`` is INBOX.
    """
    check_folder_name(old)
    check_folder_name(new)
    if old.upper() == "INBOX":
        raise InvalidArgument("INBOX cannot be renamed here", hint="rename another folder")
    async with open_session(ctx, account, session) as s:
        await s.entries(refresh=True)
        src, dst = await s.entry(old), await s.entry(new)
        if src is None and dst is not None:
            renamed = False  # a repeated call: done already
        elif src is None:
            raise FolderNotFound(
                f"folder {old!r} does not exist on the server",
                hint="list the folders with email.folders",
            )
        elif dst is not None:
            raise InvalidState(
                f"folder {new!r} exists already", hint="choose another name or delete it first"
            )
        else:
            s.forget_selected()
            with s.errors(old):
                await rename_folder(s.client, old, new)
            store.rename_folder(ctx.db, account, old, new, src.delimiter)
            renamed = True
        infos = await _infos(s, [new])
        if not infos:
            raise FolderNotFound(f"folder {new!r} is not listed after RENAME")
        return infos[0], renamed


async def folder_delete(
    ctx: ServiceContext,
    account: AccountId,
    name: str,
    *,
    force: bool = False,
    session: Session | None = None,
) -> bool:
    """DELETE ``name``; whether it existed. Refuses special-use and non-empty folders.

    :raises InvalidState: a special-use folder or INBOX; messages in it and not ``force``.
    """
    check_folder_name(name)
    if name.upper() == "INBOX":
        raise InvalidState("INBOX cannot be deleted", hint="delete its messages instead")
    async with open_session(ctx, account, session) as s:
        await s.entries(refresh=True)
        entry = await s.entry(name)
        if entry is None:
            store.drop_folder(ctx.db, account, name)
            return False
        if entry.role is not None:
            raise InvalidState(
                f"folder {name!r} has the \\{entry.role.capitalize()} role and is not deleted",
                hint="special-use folders are kept; delete another folder",
            )
        if not force and entry.selectable:
            with s.errors(name):
                st = (await status_many(s.client, [name])).get(name)
            if st is not None and st.messages:
                raise InvalidState(
                    f"folder {name!r} holds {st.messages} messages",
                    hint='pass "force": true to delete it with its messages',
                )
        s.forget_selected()
        with s.errors(name):
            await delete_folder(s.client, name)
        store.drop_folder(ctx.db, account, name)
        return True
