"""What a protocol client needs to log in, and who provides it.

``CredentialProvider`` is the seam between the mail clients and the auth layer:
clients ask for a credential right before connecting (so reloads and refreshes
take effect on the next connection) and report a rejected token once so the
provider can refresh it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ..config.model import AccountConfig, OAuth2Auth, PasswordAuth
from ..errors import AuthFailed, ConfigError
from ._perms import check_private

Protocol_ = Literal["imap", "smtp"]


@dataclass(frozen=True, slots=True)
class Password:
    """A username and password (IMAP LOGIN, SMTP AUTH PLAIN or LOGIN)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class OAuthBearer:
    """A username and OAuth2 access token for XOAUTH2."""

    username: str
    access_token: str = field(repr=False)


Credential = Password | OAuthBearer


class CredentialProvider(Protocol):
    async def credential(self, account: AccountConfig, protocol: Protocol_) -> Credential:
        """The credential to use for the next connection.

        :raises AuthFailed: no usable credential (missing variable, expired and not refreshable).
        :raises ConfigError: the credential reference is invalid (e.g. a loose password file).
        """
        ...

    async def rejected(self, account: AccountConfig, protocol: Protocol_) -> bool:
        """The server rejected the last credential; return True when a retry may succeed."""
        ...


def read_secret_file(path: Path) -> str:
    """Read a secret file, refusing one that group or others can read.

    :raises ConfigError: missing, unreadable or too permissive.
    """
    check_private(path)
    return path.read_text(encoding="utf-8").strip()


class StaticCredentialProvider:
    """Passwords from env vars or 0600 files; OAuth2 tokens from env vars only."""

    async def credential(self, account: AccountConfig, protocol: Protocol_) -> Credential:
        server = account.imap if protocol == "imap" else account.smtp
        if server is None:
            raise ConfigError(f"account {account.id} has no {protocol} server configured")
        auth = server.auth
        if isinstance(auth, PasswordAuth):
            if auth.password_env:
                value = os.environ.get(auth.password_env)
                if value is None:
                    raise AuthFailed(
                        f"password variable {auth.password_env} is not set",
                        hint=f"export {auth.password_env} before starting prx-email",
                    )
                return Password(server.username, value)
            if auth.password_file:
                return Password(server.username, read_secret_file(auth.password_file))
            raise ConfigError(f"account {account.id}: {protocol} has no password source")
        assert isinstance(auth, OAuth2Auth)
        if auth.access_token_env and (token := os.environ.get(auth.access_token_env)):
            return OAuthBearer(server.username, token)
        raise AuthFailed(
            f"account {account.id}: no OAuth2 access token for {protocol}",
            hint="run `prx-email oauth bootstrap` or set the access token variable",
        )

    async def rejected(self, account: AccountConfig, protocol: Protocol_) -> bool:
        return False


def xoauth2_initial_response(credential: OAuthBearer) -> bytes:
    """The SASL XOAUTH2 client response (before base64): ``user=…^Aauth=Bearer …^A^A``.

    Shared by IMAP ``AUTHENTICATE XOAUTH2`` and SMTP ``AUTH XOAUTH2``; callers base64 it.
    """
    return f"user={credential.username}\x01auth=Bearer {credential.access_token}\x01\x01".encode()
