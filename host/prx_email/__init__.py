"""prx-email: a WebAssembly-sandboxed email plugin for AI-agent runtimes.

Embed it with ``open_plugin``; errors on the Python API are ``EmailError`` subclasses.
"""

from .api import Envelope, Plugin, load_config, open_plugin
from .auth import (
    ConfigReload,
    CredentialManager,
    EnvReload,
    OAuthRefreshProvider,
    RefreshTokenGrant,
    SecretTampered,
    TokenSet,
    reload_auth_from_env,
    reload_config,
)
from .bridge import NETWORK_ENV, HostServices, network_enabled
from .errors import EmailError, ErrorCode
from .runtime import Limits

__all__ = [
    "NETWORK_ENV",
    "ConfigReload",
    "CredentialManager",
    "EmailError",
    "EnvReload",
    "Envelope",
    "ErrorCode",
    "HostServices",
    "Limits",
    "OAuthRefreshProvider",
    "Plugin",
    "RefreshTokenGrant",
    "SecretTampered",
    "TokenSet",
    "load_config",
    "network_enabled",
    "open_plugin",
    "reload_auth_from_env",
    "reload_config",
]
