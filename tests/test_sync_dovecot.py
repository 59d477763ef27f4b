"""Sync against a real Dovecot: TLS modes, batches, UIDVALIDITY, flags, expunges, limits, errors."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from fixtures.dovecot import PW_ENV, free_port
from helpers.imap import imap_admin, make_msg, new_folder
from prx_email.config.model import (
    TlsMode,
)
from prx_email.errors import (
    AuthFailed,
    ConnectionFailed,
    FolderNotFound,
    OperationTimeout,
    TlsFailed,
)
from prx_email.services import mailbox
from prx_email.services import sync as sync_service
from prx_email.services.context import ServiceContext
from prx_email.store.sync_state import get_state
from prx_email.types import ListQuery, SearchQuery, SyncRequest

pytestmark = pytest.mark.integration


def stored(ctx: ServiceContext, folder: str) -> list:
    page = mailbox.list_messages(ctx.db, ListQuery(account_id=1, folder=folder, limit=500))
    return list(page.messages)


async def test_implicit_tls_first_sync_and_no_change_resync(dovecot, make_ctx) -> None:
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(120)), folder)
    ctx = make_ctx(batch_size=25)
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 120 and not rep.folders[0].more_pending
    rows = stored(ctx, folder)
    assert len(rows) == 120
    assert {r.subject for r in rows} == {f"Message number {i}" for i in range(120)}
    assert all(r.uid for r in rows) and len({r.uid for r in rows}) == 120
    state = get_state(ctx.db.connect(), 1, folder)
    assert state is not None and state.last_uid == 120 and state.uidnext == 121
    # second run: nothing to do
    rep2 = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep2.folders[0].fetched == 0 and rep2.folders[0].flags_updated == 0
    assert len(stored(ctx, folder)) == 120
    # and it is searchable at once
    found = mailbox.search_local(ctx.db, SearchQuery(account_id=1, text="number", folder=folder))
    assert len(found.messages) == 50


async def test_pipelined_batches_under_flow_control(dovecot, make_ctx, monkeypatch) -> None:
    # Many batches in flight and a buffer budget smaller than one message: reading pauses
    # and resumes all along, and every message still arrives once, cursor at the end.
    from prx_email.mail.imap import ImapClient

    folder = new_folder()
    dovecot.add_messages((make_msg(i, body="x" * 20_000 + "\n") for i in range(60)), folder)
    monkeypatch.setattr(sync_service, "FETCH_AHEAD", 5)
    monkeypatch.setattr(sync_service, "FETCH_BUFFER_BYTES", 1)
    pauses = {"n": 0}
    real_pause = ImapClient.pause_reading

    def counting_pause(self: ImapClient) -> None:
        pauses["n"] += 1
        real_pause(self)

    monkeypatch.setattr(ImapClient, "pause_reading", counting_pause)
    ctx = make_ctx(batch_size=4)
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 60
    rows = stored(ctx, folder)
    assert sorted(r.uid for r in rows) == list(range(1, 61))
    assert pauses["n"] > 0
    state = get_state(ctx.db.connect(), 1, folder)
    assert state is not None and state.last_uid == 60


async def test_starttls(dovecot, make_ctx) -> None:
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(5)), folder)
    ctx = make_ctx(tls=TlsMode.STARTTLS)
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 5


async def test_plain_loopback(dovecot, make_ctx) -> None:
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(3)), folder)
    ctx = make_ctx(tls=TlsMode.NONE)
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 3


async def test_new_messages_flags_and_expunges(dovecot, make_ctx) -> None:
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(10)), folder)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    m = imap_admin(dovecot)
    m.select(folder)
    m.uid("STORE", "2,4", "+FLAGS", "(\\Seen \\Flagged)")
    m.uid("STORE", "7", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    dovecot.add_messages((make_msg(100 + i) for i in range(3)), folder)
    rep = (await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))).folders[0]
    assert (rep.fetched, rep.flags_updated, rep.expunged) == (3, 2, 1)
    rows = {r.uid: r for r in stored(ctx, folder)}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]
    assert set(rows[2].flags) == {"\\Seen", "\\Flagged"} and rows[3].flags == ()
    # unchanged resync after that: nothing
    rep = (await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))).folders[0]
    assert (rep.fetched, rep.flags_updated, rep.expunged) == (0, 0, 0)


async def test_flag_scan_without_condstore(dovecot, make_ctx, monkeypatch) -> None:
    """The full FLAGS scan path (servers without CONDSTORE) gives the same result."""
    from prx_email.mail.imap import ImapClient

    original = ImapClient.select

    async def select_plain(self, folder, *, readonly=True, condstore=True):
        return await original(self, folder, readonly=readonly, condstore=False)

    monkeypatch.setattr(ImapClient, "select", select_plain)
    monkeypatch.setattr(ImapClient, "enable", lambda self, *c: _noop())
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(6)), folder)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    m = imap_admin(dovecot)
    m.select(folder)
    m.uid("STORE", "1", "+FLAGS", "(\\Answered)")
    m.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    rep = (await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))).folders[0]
    assert (rep.flags_updated, rep.expunged) == (1, 1)
    rows = {r.uid: r for r in stored(ctx, folder)}
    assert sorted(rows) == [1, 2, 4, 5, 6] and rows[1].flags == ("\\Answered",)


async def _noop() -> None:
    return None


async def test_uidvalidity_change_resyncs_without_duplicates(dovecot, make_ctx) -> None:
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(8)), folder)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    before = get_state(ctx.db.connect(), 1, folder)
    dovecot.reset_uidvalidity(folder)
    dovecot.add_messages([make_msg(50)], folder)
    rep = (await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))).folders[0]
    after = get_state(ctx.db.connect(), 1, folder)
    assert before is not None and after is not None
    assert after.uidvalidity != before.uidvalidity
    assert rep.uidvalidity_reset and rep.fetched == 9
    rows = stored(ctx, folder)
    assert len(rows) == 9 and len({r.message_id for r in rows}) == 9
    # The event log tells it as it happened: eight arrived; the reset voided their UIDs
    # (expunged, with the reason); the folder was stored afresh (nine new_mail).
    events = ctx.db.connect().execute(
        "SELECT type, rfc_message_id, json_extract(detail, '$.reason') FROM events "
        "WHERE folder = ? ORDER BY id",
        (folder,),
    )
    kinds = [(r[0], r[2]) for r in events]
    assert (
        kinds
        == [("new_mail", None)] * 8
        + [("expunged", "uidvalidity_reset")] * 8
        + [("new_mail", None)] * 9
    )


async def test_max_messages_and_cursor_resume(dovecot, make_ctx) -> None:
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(30)), folder)
    ctx = make_ctx(batch_size=7)
    seen = []
    rep = await sync_service.sync(
        ctx, SyncRequest(account_id=1, folder=folder, max_messages=12), progress=seen.append
    )
    assert rep.folders[0].fetched == 12 and rep.folders[0].more_pending
    assert seen[-1].done == 12 and seen[-1].total == 12
    state = get_state(ctx.db.connect(), 1, folder)
    assert state is not None and state.last_uid == 12 and state.uidnext is None
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder, max_messages=12))
    assert rep.folders[0].fetched == 12
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 6 and not rep.folders[0].more_pending
    assert sorted(r.uid for r in stored(ctx, folder)) == list(range(1, 31))


async def test_failed_batch_keeps_cursor(dovecot, make_ctx, monkeypatch) -> None:
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(20)), folder)
    ctx = make_ctx(batch_size=5)
    from prx_email.services.sync import _FolderRun

    real = _FolderRun._build
    calls = {"n": 0}

    def flaky(self, result):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(self, result)

    monkeypatch.setattr(_FolderRun, "_build", flaky)
    with pytest.raises(RuntimeError):
        await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    state = get_state(ctx.db.connect(), 1, folder)
    assert state is not None and state.last_uid == 10
    assert len(stored(ctx, folder)) == 10
    monkeypatch.setattr(_FolderRun, "_build", real)
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 10
    assert sorted(r.uid for r in stored(ctx, folder)) == list(range(1, 21))


async def test_non_ascii_malformed_and_truncated(dovecot, make_ctx) -> None:
    folder = new_folder("Ünïcode")
    good = make_msg(1, subject="Grüße aus Köln ✓", body="Schöne Grüße — ça va? 日本語\n")
    malformed = (
        b"From: =?utf-8?q?broken\r\nSubject: \xff\xfe raw bytes\r\n"
        b'Content-Type: multipart/mixed; boundary="nope"\r\n\r\n--nope\r\nno end'
    )
    headerless = b"just a body without headers\r\n"
    big = make_msg(2, subject="big body", body="x" * 50_000)
    dovecot.add_messages([good, malformed, headerless, big], folder)
    ctx = make_ctx(max_body_bytes=10_000)
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    assert rep.folders[0].fetched == 4
    rows = {r.uid: r for r in stored(ctx, folder)}
    assert rows[1].subject == "Grüße aus Köln ✓"
    msg = mailbox.get_message(ctx.db, 1, rows[4].id)
    assert msg is not None and msg.body_truncated and len(msg.body_text or "") <= 10_000
    hits = mailbox.search_local(ctx.db, SearchQuery(account_id=1, text="Grüße", folder=folder))
    assert [m.uid for m in hits.messages] == [1]


async def test_large_attachment(dovecot, make_ctx, tmp_path) -> None:
    folder = new_folder()
    m = EmailMessage()
    m["From"] = "a@example.org"
    m["To"] = "alice@example.org"
    m["Subject"] = "with attachment"
    m.set_content("see attached")
    payload = bytes(range(256)) * 8192  # 2 MiB
    m.add_attachment(payload, maintype="application", subtype="pdf", filename="report.pdf")
    dovecot.add_messages([bytes(m)], folder)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    row = stored(ctx, folder)[0]
    full = mailbox.get_message(ctx.db, 1, row.id)
    assert full is not None and row.has_attachments
    (att,) = full.attachments
    assert att.filename == "report.pdf" and att.size == len(payload) and att.stored
    import hashlib

    assert att.sha256 == hashlib.sha256(payload).hexdigest()


async def test_default_folders_and_other_folder(dovecot, make_ctx) -> None:
    a, b = new_folder("Archive"), new_folder("Work")
    dovecot.add_messages((make_msg(i) for i in range(3)), a)
    dovecot.add_messages((make_msg(i) for i in range(4)), b)
    ctx = make_ctx(folders=(a, b))
    rep = await sync_service.sync(ctx, SyncRequest(account_id=1))
    assert [(f.folder, f.fetched) for f in rep.folders] == [(a, 3), (b, 4)]


async def test_bad_password(dovecot, make_ctx, monkeypatch) -> None:
    ctx = make_ctx()
    monkeypatch.setenv(PW_ENV, "wrong-password-123")
    with pytest.raises(AuthFailed) as exc:
        await sync_service.sync(ctx, SyncRequest(account_id=1))
    assert "wrong-password-123" not in str(exc.value) and exc.value.hint


async def test_wrong_ca(dovecot, make_ctx, tmp_path) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    ctx = make_ctx(ca_file=other)
    with pytest.raises(TlsFailed) as exc:
        await sync_service.sync(ctx, SyncRequest(account_id=1))
    assert exc.value.hint and "ca_file" in exc.value.hint


async def test_wrong_ca_starttls(dovecot, make_ctx, tmp_path) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    ctx = make_ctx(ca_file=other, tls=TlsMode.STARTTLS)
    with pytest.raises(TlsFailed):
        await sync_service.sync(ctx, SyncRequest(account_id=1))


async def test_refused_port(dovecot, make_ctx) -> None:
    ctx = make_ctx(port=free_port())
    with pytest.raises(ConnectionFailed) as exc:
        await sync_service.sync(ctx, SyncRequest(account_id=1))
    assert not isinstance(exc.value, TlsFailed) and "refused" in exc.value.message


async def test_missing_folder(dovecot, make_ctx) -> None:
    ctx = make_ctx()
    with pytest.raises(FolderNotFound) as exc:
        await sync_service.sync(ctx, SyncRequest(account_id=1, folder="NoSuchFolder"))
    assert exc.value.hint


async def test_timeout_on_silent_server(make_ctx, dovecot) -> None:
    """A server that accepts but never greets → OperationTimeout."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        ctx = make_ctx(port=srv.getsockname()[1], tls=TlsMode.NONE, timeout=0.5)
        with pytest.raises(OperationTimeout):
            await sync_service.sync(ctx, SyncRequest(account_id=1))
    finally:
        srv.close()


