"""Refreshing OAuth2 access tokens: the pluggable provider seam and the built-in grant.

``OAuthRefreshProvider`` is what :class:`~.manager.CredentialManager` calls when a token is
about to expire or was rejected. :class:`RefreshTokenGrant` implements it with the standard
refresh-token grant (RFC 6749 §6) against the account's token endpoint, with presets for
Microsoft identity platform and Google.

Error messages carry the endpoint and the OAuth ``error`` code only, never a response body
(it may echo tokens).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..config.hosts import is_loopback
from ..config.model import AccountConfig, OAuth2Auth
from ..errors import AuthRefreshFailed, ConfigError
from .credentials import Protocol_
from .tokens import TokenSet


@dataclass(frozen=True, slots=True)
class ProviderPreset:
    name: str
    authorize_endpoint: str
    token_endpoint: str
    scopes: tuple[str, ...]
    # Extra query parameters for the consent URL (Google only issues a refresh token with these).
    authorize_extra: tuple[tuple[str, str], ...] = ()


OUTLOOK_SCOPES = (
    "offline_access",
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
)
GOOGLE_SCOPES = ("https://mail.google.com/",)

PRESETS: Mapping[str, ProviderPreset] = {
    "microsoft": ProviderPreset(
        name="microsoft",
        authorize_endpoint="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        token_endpoint="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        scopes=OUTLOOK_SCOPES,
    ),
    "google": ProviderPreset(
        name="google",
        authorize_endpoint="https://accounts.google.com/o/oauth2/v2/auth",
        token_endpoint="https://oauth2.googleapis.com/token",
        scopes=GOOGLE_SCOPES,
        authorize_extra=(("access_type", "offline"), ("prompt", "consent")),
    ),
}
_ALIASES = {"outlook": "microsoft", "office365": "microsoft", "gmail": "google"}


def preset(name: str) -> ProviderPreset:
    """:raises ConfigError: unknown provider name."""
    key = _ALIASES.get(name.lower(), name.lower())
    try:
        return PRESETS[key]
    except KeyError:
        known = ", ".join(sorted({*PRESETS, *_ALIASES}))
        raise ConfigError(
            f"unknown OAuth2 provider {name!r}", hint=f"use one of: {known}"
        ) from None


def token_endpoint_for(auth: OAuth2Auth, *, tenant: str = "common") -> str:
    """The configured endpoint, else the provider preset's.

    :raises ConfigError: neither a token endpoint nor a known provider.
    """
    if auth.token_endpoint:
        return auth.token_endpoint
    if auth.provider:
        return preset(auth.provider).token_endpoint.format(tenant=tenant)
    raise ConfigError(
        "OAuth2 needs a token endpoint or a provider",
        hint='set provider = "microsoft" | "google" or token_endpoint = "https://…"',
    )


def check_endpoint(url: str) -> None:
    """Only https, or plain http to a loopback address (the tests' local server).

    :raises ConfigError: any other scheme or host.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        if is_loopback(host):
            return
    raise ConfigError(
        f"OAuth2 endpoint {url} must use https (plain http only to loopback)",
        hint="fix the endpoint URL in the config",
    )


class OAuthRefreshProvider(Protocol):
    """Turns an expiring or rejected token set into a fresh one."""

    async def refresh(
        self, account: AccountConfig, protocol: Protocol_, tokens: TokenSet
    ) -> TokenSet:
        """A new access token, its expiry, and the new refresh token when it was rotated.

        :raises AuthRefreshFailed: the grant was refused or the endpoint is unreachable.
        """
        ...


async def post_token_request(
    endpoint: str,
    form: Mapping[str, str],
    *,
    timeout: float = 30.0,
    clock: Callable[[], float] = time.time,
    what: str = "token request",
) -> TokenSet:
    """POST an ``application/x-www-form-urlencoded`` grant and parse the token response.

    :raises AuthRefreshFailed: HTTP or OAuth error, unreachable endpoint, malformed reply.
    :raises ConfigError: the endpoint is not https/loopback.
    """
    check_endpoint(endpoint)
    body = urllib.parse.urlencode(dict(form)).encode("ascii")
    request = urllib.request.Request(
        endpoint,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    status, payload = await asyncio.to_thread(_send, request, timeout, endpoint, what)
    if status != 200:
        code = payload.get("error") if isinstance(payload.get("error"), str) else None
        hint = (
            "the refresh token was revoked or expired; run `prx-email oauth bootstrap` again"
            if code == "invalid_grant"
            else "check client_id, client_secret and scopes in the config"
        )
        raise AuthRefreshFailed(
            f"{what} refused by {endpoint}: HTTP {status}" + (f" ({code})" if code else ""),
            hint=hint,
        )
    access = payload.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthRefreshFailed(f"{what}: {endpoint} returned no access_token")
    now = clock()
    expires_in = payload.get("expires_in")
    expires_at: float | None = None
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = now + float(expires_in)
    refresh = payload.get("refresh_token")
    scope = payload.get("scope")
    return TokenSet(
        access_token=access,
        expires_at=expires_at,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=scope if isinstance(scope, str) else None,
        obtained_at=now,
    )


def _is_loopback_url(url: str) -> bool:
    return is_loopback(urllib.parse.urlsplit(url).hostname or "")


def _send(
    request: urllib.request.Request, timeout: float, endpoint: str, what: str
) -> tuple[int, dict[str, Any]]:
    # A loopback endpoint never goes through an HTTP(S)_PROXY from the environment.
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback_url(endpoint) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as resp:
            status, raw = int(resp.status), resp.read(1_048_576)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(65_536)
        exc.close()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise AuthRefreshFailed(
            f"{what}: cannot reach {endpoint}: {reason}",
            hint="check the network and the token endpoint; the old token is kept",
        ) from None
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    if status == 200 and not payload:
        raise AuthRefreshFailed(f"{what}: {endpoint} did not return a JSON token response")
    return status, payload


class RefreshTokenGrant:
    """The standard refresh-token grant against the account's (or preset) token endpoint."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._timeout = timeout
        self._clock = clock
        self._environ = environ

    async def refresh(
        self, account: AccountConfig, protocol: Protocol_, tokens: TokenSet
    ) -> TokenSet:
        server = account.imap if protocol == "imap" else account.smtp
        if server is None or not isinstance(server.auth, OAuth2Auth):
            raise ConfigError(f"account {account.id}: {protocol} does not use OAuth2")
        auth = server.auth
        if not tokens.refresh_token:
            raise AuthRefreshFailed(
                f"account {account.id}: the {protocol} access token expired and there is no "
                "refresh token",
                hint="run `prx-email oauth bootstrap` or set a fresh access token",
            )
        if not auth.client_id:
            raise ConfigError(
                f"account {account.id}: OAuth2 refresh needs client_id",
                hint="add client_id to the account's oauth2 settings",
            )
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": auth.client_id,
        }
        if auth.scopes:
            form["scope"] = " ".join(auth.scopes)
        if auth.client_secret_env:
            environ = os.environ if self._environ is None else self._environ
            secret = environ.get(auth.client_secret_env)
            if secret is None:
                raise AuthRefreshFailed(
                    f"client secret variable {auth.client_secret_env} is not set",
                    hint=f"export {auth.client_secret_env} before starting prx-email",
                )
            form["client_secret"] = secret
        return await post_token_request(
            token_endpoint_for(auth),
            form,
            timeout=self._timeout,
            clock=self._clock,
            what=f"account {account.id}: token refresh",
        )
