"""Mailbox actions (issue 11) against real Dovecots; every test checks the server afterwards.

Three servers: one with special-use folders and the ACL plugin (``ACTIONS_CONF``), the same
without ``MOVE`` in its capabilities (the COPY + STORE + UID EXPUNGE fallback), and one
without ``MOVE`` and ``UIDPLUS`` (moves refused). The server's state is read over a
second, plain ``imaplib`` connection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import re
import shutil
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures.dovecot import (
    ACTIONS_CONF,
    PW_ENV,
    DovecotServer,
    account,
    capabilities_without,
    start_dovecot,
)
from helpers.mailbox import admin, server_flags, server_folders, server_subjects
from prx_email.auth.credentials import StaticCredentialProvider
from prx_email.config.model import AccountConfig, ActionSettings, AttachmentPolicy, Config
from prx_email.errors import (
    AccountNotFound,
    AttachmentRejected,
    FolderNotFound,
    InvalidArgument,
    InvalidState,
    NetworkDisabled,
)
from prx_email.mail.imap import ImapClient
from prx_email.services import actions
from prx_email.services import sync as sync_service
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.types import ActionOutcome, SyncRequest

pytestmark = pytest.mark.integration

_n = itertools.count()
Factory = Callable[..., ServiceContext]


def _start(tmp: pytest.TempPathFactory, name: str, extra: str) -> Iterator[DovecotServer]:
    server = start_dovecot(tmp.mktemp(name), extra)
    try:
        yield server
    finally:
        server.stop()
        if server.root.name.startswith("prx-dovecot-"):
            shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="module")
def dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    yield from _start(tmp_path_factory, "dc-actions", ACTIONS_CONF)


@pytest.fixture(scope="module")
def dc_nomove(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    yield from _start(tmp_path_factory, "dc-nomove", ACTIONS_CONF + capabilities_without("MOVE"))


@pytest.fixture(scope="module")
def dc_bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    extra = ACTIONS_CONF + capabilities_without("MOVE", "UIDPLUS")
    yield from _start(tmp_path_factory, "dc-bare", extra)


@pytest.fixture
def mk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Factory]:
    dbs: list[Database] = []

    def make(
        server: DovecotServer,
        *,
        actions_cfg: ActionSettings | None = None,
        policy: AttachmentPolicy | None = None,
    ) -> ServiceContext:
        monkeypatch.setenv(PW_ENV, server.password)
        acc: AccountConfig = account(server)
        if actions_cfg is not None:
            acc = AccountConfig(
                id=acc.id,
                name=acc.name,
                address=acc.address,
                imap=acc.imap,
                sync=acc.sync,
                actions=actions_cfg,
            )
        db = Database(tmp_path / f"mail{next(_n)}.db")
        dbs.append(db)
        pol = policy or AttachmentPolicy(root=tmp_path / "att", download_dir=tmp_path / "dl")
        cfg = Config(accounts=(acc,), attachments=pol)
        return ServiceContext(config=cfg, db=db, credentials=StaticCredentialProvider())

    yield make
    for db in dbs:
        db.close()


def folder_name(prefix: str = "A") -> str:
    return f"{prefix}{next(_n)}"


def msg(i: int, *, subject: str | None = None, **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = f"Sender {i} <s{i}@example.org>"
    m["To"] = "alice@example.org"
    m["Subject"] = subject or f"Action test {i}"
    m["Message-ID"] = headers.pop("message_id", f"<act{i}.{next(_n)}@example.org>")
    m["Date"] = f"Mon, {1 + i % 28:02d} Jan 2024 10:00:00 +0000"
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(f"Body of message {i}.\n")
    return bytes(m)


async def seed(
    ctx: ServiceContext, server: DovecotServer, folder: str, raws: list[bytes]
) -> list[int]:
    """Put messages in ``folder`` and sync it: their store ids, in UID order."""
    server.add_messages(raws, folder)
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    rows = ctx.db.connect().execute(
        "SELECT id FROM messages WHERE folder = ? ORDER BY uid", (folder,)
    )
    return [int(r[0]) for r in rows]


def stored(ctx: ServiceContext, folder: str) -> dict[int, tuple[int, int, str]]:
    """id → (uidvalidity, uid, flags) of the store's rows of ``folder``."""
    rows = ctx.db.connect().execute(
        "SELECT id, uidvalidity, uid, flags FROM messages WHERE folder = ?", (folder,)
    )
    return {int(r[0]): (int(r[1]), int(r[2]), r[3]) for r in rows}


