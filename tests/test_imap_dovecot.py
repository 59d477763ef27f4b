"""IMAP against the real Dovecot: injection attempts, remote search, XOAUTH2 retry."""

from __future__ import annotations

import pytest
from fixtures.dovecot import DovecotServer, account
from helpers.imap import imap_admin, make_msg, new_folder
from prx_email.auth.credentials import OAuthBearer, Password
from prx_email.config.model import AccountConfig, Config
from prx_email.errors import AuthFailed, FolderNotFound, InvalidArgument
from prx_email.mail.errors import map_imap_errors
from prx_email.mail.imap import astring, connect
from prx_email.services import sync as sync_service
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.types import SearchQuery, SyncRequest

pytestmark = pytest.mark.integration


def server_count(dovecot: DovecotServer, folder: str) -> int:
    m = imap_admin(dovecot)
    typ, data = m.select(folder, readonly=True)
    m.logout()
    assert typ == "OK"
    return int(data[0])


async def _client(dovecot: DovecotServer):
    acc = account(dovecot)
    assert acc.imap is not None
    return await connect(acc.imap, Password(dovecot.user, dovecot.password))


async def test_search_injection_does_not_execute(dovecot, make_ctx) -> None:
    folder = new_folder("Inj")
    dovecot.add_messages([make_msg(i) for i in range(4)], folder)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    # Unquoted, `x" OR ALL` would turn into SUBJECT "x" OR ALL → every message.
    for text in ['x" OR ALL', 'x") OR (ALL', "x\\", '" ALL "', "{5}"]:
        page = await sync_service.search_remote(
            ctx, SearchQuery(account_id=1, subject=text, folder=folder, remote=True)
        )
        assert page.messages == (), text
    # CR/LF + a second command never reaches the wire.
    for text in ['x"\r\nA1 DELETE ' + folder, "x\nA2 EXPUNGE", "x\x00"]:
        with pytest.raises(InvalidArgument):
            await sync_service.search_remote(
                ctx, SearchQuery(account_id=1, text=text, folder=folder, remote=True)
            )
    assert server_count(dovecot, folder) == 4  # nothing deleted or expunged


async def test_folder_name_injection(dovecot, make_ctx) -> None:
    folder = new_folder("Keep")
    dovecot.add_messages([make_msg(1)], folder)
    ctx = make_ctx()
    for name in [f'{folder}" (CONDSTORE) DELETE "{folder}', f"{folder}\r\nX DELETE {folder}"]:
        with pytest.raises((FolderNotFound, InvalidArgument)):
            await sync_service.sync(ctx, SyncRequest(account_id=1, folder=name))
    assert server_count(dovecot, folder) == 1


async def test_raw_client_injection_with_literal(dovecot) -> None:
    """A non-ASCII search string goes as a literal with CHARSET UTF-8 and matches as text."""
    folder = new_folder("Lit")
    dovecot.add_messages(
        [make_msg(1, subject="Grüße aus Köln"), make_msg(2, subject="plain")], folder
    )
    client = await _client(dovecot)
    try:
        with map_imap_errors("127.0.0.1", 0):
            await client.select(folder)
            assert await client.uid_search([b"SUBJECT", astring("Grüße")], charset="UTF-8") == [1]
            assert (
                await client.uid_search([b"SUBJECT", astring('Köln" OR ALL')], charset="UTF-8")
                == []
            )
    finally:
        await client.logout()


