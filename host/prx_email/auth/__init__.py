"""Credentials for IMAP and SMTP: passwords and OAuth2 tokens, resolved at connect time.

The mail clients only see :class:`CredentialProvider`; :class:`CredentialManager` is the
implementation with the OAuth2 lifecycle (refresh before expiry, single-flight per account,
refresh-once on rejection, sealed token files), :func:`reload_auth_from_env` and
:func:`reload_config` apply new tokens or a new config without a restart.
"""

from .credentials import (
    Credential,
    CredentialProvider,
    OAuthBearer,
    Password,
    StaticCredentialProvider,
    read_secret_file,
    xoauth2_initial_response,
)
from .envreload import EnvReload, reload_auth_from_env
from .manager import AuthStatus, CredentialManager, default_manager
from .refresh import OAuthRefreshProvider, RefreshTokenGrant
from .reload import ConfigHolder, ConfigReload, reload_config
from .secrets import SecretBox, SecretTampered
from .tokens import TokenSet
from .validate import validate_auth, validate_oauth2

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
