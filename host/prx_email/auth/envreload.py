"""Pick up OAuth2 access tokens from the environment without a restart.

``reload_auth_from_env("ACME")`` reads::

    ACME_IMAP_OAUTH_TOKEN   ACME_IMAP_OAUTH_EXPIRES_AT   (unix seconds, optional)
    ACME_SMTP_OAUTH_TOKEN   ACME_SMTP_OAUTH_EXPIRES_AT

and installs them as overrides in the credential manager; the next connection uses them.
A protocol whose token variable is unset loses its previous override (back to the token
file). Values are never echoed in errors or in the returned summary.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InvalidArgument
from .credentials import Protocol_
from .manager import PROTOCOLS, CredentialManager, default_manager
from .tokens import TokenSet

_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class EnvTokenStatus:
    protocol: Protocol_
    variable: str
    loaded: bool
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class EnvReload:
    """What :func:`reload_auth_from_env` changed (names and expiries only)."""

    prefix: str
    account_id: int | None
    protocols: tuple[EnvTokenStatus, ...]


def reload_auth_from_env(
    prefix: str = "PRX_EMAIL",
    *,
    account_id: int | None = None,
    manager: CredentialManager | None = None,
    environ: Mapping[str, str] | None = None,
) -> EnvReload:
    """Load ``{prefix}_{IMAP,SMTP}_OAUTH_TOKEN`` / ``…_EXPIRES_AT`` for the next connection.

    ``account_id=None`` applies the tokens to every account that uses OAuth2.

    :raises InvalidArgument: a bad prefix, or an ``…_EXPIRES_AT`` that is not unix seconds
        (nothing is changed then).
    """
    if not _PREFIX.match(prefix):
        raise InvalidArgument(
            f"invalid environment prefix {prefix!r}",
            hint="use letters, digits and underscores, e.g. PRX_EMAIL",
        )
    env = os.environ if environ is None else environ
    mgr = manager or default_manager()
    staged: list[tuple[Protocol_, TokenSet | None]] = []
    report: list[EnvTokenStatus] = []
    for protocol in PROTOCOLS:
        token_var = f"{prefix}_{protocol.upper()}_OAUTH_TOKEN"
        exp_var = f"{prefix}_{protocol.upper()}_OAUTH_EXPIRES_AT"
        token = env.get(token_var, "").strip()
        expires_at: float | None = None
        raw_exp = env.get(exp_var, "").strip()
        if raw_exp:
            try:
                expires_at = float(raw_exp)
            except ValueError:
                raise InvalidArgument(
                    f"{exp_var} is not a unix timestamp in seconds",
                    hint=f"e.g. export {exp_var}=$(date -d '+1 hour' +%s)",
                ) from None
        staged.append(
            (protocol, TokenSet(access_token=token, expires_at=expires_at) if token else None)
        )
        report.append(
            EnvTokenStatus(protocol, token_var, bool(token), expires_at if token else None)
        )
    for protocol, tokens in staged:
        mgr.set_override(protocol, tokens, account_id=account_id)
    return EnvReload(prefix=prefix, account_id=account_id, protocols=tuple(report))
