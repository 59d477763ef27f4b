"""Configuration: the typed model, per-user paths, which config is in force (``resolve``)
and (``loader``) the TOML file."""

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
    ToolLimitSettings,
)
from .paths import resolve_config_path, resolve_db_path
from .resolve import LOCAL_ACCOUNT, account_block, load_config, local_config

__all__ = [
    "LOCAL_ACCOUNT",
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
    "ToolLimitSettings",
    "account_block",
    "load_config",
    "local_config",
    "resolve_config_path",
    "resolve_db_path",
]
