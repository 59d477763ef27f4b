"""The OAuth2 token lifecycle against the loopback token endpoint (no mail server)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from fixtures.oauth import OAuthServer, assert_no_secrets
from prx_email.auth import (
    CredentialManager,
    OAuthBearer,
    Password,
    TokenSet,
    reload_auth_from_env,
    validate_auth,
    validate_oauth2,
    xoauth2_initial_response,
)
from prx_email.auth.secrets import SecretBox
from prx_email.auth.tokens import TokenFile, default_token_path
from prx_email.config.model import (
    AccountConfig,
    OAuth2Auth,
    PasswordAuth,
    ServerConfig,
    TlsMode,
)
from prx_email.errors import AuthFailed, AuthRefreshFailed, ConfigError, InvalidArgument


def oauth_account(server: OAuthServer, account_id: int = 1, **auth_kw) -> AccountConfig:
    auth = OAuth2Auth(token_endpoint=server.token_url, client_id=server.client_id, **auth_kw)
    srv = ServerConfig("127.0.0.1", 1, TlsMode.NONE, "alice", auth)
    return AccountConfig(
        id=account_id, name="work", address="alice@example.org", imap=srv, smtp=srv
    )


def seed(server: OAuthServer, account_id: int = 1, *, ttl: float = 3600) -> TokenSet:
    access, refresh, exp = server.issue(ttl=ttl)
    tokens = TokenSet(access, exp, refresh)
    TokenFile(default_token_path(account_id), SecretBox.from_environment()).save(tokens)
    return tokens


@pytest.fixture
def server(oauth_server: OAuthServer, secret_home: Path) -> OAuthServer:
    return oauth_server


async def test_fresh_token_is_used_without_refresh(server: OAuthServer) -> None:
    tokens = seed(server)
    mgr = CredentialManager()
    cred = await mgr.credential(oauth_account(server), "imap")
    assert cred == OAuthBearer("alice", tokens.access_token or "")
    assert server.hits["token:refresh_token"] == 0


async def test_token_inside_skew_window_is_refreshed_and_rotation_persisted(
    server: OAuthServer,
) -> None:
    old = seed(server, ttl=60)  # expires within the default 120 s skew
    mgr = CredentialManager()
    cred = await mgr.credential(oauth_account(server), "imap")
    assert isinstance(cred, OAuthBearer)
    assert cred.access_token != old.access_token
    assert server.is_active(cred.access_token)
    assert server.hits["token:refresh_token"] == 1
    # the rotated refresh token is on disk, sealed; a new process uses it
    stored = TokenFile(default_token_path(1), SecretBox.from_environment()).load()
    assert stored is not None and stored.refresh_token not in (None, old.refresh_token)
    assert stored.refresh_token in server.refresh
    assert stored.expires_at is not None and stored.expires_at > time.time() + 3000


async def test_single_flight_under_concurrency(server: OAuthServer) -> None:
    seed(server, ttl=-10)  # already expired
    server.refresh_delay = 0.2
    mgr = CredentialManager()
    account = oauth_account(server)
    creds = await asyncio.gather(
        *(mgr.credential(account, "imap" if i % 2 else "smtp") for i in range(25))
    )
    assert server.hits["token:refresh_token"] == 1
    assert len({c.access_token for c in creds if isinstance(c, OAuthBearer)}) == 1


async def test_single_flight_is_per_account(server: OAuthServer) -> None:
    seed(server, 1, ttl=-10)
    seed(server, 2, ttl=-10)
    server.refresh_delay = 0.1
    mgr = CredentialManager()
    a, b = oauth_account(server, 1), oauth_account(server, 2)
    await asyncio.gather(*(mgr.credential(acc, "imap") for acc in (a, b, a, b)))
    assert server.hits["token:refresh_token"] == 2


async def test_rejected_refreshes_once_then_gives_up(server: OAuthServer) -> None:
    tokens = seed(server)
    mgr = CredentialManager()
    account = oauth_account(server)
    first = await mgr.credential(account, "imap")
    server.revoke(tokens.access_token or "")
    assert await mgr.rejected(account, "imap") is True
    second = await mgr.credential(account, "imap")
    assert isinstance(second, OAuthBearer) and isinstance(first, OAuthBearer)
    assert second.access_token != first.access_token
    assert server.hits["token:refresh_token"] == 1
    # the retry was rejected too: no second refresh, no endless loop
    assert await mgr.rejected(account, "imap") is False
    assert server.hits["token:refresh_token"] == 1
    # a later connection gets its own refresh-once chance again
    await mgr.credential(account, "imap")
    assert await mgr.rejected(account, "imap") is True
    assert server.hits["token:refresh_token"] == 2


async def test_refresh_refused_is_auth_refresh_failed_with_hint(
    server: OAuthServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = seed(server, ttl=-1)
    server.reject_refresh = True
    mgr = CredentialManager()
    with pytest.raises(AuthRefreshFailed) as info:
        await mgr.credential(oauth_account(server), "smtp")
    assert info.value.code.envelope == "EMAIL_AUTH_REFRESH_FAILED"
    assert "invalid_grant" in info.value.message
    assert "bootstrap" in (info.value.hint or "")
    out = capsys.readouterr()
    assert_no_secrets(
        str(info.value) + (info.value.hint or "") + caplog.text + out.out + out.err,
        [tokens.access_token or "", tokens.refresh_token or "", *server.issued],
    )


async def test_unreachable_endpoint_is_auth_refresh_failed(secret_home: Path) -> None:
    dead = OAuthServer().start()
    dead.stop()  # nothing listens on that port any more
    seed(dead, ttl=-1)
    with pytest.raises(AuthRefreshFailed, match="cannot reach"):
        await CredentialManager().credential(oauth_account(dead), "imap")


async def test_expired_without_refresh_token_fails_clearly(server: OAuthServer) -> None:
    TokenFile(default_token_path(1), SecretBox.from_environment()).save(
        TokenSet("at-old", time.time() - 5, None)
    )
    with pytest.raises(AuthFailed, match="no refresh token") as info:
        await CredentialManager().credential(oauth_account(server), "imap")
    assert "bootstrap" in (info.value.hint or "")


async def test_env_seeded_refresh_token(server: OAuthServer, monkeypatch) -> None:
    _, refresh, _ = server.issue()
    monkeypatch.setenv("MY_RT", refresh)
    account = oauth_account(server, refresh_token_env="MY_RT")
    cred = await CredentialManager().credential(account, "smtp")
    assert isinstance(cred, OAuthBearer) and server.is_active(cred.access_token)
    assert default_token_path(1).exists()  # the grant result is persisted, sealed


async def test_env_reload_takes_effect_on_next_connection(server: OAuthServer) -> None:
    seed(server)
    mgr = CredentialManager()
    account = oauth_account(server)
    before = await mgr.credential(account, "imap")
    env = {
        "ACME_IMAP_OAUTH_TOKEN": "env-imap-token",
        "ACME_IMAP_OAUTH_EXPIRES_AT": str(int(time.time()) + 3600),
        "ACME_SMTP_OAUTH_TOKEN": "env-smtp-token",
    }
    result = reload_auth_from_env("ACME", manager=mgr, environ=env)
    assert [p.loaded for p in result.protocols] == [True, True]
    assert "env-imap-token" not in repr(result)
    assert await mgr.credential(account, "imap") == OAuthBearer("alice", "env-imap-token")
    assert await mgr.credential(account, "smtp") == OAuthBearer("alice", "env-smtp-token")
    # unsetting the variables and reloading returns to the token file
    reload_auth_from_env("ACME", manager=mgr, environ={})
    assert await mgr.credential(account, "imap") == before


async def test_env_token_expiring_soon_is_refreshed_instead(server: OAuthServer) -> None:
    tokens = seed(server)
    mgr = CredentialManager()
    env = {
        "P_IMAP_OAUTH_TOKEN": "stale",
        "P_IMAP_OAUTH_EXPIRES_AT": str(int(time.time()) + 30),
    }
    reload_auth_from_env("P", manager=mgr, environ=env)
    cred = await mgr.credential(oauth_account(server), "imap")
    assert cred == OAuthBearer("alice", tokens.access_token or "")


async def test_rejected_env_token_falls_back_and_refreshes(server: OAuthServer) -> None:
    seed(server)
    mgr = CredentialManager()
    account = oauth_account(server)
    reload_auth_from_env("P", manager=mgr, environ={"P_IMAP_OAUTH_TOKEN": "revoked-env"})
    assert await mgr.credential(account, "imap") == OAuthBearer("alice", "revoked-env")
    assert await mgr.rejected(account, "imap") is True
    cred = await mgr.credential(account, "imap")
    assert isinstance(cred, OAuthBearer) and server.is_active(cred.access_token)


def test_env_reload_bad_expiry_changes_nothing(server: OAuthServer) -> None:
    mgr = CredentialManager()
    env = {"P_IMAP_OAUTH_TOKEN": "t", "P_SMTP_OAUTH_EXPIRES_AT": "tomorrow"}
    with pytest.raises(InvalidArgument, match="P_SMTP_OAUTH_EXPIRES_AT"):
        reload_auth_from_env("P", manager=mgr, environ=env)
    assert mgr._override(1, "imap") is None
    with pytest.raises(InvalidArgument):
        reload_auth_from_env("bad prefix", manager=mgr, environ={})


async def test_passwords_pass_through(monkeypatch, secret_home: Path) -> None:
    monkeypatch.setenv("PW", "app-password")
    srv = ServerConfig("127.0.0.1", 1, TlsMode.NONE, "bob", PasswordAuth(password_env="PW"))
    account = AccountConfig(id=3, name="p", address="bob@example.org", imap=srv)
    mgr = CredentialManager()
    assert await mgr.credential(account, "imap") == Password("bob", "app-password")
    assert await mgr.rejected(account, "imap") is False
    row = mgr.status(account, "imap")
    assert row is not None and row.mechanism == "password" and row.source == "env PW"


async def test_status_never_shows_tokens(server: OAuthServer) -> None:
    tokens = seed(server)
    row = CredentialManager().status(oauth_account(server), "smtp")
    assert row is not None
    assert row.mechanism == "xoauth2" and row.has_refresh_token and row.problem is None
    assert row.expires_at == tokens.expires_at
    assert_no_secrets(repr(row), [tokens.access_token or "", tokens.refresh_token or ""])


def test_xoauth2_initial_response() -> None:
    raw = xoauth2_initial_response(OAuthBearer("a@b", "tok"))
    assert raw == b"user=a@b\x01auth=Bearer tok\x01\x01"
    assert "tok" not in repr(OAuthBearer("a@b", "tok"))


def test_validate_auth_exactly_one_mechanism() -> None:
    validate_auth("accounts[0].imap", password=True, oauth2=False)
    validate_auth("accounts[0].imap", password=False, oauth2=True)
    with pytest.raises(ConfigError, match="both"):
        validate_auth("accounts[0].imap", password=True, oauth2=True)
    with pytest.raises(ConfigError, match="no authentication"):
        validate_auth("accounts[0].smtp", password=False, oauth2=False)


def test_validate_oauth2() -> None:
    validate_oauth2("x", OAuth2Auth(provider="microsoft", client_id="c"))
    validate_oauth2("x", OAuth2Auth(access_token_env="T"))
    with pytest.raises(ConfigError, match="unknown OAuth2 provider"):
        validate_oauth2("x", OAuth2Auth(provider="yahoo", client_id="c"))
    with pytest.raises(ConfigError, match="https"):
        validate_oauth2("x", OAuth2Auth(token_endpoint="http://example.org/t", client_id="c"))
    with pytest.raises(ConfigError, match="client_id"):
        validate_oauth2("x", OAuth2Auth(provider="google"))


async def test_client_secret_is_sent_but_never_shown(
    server: OAuthServer, monkeypatch, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    real_token = server._token

    def spy(form: dict[str, str]) -> tuple[int, dict[str, object]]:
        seen.append(form.get("client_secret", ""))
        return real_token(form)

    monkeypatch.setattr(server, "_token", spy)
    monkeypatch.setenv("CLIENT_SECRET", "s3cr3t-client-value")
    seed(server, ttl=-1)
    account = oauth_account(server, client_secret_env="CLIENT_SECRET")
    await CredentialManager().credential(account, "imap")
    assert seen == ["s3cr3t-client-value"]
    server.reject_refresh = True
    seed(server, ttl=-1)
    with pytest.raises(AuthRefreshFailed) as info:
        await CredentialManager().credential(account, "imap")
    out = capsys.readouterr()
    text = str(info.value) + (info.value.hint or "") + caplog.text + out.out + out.err
    assert_no_secrets(text, ["s3cr3t-client-value", *server.issued])
