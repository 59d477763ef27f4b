"""Configuration: the typed model, per-user paths and (``loader``) the TOML file."""

from .model import (
    AccountConfig,
    AttachmentPolicy,
    Auth,
    Config,
    OAuth2Auth,
    PasswordAuth,
    SendSettings,
    ServerConfig,
    SyncSettings,
    TlsMode,
    ToolLimitSettings,
)
from .paths import resolve_config_path, resolve_db_path

__all__ = [
    "AccountConfig",
    "AttachmentPolicy",
    "Auth",
    "Config",
    "OAuth2Auth",
    "PasswordAuth",
    "SendSettings",
    "ServerConfig",
    "SyncSettings",
    "TlsMode",
    "ToolLimitSettings",
    "resolve_config_path",
    "resolve_db_path",
]
