"""SMTP AUTH XOAUTH2 against a real aiosmtpd (STARTTLS, trustme CA) whose authenticator asks
the loopback authorization server whether the bearer token is live."""

from __future__ import annotations

import base64
import json
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from fixtures.dovecot import free_port
from fixtures.oauth import OAuthServer, assert_no_secrets
from prx_email.auth import CredentialManager, TokenSet
from prx_email.auth.secrets import SecretBox
from prx_email.auth.tokens import TokenFile, default_token_path
from prx_email.config.model import AccountConfig, OAuth2Auth, ServerConfig, TlsMode
from prx_email.errors import AuthFailed, AuthRefreshFailed
from prx_email.mail.smtp import SmtpConnection

pytestmark = pytest.mark.integration


class BearerHandler:
    """aiosmtpd handler: ``auth_XOAUTH2`` checks the token with the authorization server."""

    def __init__(self, idp: OAuthServer) -> None:
        self.idp = idp
        self.logins: list[str] = []
        self.failures = 0
        self.messages: list[bytes] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 2:
            blob = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=False)
            blob = answer
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        user, auth = fields.get("user", ""), fields.get("auth", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token and user == self.idp.username and self.idp.is_active(token):
            self.logins.append(user)
            return AuthResult(success=True, auth_data=user)
        self.failures += 1
        # RFC-style XOAUTH2 failure: a JSON challenge, the client answers empty, then 535.
        error = json.dumps({"status": "401", "schemes": "bearer"})
        await server.challenge_auth(error)
        return AuthResult(success=False, handled=False, message="535 5.7.8 token rejected")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert session.authenticated
        self.messages.append(bytes(envelope.original_content or b""))
        return "250 OK"


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp_server(
    oauth_server: OAuthServer, tls_ca: trustme.CA, tmp_path: Path
) -> Iterator[tuple[BearerHandler, int, Path]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    handler = BearerHandler(oauth_server)
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        auth_require_tls=True,
        auth_exclude_mechanism=["LOGIN", "PLAIN"],
    )
    controller.start()
    try:
        yield handler, port, ca_file
    finally:
        controller.stop()


def account(idp: OAuthServer, port: int, ca_file: Path) -> AccountConfig:
    auth = OAuth2Auth(token_endpoint=idp.token_url, client_id=idp.client_id)
    smtp = ServerConfig(
        "127.0.0.1", port, TlsMode.STARTTLS, idp.username, auth, ca_file=ca_file, timeout=10
    )
    return AccountConfig(id=1, name="work", address="alice@example.org", smtp=smtp)


def seed(idp: OAuthServer, *, ttl: float = 3600) -> TokenSet:
    access, refresh, exp = idp.issue(ttl=ttl)
    tokens = TokenSet(access, exp, refresh)
    TokenFile(default_token_path(1), SecretBox.from_environment()).save(tokens)
    return tokens


async def send_one(acc: AccountConfig, mgr: CredentialManager) -> Any:
    conn = SmtpConnection(acc, mgr)
    await conn.connect()
    try:
        return await conn.deliver(
            "alice@example.org",
            ["bob@example.org"],
            b"Subject: hi\r\nFrom: alice@example.org\r\nTo: bob@example.org\r\n\r\nhello\r\n",
        )
    finally:
        await conn.close()


async def test_xoauth2_send_with_a_live_token(
    oauth_server: OAuthServer, smtp_server, secret_home: Path
) -> None:
    handler, port, ca_file = smtp_server
    seed(oauth_server)
    delivery = await send_one(account(oauth_server, port, ca_file), CredentialManager())
    assert delivery.data_sent and delivery.code == 250
    assert handler.logins == ["alice"] and len(handler.messages) == 1
    assert oauth_server.hits["token:refresh_token"] == 0


async def test_expired_token_is_refreshed_before_auth(
    oauth_server: OAuthServer, smtp_server, secret_home: Path
) -> None:
    handler, port, ca_file = smtp_server
    seed(oauth_server, ttl=-5)
    await send_one(account(oauth_server, port, ca_file), CredentialManager())
    assert handler.failures == 0 and handler.logins == ["alice"]
    assert oauth_server.hits["token:refresh_token"] == 1


async def test_rejected_token_refreshed_once_and_retried(
    oauth_server: OAuthServer,
    smtp_server,
    secret_home: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="prx_email")
    handler, port, ca_file = smtp_server
    tokens = seed(oauth_server)
    oauth_server.revoke(tokens.access_token or "")
    delivery = await send_one(account(oauth_server, port, ca_file), CredentialManager())
    assert delivery.data_sent
    assert handler.failures == 1 and handler.logins == ["alice"]
    assert oauth_server.hits["token:refresh_token"] == 1
    out = capsys.readouterr()
    assert_no_secrets(caplog.text + out.out + out.err, oauth_server.issued)


async def test_rejected_twice_fails_without_sending(
    oauth_server: OAuthServer, smtp_server, secret_home: Path, monkeypatch
) -> None:
    handler, port, ca_file = smtp_server
    tokens = seed(oauth_server)
    oauth_server.revoke(tokens.access_token or "")
    monkeypatch.setattr(handler.idp, "is_active", lambda token: False)
    with pytest.raises(AuthFailed) as info:
        await send_one(account(oauth_server, port, ca_file), CredentialManager())
    assert not isinstance(info.value, AuthRefreshFailed)
    assert handler.failures == 2 and handler.messages == []
    assert oauth_server.hits["token:refresh_token"] == 1
    assert_no_secrets(str(info.value) + (info.value.hint or ""), oauth_server.issued)


async def test_refresh_refused_is_reported_and_nothing_sent(
    oauth_server: OAuthServer, smtp_server, secret_home: Path
) -> None:
    handler, port, ca_file = smtp_server
    seed(oauth_server, ttl=-5)
    oauth_server.reject_refresh = True
    with pytest.raises(AuthRefreshFailed) as info:
        await send_one(account(oauth_server, port, ca_file), CredentialManager())
    assert info.value.code.envelope == "EMAIL_AUTH_REFRESH_FAILED"
    assert handler.messages == [] and handler.logins == []