def uidvalidity(server: DovecotServer, folder: str) -> int:
    m = admin(server)
    try:
        _, data = m.status(f'"{folder}"', "(UIDVALIDITY)")
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))  # type: ignore[union-attr,arg-type]
    finally:
        m.logout()


# -- folders ---------------------------------------------------------------------------------


async def test_folders_lists_special_use_roles_counts_and_synced(dc, mk) -> None:
    ctx = mk(dc)
    f = folder_name()
    ids = await seed(ctx, dc, f, [msg(i) for i in range(3)])
    await actions.mark(ctx, 1, ids[:1], add=["seen"])
    listed = await actions.folders(ctx, 1, network=True)
    assert listed.source == "server"
    by = {x.name: x for x in listed.folders}
    assert by["Trash"].role == "trash" and by["Archive"].role == "archive"
    assert by["Sent"].role == "sent" and by["Junk"].role == "junk"
    assert by["INBOX"].role == "inbox"
    assert (by[f].messages, by[f].unseen, by[f].synced, by[f].role) == (3, 2, True, None)
    assert by["Trash"].synced is False
    local = await actions.folders(ctx, 1, network=False)
    assert local.source == "local"
    assert [(x.name, x.messages, x.unseen, x.synced) for x in local.folders] == [(f, 3, 2, True)]


async def test_folder_create_rename_delete_on_the_server(dc, mk) -> None:
    ctx = mk(dc)
    name = folder_name("Proj")
    info, created = await actions.folder_create(ctx, 1, name)
    assert created and info.name == name and info.messages == 0
    assert name in server_folders(dc)
    _, again = await actions.folder_create(ctx, 1, name)  # idempotent
    assert again is False
    ids = await seed(ctx, dc, name, [msg(1), msg(2)])
    new = folder_name("Renamed")
    info, renamed = await actions.folder_rename(ctx, 1, name, new)
    assert renamed and info.messages == 2
    assert new in server_folders(dc) and name not in server_folders(dc)
    assert set(stored(ctx, new)) == set(ids) and not stored(ctx, name)  # the store followed
    _, renamed_again = await actions.folder_rename(ctx, 1, name, new)
    assert renamed_again is False
    with pytest.raises(InvalidState, match="holds 2 messages") as exc:
        await actions.folder_delete(ctx, 1, new)
    assert exc.value.hint and "force" in exc.value.hint
    assert new in server_folders(dc)
    assert await actions.folder_delete(ctx, 1, new, force=True) is True
    assert new not in server_folders(dc) and not stored(ctx, new)
    assert await actions.folder_delete(ctx, 1, new) is False  # gone already: ok, nothing
    with pytest.raises(InvalidState, match="Trash"):
        await actions.folder_delete(ctx, 1, "Trash", force=True)
    assert "Trash" in server_folders(dc)


@pytest.mark.parametrize(
    "bad",
    ['x"\r\nA1 DELETE INBOX', "a*", "b%", 'q"uote', "back\\slash", "", "line\nbreak"],
)
async def test_folder_name_injection_refused_and_server_unchanged(dc, mk, bad) -> None:
    ctx = mk(dc)
    before = server_folders(dc)
    with pytest.raises(InvalidArgument) as exc:
        await actions.folder_create(ctx, 1, bad)
    assert exc.value.hint
    with pytest.raises(InvalidArgument):
        await actions.folder_delete(ctx, 1, bad, force=True)
    with pytest.raises(InvalidArgument):
        await actions.folder_rename(ctx, 1, "INBOX.x", bad)
    f = folder_name()
    ids = await seed(ctx, dc, f, [msg(1)])
    with pytest.raises(InvalidArgument):
        await actions.move(ctx, 1, ids, folder=bad)
    assert server_folders(dc) == before | {f}
    assert len(server_flags(dc, f)) == 1 and set(stored(ctx, f)) == set(ids)


