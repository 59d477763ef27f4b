"""Checks the config loader calls on the auth part of an ``[accounts.imap|smtp]`` table.

``where`` is how the loader names the place, e.g. ``config.toml:12: accounts[0].imap``;
every message starts with it.
"""

from __future__ import annotations

from ..config.model import OAuth2Auth
from ..errors import ConfigError

__all__ = ["validate_auth", "validate_oauth2"]


def validate_auth(where: str, *, password: bool, oauth2: bool) -> None:
    """Exactly one mechanism per protocol: password (PLAIN/LOGIN) or XOAUTH2.

    :raises ConfigError: both or neither are configured.
    """
    if password and oauth2:
        raise ConfigError(
            f"{where}: both a password and oauth2 are configured; choose one mechanism",
            hint='use exactly one: password_env/password_file, or auth = "oauth2" with [oauth2]',
        )
    if not password and not oauth2:
        raise ConfigError(
            f"{where}: no authentication configured",
            hint='set password_env = "VAR" or password_file = "path" (app password), '
            'or auth = "oauth2" with an oauth2 table; only an SMTP relay on a loopback address '
            "may go without",
        )


def validate_oauth2(where: str, auth: OAuth2Auth) -> None:
    """A usable OAuth2 setup: a known provider, an https (or loopback http) token endpoint,
    and, unless the only token is an ``access_token_env`` refreshed by someone else, what a
    refresh needs (a client id and a provider or endpoint).

    :raises ConfigError: unknown provider, bad endpoint, no token source, refresh without
        client_id or without an endpoint.
    """
    # Imported here: refresh pulls in asyncio and urllib, which a password-only config (and
    # every CLI command loading it) never needs.
    from .refresh import check_endpoint, preset

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
    # A token file (named or the per-user default) or a refresh token means we refresh.
    refreshes = bool(auth.refresh_token_env or auth.token_file or not auth.access_token_env)
    if not refreshes:
        return
    if not auth.client_id:
        nothing = not (
            auth.refresh_token_env or auth.token_file or auth.provider or auth.token_endpoint
        )
        raise ConfigError(
            f"{where}: oauth2 has no token source"
            if nothing
            else f"{where}: oauth2 token refresh needs client_id",
            hint="set client_id (the application id registered with the provider) and run "
            "`prx-email oauth bootstrap`, or set access_token_env to a token you refresh "
            "yourself",
        )
    if not (auth.provider or auth.token_endpoint):
        raise ConfigError(
            f"{where}: oauth2 token refresh needs a provider or a token_endpoint",
            hint='set provider = "microsoft" | "google" or token_endpoint = "https://…"',
        )
