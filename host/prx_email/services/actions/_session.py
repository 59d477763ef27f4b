"""One IMAP session per action call: folder resolution, grouping ids by folder.

Every service of this package takes one :class:`Session` (:func:`open_session`: the
caller's, one leased from the context's pool, or its own connection), does its work with one
command per folder (UID sets), and gives it back. Library failures leave as our errors
(``mail.errors.map_imap_errors``); a NO on a command naming a folder that does not exist
becomes :class:`~prx_email.errors.FolderNotFound`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from ...config.model import AccountConfig
from ...errors import FolderNotFound, InvalidArgument
from ...errors import MoveIncomplete as _MoveIncomplete
from ...mail.errors import map_imap_errors
from ...mail.imap import (
    CommandFailed,
    ImapClient,
    ListEntry,
    SelectedFolder,
    check_folder_name,
    list_entries,
    select_folder,
)
from ...store.mailbox import Located
from ...types import AccountId, ActionOutcome, ActionResult, MessageKey
from .. import mailbox
from ..context import ServiceContext
from ..sync import open_imap
from ._pool import SessionPool

__all__ = [
    "ROLES",
    "MoveIncomplete",
    "Session",
    "by_folder",
    "check_ids",
    "local_only",
    "open_session",
]

#: Roles an agent may name (RFC 6154 attributes, lower case), plus ``inbox``.
ROLES = ("inbox", "all", "archive", "drafts", "flagged", "junk", "sent", "trash")


class MoveIncomplete(_MoveIncomplete):
    """The copy to the destination succeeded but the source could not be removed.

    Answers ``EMAIL_MOVE_INCOMPLETE`` (an ``InvalidState`` subclass, see ``errors``).
    ``copied`` maps each affected source UID to its new UID (None when not reported).
    """

    def __init__(
        self, message: str, *, folder: str, dest: str, copied: dict[int, int | None]
    ) -> None:
        super().__init__(
            message,
            hint=f"the messages are now in both {folder!r} and {dest!r}; delete them from "
            f"{folder!r} (email.delete with permanent) or check the folder's permissions",
        )
        self.folder = folder
        self.dest = dest
        self.copied = copied


#: Where the bulk limit is set, named in the over-the-limit hint.
BULK_SETTING = "the account's actions.bulk_limit"


def check_ids(
    ids: Sequence[MessageKey], limit: int, what: str = "ids", setting: str = BULK_SETTING
) -> list[MessageKey]:
    """Distinct ids in the order given (``services.mailbox.check_ids``; the bulk hint).

    :raises InvalidArgument: none, or over ``limit``.
    """
    return mailbox.check_ids(ids, limit, what, setting)


def by_folder(located: Iterable[Located]) -> dict[str, list[Located]]:
    """Server messages grouped by stored folder (imported ones, without UID, left out)."""
    groups: dict[str, list[Located]] = {}
    for loc in located:
        if loc.uid is not None:
            groups.setdefault(loc.folder, []).append(loc)
    return groups


def local_only(located: Iterable[Located]) -> dict[MessageKey, ActionResult]:
    """``local_only`` results for the imported messages (no UID): nothing to ask the server."""
    return {
        loc.id: ActionResult(loc.id, ActionOutcome.LOCAL_ONLY, loc.folder, None, loc.flags)
        for loc in located
        if loc.uid is None
    }


@dataclass(slots=True)
class Session:
    """A logged-in connection for one account, and what it learnt (folder list)."""

    ctx: ServiceContext
    acc: AccountConfig
    client: ImapClient
    _entries: list[ListEntry] | None = field(default=None)
    _selected: SelectedFolder | None = field(default=None)

    @contextmanager
    def errors(self, folder: str | None = None) -> Iterator[None]:
        assert self.acc.imap is not None
        with map_imap_errors(self.acc.imap.host, self.acc.imap.port, folder=folder):
            try:
                yield
            except CommandFailed as exc:
                if folder is not None and exc.tagged.code in ("NONEXISTENT", "TRYCREATE"):
                    raise FolderNotFound(
                        f"folder {folder!r} does not exist on the server",
                        hint="list the folders with email.folders, or create it with "
                        "email.folder_create",
                    ) from exc
                raise

    async def entries(self, *, refresh: bool = False) -> list[ListEntry]:
        if self._entries is None or refresh:
            with self.errors():
                self._entries = await list_entries(self.client)
        return self._entries

    async def entry(self, name: str) -> ListEntry | None:
        for e in await self.entries():
            if e.name == name or (name.upper() == "INBOX" and e.name.upper() == "INBOX"):
                return e
        return None

    async def by_role(self, role: str) -> str | None:
        for e in await self.entries():
            if e.role == role and e.selectable:
                return e.name
        return None

    async def resolve(
        self, *, folder: str | None = None, role: str | None = None, configured: str | None = None
    ) -> str:
        """A destination folder: by name, else the configured one, else by role.

        :raises InvalidArgument: neither or both given, an unknown role, a bad name.
        :raises FolderNotFound: no folder has that role.
        """
        if (folder is None) == (role is None):
            raise InvalidArgument(
                "name a folder or a role, not both and not neither",
                hint='e.g. {"folder": "Projects"} or {"role": "archive"}',
            )
        if folder is not None:
            return check_folder_name(folder)
        assert role is not None
        role = role.lower().lstrip("\\")
        if role not in ROLES:
            raise InvalidArgument(
                f"unknown folder role {role!r}", hint="roles: " + ", ".join(ROLES)
            )
        if configured:
            return check_folder_name(configured)
        if role == "inbox":
            return "INBOX"
        found = await self.by_role(role)
        if found is None:
            key = {"archive": "archive_folder", "trash": "trash_folder"}.get(role)
            where = f"set {key} in the account's [accounts.actions] table, or " if key else ""
            raise FolderNotFound(
                f"the server has no folder with the \\{role.capitalize()} role",
                hint=f"{where}create the folder and give it the role on the server, "
                "or name the folder explicitly",
            )
        return found

    async def select(self, folder: str) -> SelectedFolder:
        """SELECT (read-write), unless this session has the folder selected already."""
        sel = self._selected
        if sel is not None and sel.name == folder and self.client.selected == folder:
            return sel
        self._selected = None
        with self.errors(folder):
            self._selected = await select_folder(self.client, folder)
        return self._selected

    def forget_selected(self) -> None:
        """After EXAMINE, RENAME or DELETE: the next :meth:`select` selects again."""
        self._selected = None

    def forget_folders(self) -> None:
        """The next :meth:`entries` lists the folders again (a session reused later)."""
        self._entries = None


@asynccontextmanager
async def open_session(
    ctx: ServiceContext, account: AccountId, session: Session | None = None
) -> AsyncIterator[Session]:
    """A connection for one action call, logged out however the block ends.

    Given an open ``session`` (of the same account), that one is used and left open: a
    caller running several actions in a row (a batch of bulk calls, an agent's turn)
    pays for connect, TLS and login once. Open one with ``async with open_session(ctx,
    account) as s`` and pass ``session=s`` to the services.

    Without one, a context that has a :class:`~._pool.SessionPool` (``ctx.imap_sessions``,
    the façade's) leases a kept session, returned after the block if still sound; without a
    pool the connection is the block's own.

    :raises InvalidArgument: ``session`` belongs to another account.
    """
    if session is not None:
        if session.acc.id != account:
            raise InvalidArgument(
                f"the session is for account {session.acc.id}, not {account}",
                hint="open one session per account",
            )
        yield session
        return
    acc = ctx.account(account)
    pool = ctx.imap_sessions
    if isinstance(pool, SessionPool):
        async with pool.lease(ctx, acc) as leased:
            yield leased
        return
    client = await open_imap(ctx, acc)
    try:
        yield Session(ctx, acc, client)
    finally:
        await client.logout()
