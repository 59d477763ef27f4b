"""The credential provider the mail clients use: passwords as-is, OAuth2 tokens kept fresh.

Where an OAuth2 access token comes from, first match wins:

1. an override set by :func:`~.envreload.reload_auth_from_env` (per account and protocol);
2. the sealed token file (``OAuth2Auth.token_file`` or the per-account default);
3. the config's ``access_token_env`` / ``refresh_token_env`` variables.

A token expiring within ``skew`` seconds is refreshed before use. Refreshes are
single-flight per account: one ``asyncio.Lock`` per account, and the token is checked
again after the lock is acquired, so concurrent callers share one refresh (and one
rotation of the refresh token). When the server rejects a token, :meth:`rejected`
refreshes once and returns True; a second rejection in the same attempt returns False.
Rotated refresh tokens are saved to the token file, sealed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config.model import AccountConfig, OAuth2Auth, PasswordAuth, ServerConfig
from ..errors import AuthFailed, AuthRefreshFailed, ConfigError
from .credentials import Credential, OAuthBearer, Protocol_, StaticCredentialProvider
from .refresh import OAuthRefreshProvider, RefreshTokenGrant
from .secrets import SecretBox
from .tokens import TokenFile, TokenSet, default_token_path

log = logging.getLogger("prx_email.auth")

DEFAULT_SKEW = 120.0
PROTOCOLS: tuple[Protocol_, ...] = ("imap", "smtp")
_RetryState = Literal["pending", "retrying"]


def _digest(token: str | None) -> str | None:
    return hashlib.sha256(token.encode("utf-8")).hexdigest() if token else None


@dataclass(frozen=True, slots=True)
class AuthStatus:
    """What ``prx-email auth status`` shows for one account and protocol (never a token)."""

    account_id: int
    account_name: str
    protocol: Protocol_
    mechanism: str  # "password" | "xoauth2"
    source: str  # e.g. "env PRX_PW", "file /…", "token file /…", "env override"
    expires_at: float | None = None
    has_refresh_token: bool = False
    problem: str | None = None


class CredentialManager:
    """A :class:`~.credentials.CredentialProvider` with the OAuth2 token lifecycle."""

    def __init__(
        self,
        *,
        refresher: OAuthRefreshProvider | None = None,
        box: SecretBox | None = None,
        skew: float = DEFAULT_SKEW,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.refresher: OAuthRefreshProvider = refresher or RefreshTokenGrant(clock=clock)
        self.skew = skew
        self._clock = clock
        self._environ = environ
        self._box = box
        self._passwords = StaticCredentialProvider()
        self._locks: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}
        # Token files by path, with the (mtime_ns, size) they were read at.
        self._files: dict[Path, tuple[tuple[int, int] | None, TokenSet | None]] = {}
        self._overrides: dict[tuple[int | None, Protocol_], TokenSet] = {}
        self._handed: dict[tuple[int, Protocol_], str | None] = {}
        self._retry: dict[tuple[int, Protocol_], _RetryState] = {}

    def __repr__(self) -> str:
        return f"CredentialManager(skew={self.skew})"

    # -- the CredentialProvider seam ------------------------------------------------

    async def credential(self, account: AccountConfig, protocol: Protocol_) -> Credential:
        server = _server(account, protocol)
        if isinstance(server.auth, PasswordAuth):
            return await self._passwords.credential(account, protocol)
        key = (account.id, protocol)
        state = self._retry.get(key)
        if state == "pending":
            self._retry[key] = "retrying"
        elif state == "retrying":
            del self._retry[key]
        override = self._override(account.id, protocol)
        if override is not None and not override.expires_within(self.skew, self._clock()):
            return self._hand_out(key, server, override)
        tokens = await self._fresh(account, protocol, server.auth)
        return self._hand_out(key, server, tokens)

    async def rejected(self, account: AccountConfig, protocol: Protocol_) -> bool:
        """Refresh once after the server rejected the token; True when a retry may succeed.

        :raises AuthRefreshFailed: the refresh itself failed (the hint says what to do).
        """
        server = _server(account, protocol)
        if not isinstance(server.auth, OAuth2Auth):
            return False
        key = (account.id, protocol)
        if self._retry.pop(key, None) == "retrying":
            log.warning(
                "account %d: %s rejected the refreshed OAuth2 token too; giving up",
                account.id,
                protocol,
            )
            return False
        bad = self._handed.get(key)
        for okey in ((account.id, protocol), (None, protocol)):
            ov = self._overrides.get(okey)
            if ov is not None and _digest(ov.access_token) == bad:
                del self._overrides[okey]
                log.info("account %d: dropped the rejected %s env token", account.id, protocol)
        stored = self._stored(account, server.auth)
        if not stored.refresh_token:
            if _digest(stored.access_token) not in (None, bad):
                self._retry[key] = "pending"  # the dropped env token hid a different one
                return True
            return False
        log.info("account %d: %s rejected the OAuth2 token; refreshing", account.id, protocol)
        await self._fresh(account, protocol, server.auth, rejected=bad)
        self._retry[key] = "pending"
        return True

    # -- env overrides and reloads ----------------------------------------------------

    def set_override(
        self, protocol: Protocol_, tokens: TokenSet | None, *, account_id: int | None = None
    ) -> None:
        """Use ``tokens`` for the next connections (``account_id=None``: every OAuth2 account)."""
        if tokens is None:
            self._overrides.pop((account_id, protocol), None)
        else:
            self._overrides[(account_id, protocol)] = tokens

    def forget(self) -> None:
        """Drop cached token files (e.g. after a config reload changed their paths)."""
        self._files.clear()
        self._retry.clear()

    # -- status --------------------------------------------------------------------------

    def status(self, account: AccountConfig, protocol: Protocol_) -> AuthStatus | None:
        """Mechanism, source and expiry for one account and protocol; None if not configured."""
        server = account.imap if protocol == "imap" else account.smtp
        if server is None:
            return None
        base = functools.partial(AuthStatus, account.id, account.name, protocol)
        if isinstance(server.auth, PasswordAuth):
            a = server.auth
            source = (
                f"env {a.password_env}"
                if a.password_env
                else f"file {a.password_file}"
                if a.password_file
                else "none"
            )
            problem = None
            if a.password_env and a.password_env not in self._env:
                problem = f"variable {a.password_env} is not set"
            return base(mechanism="password", source=source, problem=problem)
        auth = server.auth
        override = self._override(account.id, protocol)
        if override is not None:
            return base(
                mechanism="xoauth2",
                source="env override (reload_auth_from_env)",
                expires_at=override.expires_at,
            )
        path = self.token_path(account, auth)
        try:
            stored = self._stored(account, auth)
        except ConfigError as exc:
            return base(mechanism="xoauth2", source=f"token file {path}", problem=exc.message)
        env_names = [n for n in (auth.access_token_env, auth.refresh_token_env) if n]
        if path.exists() or not env_names:
            source = f"token file {path}" + ("" if path.exists() else " (not created yet)")
        else:
            source = "env " + ", ".join(env_names)
        problem = None
        if not stored.access_token and not stored.refresh_token:
            problem = "no token yet; run `prx-email oauth bootstrap`"
        elif stored.expires_within(0, self._clock()) and not stored.refresh_token:
            problem = "access token expired and no refresh token"
        return base(
            mechanism="xoauth2",
            source=source,
            expires_at=stored.expires_at,
            has_refresh_token=bool(stored.refresh_token),
            problem=problem,
        )

    # -- internals ------------------------------------------------------------------------

    @property
    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def token_path(self, account: AccountConfig, auth: OAuth2Auth) -> Path:
        return auth.token_file or default_token_path(account.id)

    def _token_file(self, account: AccountConfig, auth: OAuth2Auth) -> TokenFile:
        if self._box is None:
            self._box = SecretBox.from_environment()
        return TokenFile(self.token_path(account, auth), self._box)

    def _override(self, account_id: int, protocol: Protocol_) -> TokenSet | None:
        return self._overrides.get((account_id, protocol)) or self._overrides.get((None, protocol))

    def _stored(self, account: AccountConfig, auth: OAuth2Auth) -> TokenSet:
        """The token file's set (re-read when it changed on disk), else the env seeds."""
        path = self.token_path(account, auth)
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        cached = self._files.get(path)
        if cached is not None and cached[0] == stamp and stamp is not None:
            tokens = cached[1]
        elif stamp is None:
            tokens = None
        else:
            tokens = self._token_file(account, auth).load()
            self._files[path] = (stamp, tokens)
        if tokens is not None:
            return tokens
        env = self._env
        return TokenSet(
            access_token=env.get(auth.access_token_env) if auth.access_token_env else None,
            refresh_token=env.get(auth.refresh_token_env) if auth.refresh_token_env else None,
        )

    def _save(self, account: AccountConfig, auth: OAuth2Auth, tokens: TokenSet) -> None:
        tf = self._token_file(account, auth)
        tf.save(tokens)
        st = tf.path.stat()
        self._files[tf.path] = ((st.st_mtime_ns, st.st_size), tokens)

    def _lock(self, account_id: int) -> asyncio.Lock:
        # One lock per account and event loop: an asyncio.Lock must not cross loops (the
        # CLI and tests run several loops over one manager).
        loop = asyncio.get_running_loop()
        entry = self._locks.get(account_id)
        if entry is None or entry[0] is not loop:
            entry = self._locks[account_id] = (loop, asyncio.Lock())
        return entry[1]

    async def _fresh(
        self,
        account: AccountConfig,
        protocol: Protocol_,
        auth: OAuth2Auth,
        *,
        rejected: str | None = None,
    ) -> TokenSet:
        """A usable token set, refreshing (single-flight per account) when needed."""
        if rejected is None:
            tokens = self._stored(account, auth)
            if not tokens.expires_within(self.skew, self._clock()):
                return tokens
        async with self._lock(account.id):
            tokens = self._stored(account, auth)  # another caller may have refreshed meanwhile
            now = self._clock()
            if rejected is not None:
                if tokens.access_token and _digest(tokens.access_token) != rejected:
                    return tokens
            elif not tokens.expires_within(self.skew, now):
                return tokens
            if not tokens.refresh_token:
                if tokens.access_token and not tokens.expires_within(0, now):
                    return tokens  # inside the skew window but still valid: use it
                raise AuthFailed(
                    f"account {account.id}: no valid OAuth2 access token for {protocol} "
                    "and no refresh token",
                    hint="run `prx-email oauth bootstrap`, or set a fresh token and run "
                    "`prx-email auth reload`",
                )
            try:
                grant = await self.refresher.refresh(account, protocol, tokens)
            except AuthRefreshFailed as exc:
                log.warning("account %d: OAuth2 refresh failed: %s", account.id, exc.message)
                raise
            new = tokens.merged(grant)
            self._save(account, auth, new)
            log.info(
                "account %d: refreshed the OAuth2 token (%s)%s",
                account.id,
                _expiry_text(new.expires_at, now),
                "; refresh token rotated" if grant.refresh_token else "",
            )
            return new

    def _hand_out(
        self, key: tuple[int, Protocol_], server: ServerConfig, tokens: TokenSet
    ) -> OAuthBearer:
        if not tokens.access_token:
            raise AuthFailed(
                f"account {key[0]}: no OAuth2 access token for {key[1]}",
                hint="run `prx-email oauth bootstrap` or set the access token variable",
            )
        self._handed[key] = _digest(tokens.access_token)
        return OAuthBearer(server.username, tokens.access_token)


def _server(account: AccountConfig, protocol: Protocol_) -> ServerConfig:
    server = account.imap if protocol == "imap" else account.smtp
    if server is None:
        raise ConfigError(f"account {account.id} has no {protocol} server configured")
    return server


def _expiry_text(expires_at: float | None, now: float) -> str:
    if expires_at is None:
        return "expiry unknown"
    return f"expires in {int(expires_at - now)} s"


_default: CredentialManager | None = None


def default_manager() -> CredentialManager:
    """The process-wide manager that :func:`reload_auth_from_env` updates by default."""
    global _default
    if _default is None:
        _default = CredentialManager()
    return _default
