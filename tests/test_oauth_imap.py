"""IMAP AUTHENTICATE XOAUTH2 against a real Dovecot whose ``oauth2`` passdb asks the loopback
authorization server's introspection endpoint whether a bearer token is live."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.dovecot import DovecotServer, start_dovecot
from fixtures.oauth import OAuthServer, assert_no_secrets, dovecot_oauth2_passdb
from prx_email.auth import CredentialManager, OAuthBearer, TokenSet, reload_auth_from_env
from prx_email.auth.secrets import SecretBox
from prx_email.auth.tokens import TokenFile, default_token_path
from prx_email.config.model import AccountConfig, Config, OAuth2Auth, ServerConfig, TlsMode
from prx_email.errors import AuthFailed, AuthRefreshFailed
from prx_email.services.context import ServiceContext
from prx_email.services.sync import open_imap
from prx_email.store.db import Database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def idp() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def oauth_dovecot(
    idp: OAuthServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DovecotServer]:
    tmp = tmp_path_factory.mktemp("dovecot-oauth2")
    passdb, extra = dovecot_oauth2_passdb(tmp, idp)
    server = start_dovecot(tmp, extra, passdb, user=idp.username)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def setup(
    idp: OAuthServer, oauth_dovecot: DovecotServer, secret_home: Path, tmp_path: Path
) -> Iterator[tuple[ServiceContext, AccountConfig]]:
    idp.hits.clear()
    idp.reject_refresh = False
    auth = OAuth2Auth(token_endpoint=idp.token_url, client_id=idp.client_id)
    imap = ServerConfig(
        oauth_dovecot.host,
        oauth_dovecot.imaps_port,
        TlsMode.IMPLICIT,
        idp.username,
        auth,
        ca_file=oauth_dovecot.ca_file,
        timeout=10.0,
    )
    account = AccountConfig(id=1, name="work", address="alice@example.org", imap=imap)
    db = Database(tmp_path / "mail.db")
    ctx = ServiceContext(config=Config(accounts=(account,)), db=db, credentials=CredentialManager())
    try:
        yield ctx, account
    finally:
        db.close()


def seed(idp: OAuthServer, *, ttl: float = 3600) -> TokenSet:
    access, refresh, exp = idp.issue(ttl=ttl)
    tokens = TokenSet(access, exp, refresh)
    TokenFile(default_token_path(1), SecretBox.from_environment()).save(tokens)
    return tokens


async def login(ctx: ServiceContext, account: AccountConfig) -> None:
    client = await open_imap(ctx, account)
    try:
        await client.select("INBOX")
    finally:
        await client.logout()


async def test_xoauth2_login_with_a_live_token(idp: OAuthServer, setup) -> None:
    ctx, account = setup
    seed(idp)
    await login(ctx, account)
    assert idp.hits["introspect"] >= 1
    assert idp.hits["token:refresh_token"] == 0


async def test_expired_token_is_refreshed_through_the_token_endpoint(
    idp: OAuthServer, setup, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx, account = setup
    old = seed(idp, ttl=-30)  # expired: Dovecot would refuse it
    assert not idp.is_active(old.access_token or "")
    await login(ctx, account)
    assert idp.hits["token:refresh_token"] == 1
    stored = TokenFile(default_token_path(1), SecretBox.from_environment()).load()
    assert stored is not None and stored.refresh_token != old.refresh_token
    assert "refreshed the OAuth2 token" in caplog.text
    out = capsys.readouterr()
    assert_no_secrets(caplog.text + out.out + out.err, idp.issued)


async def test_rejected_token_is_refreshed_once_and_retried_once(
    idp: OAuthServer, setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx, account = setup
    tokens = seed(idp)
    idp.revoke(tokens.access_token or "")  # valid by its expiry, but the server says no
    await login(ctx, account)
    assert idp.hits["token:refresh_token"] == 1
    assert "rejected the OAuth2 token; refreshing" in caplog.text
    assert_no_secrets(caplog.text, idp.issued)


async def test_rejected_token_and_refused_refresh_fail_with_hint(
    idp: OAuthServer, setup, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx, account = setup
    tokens = seed(idp)
    idp.revoke(tokens.access_token or "")
    idp.reject_refresh = True
    with pytest.raises(AuthRefreshFailed) as info:
        await login(ctx, account)
    assert info.value.code.envelope == "EMAIL_AUTH_REFRESH_FAILED"
    assert "bootstrap" in (info.value.hint or "")
    out = capsys.readouterr()
    text = str(info.value) + (info.value.hint or "") + caplog.text + out.out + out.err
    assert_no_secrets(text, idp.issued)


async def test_refreshed_token_rejected_again_gives_up_after_one_retry(
    idp: OAuthServer, setup, monkeypatch
) -> None:
    ctx, account = setup
    tokens = seed(idp)
    idp.revoke(tokens.access_token or "")
    # the endpoint hands out tokens Dovecot will not accept (e.g. wrong audience)
    real_issue = idp._issue

    def bad_issue(username: str, ttl: float | None) -> tuple[str, str, float]:
        access, refresh, exp = real_issue(username, ttl)
        idp.access[access].active = False
        return access, refresh, exp

    monkeypatch.setattr(idp, "_issue", bad_issue)
    with pytest.raises(AuthFailed) as info:
        await login(ctx, account)
    assert info.value.code.envelope == "EMAIL_AUTH_FAILED"
    assert idp.hits["token:refresh_token"] == 1  # refreshed once, retried once, no loop


async def test_env_reload_applies_to_the_next_connection(idp: OAuthServer, setup) -> None:
    ctx, account = setup
    seed(idp)
    await login(ctx, account)
    mgr = ctx.credentials
    assert isinstance(mgr, CredentialManager)
    # an operator pushes a live token: the next connection uses it, no refresh, no restart
    live, _, exp = idp.issue()
    env = {"OPS_IMAP_OAUTH_TOKEN": live, "OPS_IMAP_OAUTH_EXPIRES_AT": str(int(exp))}
    reload_auth_from_env("OPS", manager=mgr, environ=env)
    assert await mgr.credential(account, "imap") == OAuthBearer(idp.username, live)
    idp.hits.clear()
    await login(ctx, account)
    assert idp.hits["introspect"] == 1 and idp.hits["token:refresh_token"] == 0
    # a pushed token Dovecot refuses is dropped after the rejection; the retry uses the
    # token file, still without a refresh
    env = {"OPS_IMAP_OAUTH_TOKEN": "not-a-live-token"}
    reload_auth_from_env("OPS", manager=mgr, environ=env)
    idp.hits.clear()
    await login(ctx, account)
    assert idp.hits["introspect"] == 2 and idp.hits["token:refresh_token"] == 0