# -- flags -----------------------------------------------------------------------------------


async def test_mark_system_flags_and_keywords_one_store_per_folder(dc, mk, monkeypatch) -> None:
    ctx = mk(dc)
    f = folder_name()
    ids = await seed(ctx, dc, f, [msg(i) for i in range(4)])
    sent: list[bytes] = []
    real = ImapClient.send

    async def spy(self, pieces, **kw):  # type: ignore[no-untyped-def]
        sent.append(b" ".join(p if isinstance(p, bytes) else b"{lit}" for p in pieces))
        return await real(self, pieces, **kw)

    monkeypatch.setattr(ImapClient, "send", spy)
    res = await actions.mark(ctx, 1, ids, add=["seen", "flagged", "Project-X"])
    assert [r.outcome for r in res] == [ActionOutcome.CHANGED] * 4
    stores = [c for c in sent if c.startswith(b"UID STORE")]
    assert len(stores) == 1 and b"(\\Seen \\Flagged Project-X)" in stores[0]
    flags = server_flags(dc, f)
    assert all({"\\Seen", "\\Flagged", "Project-X"} <= v for v in flags.values())
    assert all("\\Seen" in row[2] for row in stored(ctx, f).values())  # store at once
    sent.clear()
    again = await actions.mark(ctx, 1, ids, add=["seen", "Project-X"])
    assert [r.outcome for r in again] == [ActionOutcome.UNCHANGED] * 4
    assert not [c for c in sent if c.startswith(b"UID STORE")]  # nothing to change: no STORE
    res = await actions.mark(ctx, 1, ids[:2], remove=["seen", "project-x"])
    assert [r.outcome for r in res] == [ActionOutcome.CHANGED] * 2
    flags = server_flags(dc, f)
    uids = sorted(flags)
    assert "\\Seen" not in flags[uids[0]] and "Project-X" not in flags[uids[0]]
    assert "\\Seen" in flags[uids[3]]
    missing = await actions.mark(ctx, 1, [999_999], add=["seen"])
    assert missing[0].outcome is ActionOutcome.NOT_FOUND


@pytest.mark.parametrize("bad", ["two words", "a(b", "x\r\nA1 EXPUNGE", "*", "%", "q]", "\\Bogus"])
async def test_keyword_injection_refused_and_flags_unchanged(dc, mk, bad) -> None:
    ctx = mk(dc)
    f = folder_name()
    ids = await seed(ctx, dc, f, [msg(1)])
    before = server_flags(dc, f)
    with pytest.raises(InvalidArgument) as exc:
        await actions.mark(ctx, 1, ids, add=[bad])
    assert exc.value.hint
    assert server_flags(dc, f) == before


async def test_bulk_limit(dc, mk) -> None:
    ctx = mk(dc, actions_cfg=ActionSettings(bulk_limit=5))
    with pytest.raises(InvalidArgument, match="over the limit of 5"):
        await actions.mark(ctx, 1, list(range(1, 7)), add=["seen"])


# -- moves -----------------------------------------------------------------------------------


async def _check_moved(ctx, server, src, dest, ids, res) -> None:
    assert [r.outcome for r in res] == [ActionOutcome.MOVED] * len(ids)
    assert server_flags(server, src) == {}
    on_server = server_subjects(server, dest)
    assert len(on_server) == len(ids)
    rows = stored(ctx, dest)
    assert set(rows) == set(ids) and not stored(ctx, src)  # same ids, re-keyed at once
    uv = uidvalidity(server, dest)
    assert {(v[0], v[1]) for v in rows.values()} == {(uv, u) for u in on_server}
    assert {r.uid for r in res} == set(on_server) and {r.folder for r in res} == {dest}