async def test_condstore_without_qresync(dovecot, make_ctx, monkeypatch) -> None:
    """CHANGEDSINCE for flags; expunges found by a UID SEARCH diff (no VANISHED)."""
    from prx_email.mail.imap import ImapClient

    async def no_enable(self, *caps):
        return frozenset()

    monkeypatch.setattr(ImapClient, "enable", no_enable)
    folder = new_folder()
    dovecot.add_messages((make_msg(i) for i in range(5)), folder)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    m = imap_admin(dovecot)
    m.select(folder)
    m.uid("STORE", "5", "+FLAGS", "(\\Seen)")
    m.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    rep = (await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))).folders[0]
    assert (rep.flags_updated, rep.expunged) == (1, 1)
    assert sorted(r.uid for r in stored(ctx, folder)) == [1, 3, 4, 5]


async def test_a_row_moved_in_while_the_sync_searches_is_not_dropped(
    dovecot, make_ctx, monkeypatch
) -> None:
    """email.move re-keys a row into this folder (new UID above the cursor) between the
    sync's UID SEARCH and its look at the store: that row is not one the server lost."""
    from prx_email.mail.imap import ImapClient
    from prx_email.store.mailbox import Move, apply_moves

    folder, other = new_folder(), new_folder()
    dovecot.add_messages((make_msg(i) for i in range(3)), folder)
    dovecot.add_messages([make_msg(9)], other)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=other))
    (moved,) = stored(ctx, other)
    real = ImapClient.uid_search

    async def search_then_a_move_lands(self, criteria):  # type: ignore[no-untyped-def]
        found = await real(self, criteria)
        # What a concurrent email.move does once the server confirmed it: the message is in
        # this folder now (UID 4, after the search answered) and its row is re-keyed there.
        dovecot.add_messages([make_msg(9)], folder)
        state = get_state(ctx.db.connect(), 1, folder)
        assert state is not None
        apply_moves(ctx.db, 1, [Move(moved.id, folder, state.uidvalidity, 4)])
        return found

    monkeypatch.setattr(ImapClient, "uid_search", search_then_a_move_lands)
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    monkeypatch.setattr(ImapClient, "uid_search", real)
    assert sorted(r.uid for r in stored(ctx, folder)) == [1, 2, 3, 4]
    # The next sync fetches UID 4 (above the cursor) into the same row: no duplicate.
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    rows = stored(ctx, folder)
    assert sorted(r.uid for r in rows) == [1, 2, 3, 4] and moved.id in {r.id for r in rows}