async def test_remote_search_criteria_and_fetches_missing(dovecot, make_ctx) -> None:
    folder = new_folder("Remote")
    msgs = [
        make_msg(1, subject="Invoice March", body="total due 100 EUR\n"),
        make_msg(2, subject="Lunch", body="see you at noon\n"),
        make_msg(3, subject="Invoice April", body="total due 250 EUR\n"),
    ]
    dovecot.add_messages(msgs, folder)
    ctx = make_ctx()
    # Never synced: remote search syncs the folder first, then answers from the store.
    page = await sync_service.search_remote(
        ctx, SearchQuery(account_id=1, subject="invoice", folder=folder, remote=True)
    )
    assert sorted(m.subject for m in page.messages) == ["Invoice April", "Invoice March"]
    page = await sync_service.search_remote(
        ctx, SearchQuery(account_id=1, body="noon", folder=folder, remote=True)
    )
    assert [m.subject for m in page.messages] == ["Lunch"]
    page = await sync_service.search_remote(
        ctx, SearchQuery(account_id=1, from_="sender3@", folder=folder, remote=True)
    )
    assert [m.subject for m in page.messages] == ["Invoice April"]
    page = await sync_service.search_remote(
        ctx, SearchQuery(account_id=1, unseen=True, folder=folder, remote=True, limit=2)
    )
    assert len(page.messages) == 2 and page.next_cursor
    rest = await sync_service.search_remote(
        ctx,
        SearchQuery(
            account_id=1, unseen=True, folder=folder, remote=True, limit=2, cursor=page.next_cursor
        ),
    )
    assert len(rest.messages) == 1 and rest.next_cursor is None
    # A message that arrived after the last sync is fetched by the search itself.
    dovecot.add_messages([make_msg(4, subject="Invoice May")], folder)
    page = await sync_service.search_remote(
        ctx, SearchQuery(account_id=1, subject="invoice may", folder=folder, remote=True)
    )
    assert [m.subject for m in page.messages] == ["Invoice May"]
    page = await sync_service.search_remote(
        ctx,
        SearchQuery(account_id=1, since=1704067200, before=1735689600, folder=folder, remote=True),
    )
    assert len(page.messages) == 4
    # The page bound is the façade's, from [limits] page_max: the service has none of its own
    # (it refused anything above 500, whatever the configuration said).
    page = await sync_service.search_remote(
        ctx, SearchQuery(account_id=1, folder=folder, remote=True, limit=1000)
    )
    assert len(page.messages) == 4 and page.next_cursor is None


class _OAuthProvider:
    def __init__(self, user: str, tokens: list[str], retry: bool) -> None:
        self.user = user
        self.tokens = tokens
        self.retry = retry
        self.rejections = 0
        self.asked = 0

    async def credential(self, account: AccountConfig, protocol: str) -> OAuthBearer:
        self.asked += 1
        return OAuthBearer(self.user, self.tokens[min(self.asked - 1, len(self.tokens) - 1)])

    async def rejected(self, account: AccountConfig, protocol: str) -> bool:
        self.rejections += 1
        return self.retry


@pytest.mark.parametrize("retry", [True, False])
async def test_xoauth2_rejected_token_is_refreshed_once(dovecot, tmp_path, retry) -> None:
    """Dovecot here has no oauth2 passdb: every token is rejected. The client reports the
    rejection to the provider, retries exactly once when told to, then fails cleanly."""
    provider = _OAuthProvider(dovecot.user, ["token-one", "token-two"], retry)
    db = Database(tmp_path / "m.db")
    ctx = ServiceContext(config=Config(accounts=(account(dovecot),)), db=db, credentials=provider)
    with pytest.raises(AuthFailed) as exc:
        await sync_service.sync(ctx, SyncRequest(account_id=1))
    assert provider.asked == (2 if retry else 1)
    assert provider.rejections == 1  # refreshed once at most, never in a loop
    assert "token-one" not in str(exc.value) and "token-two" not in str(exc.value)
    db.close()


async def test_search_fetched_row_expunged_before_cursor_reaches_it(dovecot, make_ctx) -> None:
    folder = new_folder("Ahead")
    dovecot.add_messages([make_msg(i, subject=f"item {i}") for i in range(1, 6)], folder)
    ctx = make_ctx()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder, max_messages=2))
    page = await sync_service.search_remote(
        ctx, SearchQuery(account_id=1, subject="item 5", folder=folder, remote=True)
    )
    assert [m.uid for m in page.messages] == [5]  # stored ahead of the cursor (2)
    m = imap_admin(dovecot)
    m.select(folder)
    m.uid("STORE", "5", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    from prx_email.store.messages import MessageStore

    assert MessageStore(ctx.db).uids_in_folder(1, folder, _uidvalidity(ctx, folder)) == {1, 2, 3, 4}


def _uidvalidity(ctx: ServiceContext, folder: str) -> int:
    from prx_email.store.sync_state import get_state

    st = get_state(ctx.db.connect(), 1, folder)
    assert st is not None
    return st.uidvalidity


async def test_synchronizing_literal_without_literal_plus(dovecot) -> None:
    """Servers without LITERAL+ get {n}, a wait for "+", then the bytes."""
    folder = new_folder("Sync")
    dovecot.add_messages([make_msg(1, subject="Café crème")], folder)
    client = await _client(dovecot)
    client.capabilities = client.capabilities - {"LITERAL+"}
    try:
        with map_imap_errors("127.0.0.1", 0):
            await client.select(folder)
            assert await client.uid_search([b"SUBJECT", astring("crème")], charset="UTF-8") == [1]
    finally:
        await client.logout()