async def test_move_uses_uid_move_and_rekeys_the_store(dc, mk, monkeypatch) -> None:
    ctx = mk(dc)
    src, dest = folder_name("Src"), folder_name("Dst")
    dc.create_folder(dest)
    ids = await seed(ctx, dc, src, [msg(i) for i in range(5)])
    sent: list[bytes] = []
    real = ImapClient.send

    async def spy(self, pieces, **kw):  # type: ignore[no-untyped-def]
        sent.append(b" ".join(p for p in pieces if isinstance(p, bytes)))
        return await real(self, pieces, **kw)

    monkeypatch.setattr(ImapClient, "send", spy)
    res = await actions.move(ctx, 1, ids, folder=dest)
    assert len([c for c in sent if c.startswith(b"UID MOVE")]) == 1
    assert not [c for c in sent if b"EXPUNGE" in c]
    await _check_moved(ctx, dc, src, dest, ids, res)
    again = await actions.move(ctx, 1, ids, folder=dest)
    assert [r.outcome for r in again] == [ActionOutcome.ALREADY_THERE] * 5
    # Syncs of both folders afterwards neither duplicate nor lose the rows.
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=dest))
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=src))
    assert set(stored(ctx, dest)) == set(ids) and not stored(ctx, src)


async def test_move_fallback_copy_store_uid_expunge_leaves_other_deleted(dc_nomove, mk) -> None:
    ctx = mk(dc_nomove)
    src, dest = folder_name("Src"), folder_name("Dst")
    dc_nomove.create_folder(dest)
    ids = await seed(ctx, dc_nomove, src, [msg(i) for i in range(4)])
    # Someone else marked the last message \Deleted: a bare EXPUNGE would remove it too.
    m = admin(dc_nomove)
    m.select(f'"{src}"')
    m.uid("STORE", "4", "+FLAGS.SILENT", r"(\Deleted)")
    m.logout()
    res = await actions.move(ctx, 1, ids[:3], folder=dest)
    assert [r.outcome for r in res] == [ActionOutcome.MOVED] * 3
    left = server_flags(dc_nomove, src)
    assert list(left) == [4] and "\\Deleted" in left[4]  # exactly those UIDs expunged
    on_server = server_subjects(dc_nomove, dest)
    assert len(on_server) == 3 and "\\Deleted" not in set().union(
        *server_flags(dc_nomove, dest).values()
    )
    rows = stored(ctx, dest)
    assert set(rows) == set(ids[:3]) and {v[1] for v in rows.values()} == set(on_server)


async def test_move_refused_without_move_or_uidplus_and_nothing_changed(dc_bare, mk) -> None:
    ctx = mk(dc_bare)
    src, dest = folder_name("Src"), folder_name("Dst")
    dc_bare.create_folder(dest)
    ids = await seed(ctx, dc_bare, src, [msg(1), msg(2)])
    before = server_flags(dc_bare, src)
    with pytest.raises(InvalidState, match="neither MOVE nor UIDPLUS") as exc:
        await actions.move(ctx, 1, ids, folder=dest)
    assert exc.value.hint
    with pytest.raises(InvalidState, match="UIDPLUS"):
        await actions.delete(ctx, 1, ids, permanent=True)
    assert server_flags(dc_bare, src) == before and server_flags(dc_bare, dest) == {}
    assert set(stored(ctx, src)) == set(ids)


async def test_copy_ok_but_delete_refused_says_now_in_both_folders(dc_nomove, mk) -> None:
    ctx = mk(dc_nomove)
    src, dest = folder_name("Ro"), folder_name("Dst")
    dc_nomove.create_folder(dest)
    ids = await seed(ctx, dc_nomove, src, [msg(1), msg(2)])
    # Take away the rights to flag \Deleted (t) and to expunge (e) in the source.
    acl = dc_nomove.folder_dir(src) / "dovecot-acl"
    acl.write_text("owner lrwsik\n")
    dc_nomove._chown_tree(acl.parent)
    with pytest.raises(InvalidState, match="now in both folders") as exc:
        await actions.move(ctx, 1, ids, folder=dest)
    assert isinstance(exc.value, actions.MoveIncomplete)
    assert exc.value.hint and "both" in exc.value.hint
    assert len(server_flags(dc_nomove, src)) == 2  # still there
    assert len(server_flags(dc_nomove, dest)) == 2  # and copied
    assert set(stored(ctx, src)) == set(ids)  # the store keeps what the source still holds
    acl.unlink()


