"""prx-email: a WebAssembly-sandboxed email plugin for AI-agent runtimes.

Embed it with ``open_plugin``; errors on the Python API are ``EmailError`` subclasses.

The public names are loaded on first use (PEP 562), so ``import prx_email.services.sync``
or a CLI subcommand does not pay for wasmtime and the crypto stack it does not use.
"""

from __future__ import annotations

from ._lazy import lazy_getattr

# Not ``typing.TYPE_CHECKING``: importing typing (and re, collections) costs a one-process-
# per-request adapter several ms, and mypy treats this name the same.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .api import Plugin, load_config, open_plugin
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
    from .envelope import Envelope
    from .errors import EmailError, ErrorCode
    from .runtime import Limits

_LAZY = {
    "Envelope": ".envelope",
    "Plugin": ".api",
    "load_config": ".api",
    "open_plugin": ".api",
    "ConfigReload": ".auth",
    "CredentialManager": ".auth",
    "EnvReload": ".auth",
    "OAuthRefreshProvider": ".auth",
    "RefreshTokenGrant": ".auth",
    "SecretTampered": ".auth",
    "TokenSet": ".auth",
    "reload_auth_from_env": ".auth",
    "reload_config": ".auth",
    "NETWORK_ENV": ".bridge",
    "HostServices": ".bridge",
    "network_enabled": ".bridge",
    "Limits": ".runtime",
    "EmailError": ".errors",
    "ErrorCode": ".errors",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


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
