"""Checks the config loader calls on the auth part of an ``[accounts.*.imap|smtp]`` table."""

from __future__ import annotations

from ..config.model import OAuth2Auth
from ..errors import ConfigError
from .refresh import check_endpoint, preset


def validate_auth(where: str, *, password: bool, oauth2: bool) -> None:
    """Exactly one mechanism per protocol: password (PLAIN/LOGIN) or XOAUTH2.

    ``where`` names the table, e.g. ``accounts[work].imap``.

    :raises ConfigError: both or neither are configured.
    """
    if password and oauth2:
        raise ConfigError(
            f"{where}: both a password and oauth2 are configured; choose one mechanism",
            hint="remove either password_env/password_file or the oauth2 table",
        )
    if not password and not oauth2:
        raise ConfigError(
            f"{where}: no authentication configured",
            hint="set password_env or password_file (app password), or add an oauth2 table",
        )


def validate_oauth2(where: str, auth: OAuth2Auth) -> None:
    """A usable OAuth2 setup: a known provider or an https token endpoint, and a client id
    when tokens are to be refreshed.

    :raises ConfigError: unknown provider, bad endpoint, refresh without client_id.
    """
    if auth.provider:
        try:
            preset(auth.provider)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
    if auth.token_endpoint:
        try:
            check_endpoint(auth.token_endpoint)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
    if not auth.provider and not auth.token_endpoint and not auth.access_token_env:
        raise ConfigError(
            f"{where}: oauth2 needs a provider, a token_endpoint or an access_token_env",
            hint='e.g. provider = "microsoft" and client_id = "…"',
        )
    if (auth.provider or auth.token_endpoint) and not auth.client_id:
        raise ConfigError(
            f"{where}: oauth2 token refresh needs client_id",
            hint="use the application (client) id you registered with the provider",
        )