async def test_archive_delete_trash_and_permanent(dc, mk) -> None:
    ctx = mk(dc)
    f = folder_name()
    ids = await seed(ctx, dc, f, [msg(i) for i in range(4)])
    arch = await actions.archive(ctx, 1, ids[:1])
    assert arch[0].outcome is ActionOutcome.MOVED and arch[0].folder == "Archive"
    trashed = await actions.delete(ctx, 1, ids[1:2])
    assert trashed[0].outcome is ActionOutcome.MOVED and trashed[0].folder == "Trash"
    again = await actions.delete(ctx, 1, ids[1:2])
    assert again[0].outcome is ActionOutcome.ALREADY_THERE
    gone = await actions.delete(ctx, 1, ids[2:], permanent=True)
    assert [r.outcome for r in gone] == [ActionOutcome.DELETED] * 2
    assert server_flags(dc, f) == {}  # moved or expunged: nothing left
    assert arch[0].uid in server_flags(dc, "Archive")
    assert trashed[0].uid in server_flags(dc, "Trash")
    assert not stored(ctx, f)
    repeat = await actions.delete(ctx, 1, ids[2:], permanent=True)
    assert [r.outcome for r in repeat] == [ActionOutcome.NOT_FOUND] * 2


async def test_archive_without_archive_folder_is_folder_not_found_with_hint(dovecot, mk) -> None:
    ctx = mk(dovecot)  # the plain fixture: no special-use folders
    f = folder_name()
    ids = await seed(ctx, dovecot, f, [msg(1)])
    with pytest.raises(FolderNotFound) as exc:
        await actions.archive(ctx, 1, ids)
    assert exc.value.hint and "archive_folder" in exc.value.hint
    assert len(server_flags(dovecot, f)) == 1
    # configured archive folder wins
    mine = folder_name("MyArchive")
    dovecot.create_folder(mine)
    ctx2 = mk(dovecot, actions_cfg=ActionSettings(archive_folder=mine))
    ids2 = await seed(ctx2, dovecot, f, [])
    res = await actions.archive(ctx2, 1, ids2)
    assert res[0].folder == mine and len(server_flags(dovecot, mine)) == 1


async def test_move_to_missing_folder_is_folder_not_found(dc, mk) -> None:
    ctx = mk(dc)
    f = folder_name()
    ids = await seed(ctx, dc, f, [msg(1)])
    with pytest.raises(FolderNotFound):
        await actions.move(ctx, 1, ids, folder=folder_name("Nope"))
    assert len(server_flags(dc, f)) == 1 and set(stored(ctx, f)) == set(ids)


async def test_sync_running_concurrently_with_a_move(dc, mk) -> None:
    ctx = mk(dc)
    src, dest = folder_name("Src"), folder_name("Dst")
    dest_ids = await seed(ctx, dc, dest, [msg(100 + i) for i in range(3)])
    ids = await seed(ctx, dc, src, [msg(i) for i in range(30)])
    dc.add_messages([msg(200 + i) for i in range(20)], src)  # new mail for the sync to fetch
    moved, *_ = await asyncio.gather(
        actions.move(ctx, 1, ids, folder=dest),
        sync_service.sync(ctx, SyncRequest(account_id=1, folder=dest)),
        sync_service.sync(ctx, SyncRequest(account_id=1, folder=src)),
    )
    assert [r.outcome for r in moved] == [ActionOutcome.MOVED] * 30
    for folder in (src, dest, src, dest):
        await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    rows_dest, rows_src = stored(ctx, dest), stored(ctx, src)
    assert len(server_flags(dc, dest)) == 33 and len(rows_dest) == 33  # no duplicate
    assert len(server_flags(dc, src)) == 20 and len(rows_src) == 20  # none lost
    assert set(dest_ids) | set(ids) == set(rows_dest)  # the moved rows kept their ids
    assert {v[1] for v in rows_dest.values()} == set(server_flags(dc, dest))


async def test_bulk_move_in_one_command_per_folder(dc, mk, monkeypatch) -> None:
    ctx = mk(dc)
    a, b, dest = folder_name("A"), folder_name("B"), folder_name("Dst")
    dc.create_folder(dest)
    ids = await seed(ctx, dc, a, [msg(i) for i in range(60)])
    ids += await seed(ctx, dc, b, [msg(i) for i in range(39)])  # + one unknown id: 100
    moves: list[bytes] = []
    real = ImapClient.send

    async def spy(self, pieces, **kw):  # type: ignore[no-untyped-def]
        if pieces[:2] == [b"UID", b"MOVE"]:
            moves.append(pieces[2])
        return await real(self, pieces, **kw)

    monkeypatch.setattr(ImapClient, "send", spy)
    res = await actions.move(ctx, 1, [*ids, 777_777], folder=dest)
    assert len(moves) == 2  # one per source folder, UID sets
    assert [r.outcome for r in res[:-1]] == [ActionOutcome.MOVED] * 99
    assert res[-1].outcome is ActionOutcome.NOT_FOUND
    assert len(server_flags(dc, dest)) == 99


# -- labels on Dovecot: keywords -------------------------------------------------------------


async def test_label_falls_back_to_keywords(dc, mk) -> None:
    ctx = mk(dc)
    f = folder_name()
    ids = await seed(ctx, dc, f, [msg(1)])
    res = await actions.label(ctx, 1, ids, add=["Receipts"])
    assert res[0].outcome is ActionOutcome.CHANGED and res[0].labels == ("Receipts",)
    assert "Receipts" in next(iter(server_flags(dc, f).values()))
    with pytest.raises(InvalidArgument):
        await actions.label(ctx, 1, ids, add=["two words"])  # no keyword can hold a space


# -- threads and get_many --------------------------------------------------------------------


async def test_thread_and_get_many(dc, mk) -> None:
    ctx = mk(dc)
    f = folder_name()
    root = f"<root.{next(_n)}@example.org>"
    r1 = f"<r1.{next(_n)}@example.org>"
    raws = [
        msg(1, subject="Plans", message_id=root),
        msg(2, subject="Re: Plans", message_id=r1, In_Reply_To=root, References=root),
        msg(3, subject="Re: Re: Plans", In_Reply_To=r1, References=f"{root} {r1}"),
        msg(4, subject="Unrelated"),
    ]
    ids = await seed(ctx, dc, f, raws)
    t = actions.thread(ctx, 1, ids[2])
    assert t.thread_id == root
    assert [m.id for m in t.messages] == ids[:3]  # oldest first
    assert actions.thread(ctx, 1, ids[0]).thread_id == root  # stable from the root too
    assert [m.id for m in actions.thread(ctx, 1, ids[3]).messages] == [ids[3]]
    many = actions.get_many(ctx, 1, [ids[1], 123_456, ids[0]])
    assert many[0] is not None and many[0].summary.subject == "Re: Plans"
    assert many[1] is None and many[2] is not None and many[2].body_text
    with pytest.raises(InvalidArgument):
        actions.get_many(ctx, 1, list(range(1, 22)))


# -- attachments -----------------------------------------------------------------------------


def with_attachment(i: int, data: bytes, filename: str) -> bytes:
    m = EmailMessage()
    m["From"] = "a@example.org"
    m["To"] = "alice@example.org"
    m["Subject"] = f"Attachment {i}"
    m["Message-ID"] = f"<att{i}.{next(_n)}@example.org>"
    m.set_content("see attached\n")
    m.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return bytes(m)


