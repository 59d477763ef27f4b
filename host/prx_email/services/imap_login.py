"""Connect and log in to an account's IMAP server: the one place that does it.

An OAuth2 access token the server rejects is refreshed once and the login retried (the
credential provider decides whether a refresh is possible); every other failure is mapped by
:func:`prx_email.mail.errors.map_imap_errors` and raised.
"""

from __future__ import annotations

from ..auth.credentials import CredentialProvider, OAuthBearer
from ..config.model import AccountConfig, ServerConfig
from ..errors import AuthFailed, ConfigError
from ..mail.errors import map_imap_errors
from ..mail.imap import ImapClient, connect

__all__ = ["imap_server", "login"]


def imap_server(acc: AccountConfig) -> ServerConfig:
    """:raises ConfigError: the account has no ``[accounts.imap]``."""
    if acc.imap is None:
        raise ConfigError(
            f"account {acc.id} has no IMAP server configured",
            hint="add an [accounts.imap] table to the config",
        )
    return acc.imap


async def login(credentials: CredentialProvider, acc: AccountConfig) -> ImapClient:
    """A logged-in client for ``acc``.

    :raises ConnectionFailed, TlsFailed, AuthFailed, OperationTimeout, ConfigError:
    """
    server = imap_server(acc)
    for attempt in range(2):
        cred = await credentials.credential(acc, "imap")
        try:
            with map_imap_errors(server.host, server.port, timeout=server.timeout):
                return await connect(server, cred)
        except AuthFailed:
            if (
                attempt == 0
                and isinstance(cred, OAuthBearer)
                and await credentials.rejected(acc, "imap")
            ):
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover
