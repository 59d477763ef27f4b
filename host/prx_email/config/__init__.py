"""Configuration: the typed model, per-user paths and (``loader``) the TOML file."""

from .model import (
    AccountConfig,
    ActionSettings,
    AttachmentPolicy,
    Auth,
    Config,
    OAuth2Auth,
    PasswordAuth,
    SendSettings,
    ServerConfig,
    SyncSettings,
    TlsMode,
)
from .paths import resolve_config_path, resolve_db_path

__all__ = [
    "AccountConfig",
    "ActionSettings",
    "AttachmentPolicy",
    "Auth",
    "Config",
    "OAuth2Auth",
    "PasswordAuth",
    "SendSettings",
    "ServerConfig",
    "SyncSettings",
    "TlsMode",
    "resolve_config_path",
    "resolve_db_path",
]