async def test_attachment_over_the_sync_cap_fetched_by_bodypart(dc, mk, tmp_path) -> None:
    big = bytes(range(256)) * 800  # 200 KiB, over the 1 KiB cap below: not kept at sync
    small = b"%PDF-1.4 small"
    dl = tmp_path / "downloads"
    pol = AttachmentPolicy(
        root=tmp_path / "att", max_bytes=1024, download_dir=dl, inline_max_bytes=4096
    )
    ctx = mk(dc, policy=pol)
    f = folder_name()
    ids = await seed(
        ctx,
        dc,
        f,
        [
            with_attachment(1, big, "../../etc/passwd report.pdf"),
            with_attachment(2, small, "s.pdf"),
        ],
    )
    with pytest.raises(NetworkDisabled):
        await actions.attachment(ctx, 1, ids[0], 0, network=False)
    got = await actions.attachment(ctx, 1, ids[0], 0, network=True)
    assert got.fetched_from_server and got.size == len(big)
    assert got.sha256 == hashlib.sha256(big).hexdigest()
    assert got.path is not None
    path = Path(got.path)
    assert path.parent == dl and path.read_bytes() == big
    assert path.name == f"{ids[0]}-0-passwd report.pdf"
    assert all("\\Seen" not in v for v in server_flags(dc, f).values())  # BODY.PEEK
    inline = await actions.attachment(ctx, 1, ids[1], 0, inline=True, network=False)
    assert inline.path is None and inline.data_base64 and not inline.fetched_from_server
    assert base64.b64decode(inline.data_base64) == small
    with pytest.raises(InvalidArgument):
        await actions.attachment(ctx, 1, ids[1], 5, network=False)
    no_dir = mk(
        dc, policy=AttachmentPolicy(root=tmp_path / "att", max_bytes=1024, inline_max_bytes=4096)
    )
    no_dir_ids = await seed(no_dir, dc, f, [])
    with pytest.raises(AttachmentRejected) as exc:
        await actions.attachment(no_dir, 1, no_dir_ids[0], 0, network=True)
    assert exc.value.hint and "download_dir" in exc.value.hint


async def test_one_session_for_several_calls_and_messages_gone_from_the_server(
    dc, mk, monkeypatch
) -> None:
    ctx = mk(dc)
    src, dest = folder_name("Src"), folder_name("Dst")
    dc.create_folder(dest)
    ids = await seed(ctx, dc, src, [msg(i) for i in range(4)])
    m = admin(dc)  # another client expunges the first message behind the store's back
    m.select(f'"{src}"')
    m.uid("STORE", "1", "+FLAGS.SILENT", r"(\Deleted)")
    m.expunge()
    m.logout()
    logins: list[bytes] = []
    real = ImapClient.send

    async def spy(self, pieces, **kw):  # type: ignore[no-untyped-def]
        if pieces and pieces[0] == b"LOGIN":
            logins.append(pieces[0])
        return await real(self, pieces, **kw)

    monkeypatch.setattr(ImapClient, "send", spy)
    async with actions.open_session(ctx, 1) as s:
        res = await actions.move(ctx, 1, ids[:2], folder=dest, session=s)
        assert [r.outcome for r in res] == [ActionOutcome.NOT_FOUND, ActionOutcome.MOVED]
        marked = await actions.mark(ctx, 1, ids[2:], add=["flagged"], session=s)
        assert [r.outcome for r in marked] == [ActionOutcome.CHANGED] * 2
        res = await actions.move(ctx, 1, ids[2:], folder=dest, session=s)
        assert [r.outcome for r in res] == [ActionOutcome.MOVED] * 2
        with pytest.raises(AccountNotFound):
            await actions.mark(ctx, 2, ids, add=["seen"], session=s)
    assert len(logins) == 1
    assert server_flags(dc, src) == {}
    moved = server_flags(dc, dest)
    assert len(moved) == 3 and sum("\\Flagged" in f for f in moved.values()) == 2
