"""Credentials for IMAP and SMTP: passwords and OAuth2 tokens, resolved at connect time.

The mail clients only see :class:`CredentialProvider`; :class:`CredentialManager` is the
implementation with the OAuth2 lifecycle (refresh before expiry, single-flight per account,
refresh-once on rejection, sealed token files), :func:`reload_auth_from_env` and
:func:`reload_config` apply new tokens or a new config without a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr
from .credentials import (
    Credential,
    CredentialProvider,
    OAuthBearer,
    Password,
    StaticCredentialProvider,
    read_secret_file,
    xoauth2_initial_response,
)

if TYPE_CHECKING:
    from .envreload import (
        EnvReload,
        reload_auth_from_env,
    )
    from .manager import (
        AuthStatus,
        CredentialManager,
        default_manager,
    )
    from .refresh import (
        OAuthRefreshProvider,
        RefreshTokenGrant,
    )
    from .reload import (
        ConfigHolder,
        ConfigReload,
        reload_config,
    )
    from .secrets import (
        SecretBox,
        SecretTampered,
    )
    from .tokens import (
        TokenSet,
    )
    from .validate import (
        validate_auth,
        validate_oauth2,
    )

# Loaded on first use: the OAuth2 and sealing modules import cryptography and urllib,
# which every IMAP/SMTP connection with a plain password does not need.
_LAZY = {
    "EnvReload": ".envreload",
    "reload_auth_from_env": ".envreload",
    "AuthStatus": ".manager",
    "CredentialManager": ".manager",
    "default_manager": ".manager",
    "OAuthRefreshProvider": ".refresh",
    "RefreshTokenGrant": ".refresh",
    "ConfigHolder": ".reload",
    "ConfigReload": ".reload",
    "reload_config": ".reload",
    "SecretBox": ".secrets",
    "SecretTampered": ".secrets",
    "TokenSet": ".tokens",
    "validate_auth": ".validate",
    "validate_oauth2": ".validate",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "AuthStatus",
    "ConfigHolder",
    "ConfigReload",
    "Credential",
    "CredentialManager",
    "CredentialProvider",
    "EnvReload",
    "OAuthBearer",
    "OAuthRefreshProvider",
    "Password",
    "RefreshTokenGrant",
    "SecretBox",
    "SecretTampered",
    "StaticCredentialProvider",
    "TokenSet",
    "default_manager",
    "read_secret_file",
    "reload_auth_from_env",
    "reload_config",
    "validate_auth",
    "validate_oauth2",
    "xoauth2_initial_response",
]
