"""Per-user locations (XDG on Linux) and the precedence rules for the store and config paths."""

from __future__ import annotations

import os
from pathlib import Path

APP = "prx-email"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    base = Path(value) if value else Path.home() / fallback
    return base / APP


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache")


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--db``, else ``PRX_EMAIL_DB``, else ``<data dir>/mail.db``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PRX_EMAIL_DB")
    if env:
        return Path(env)
    return data_dir() / "mail.db"


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``PRX_EMAIL_CONFIG``, else ``<config dir>/config.toml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PRX_EMAIL_CONFIG")
    if env:
        return Path(env)
    return config_dir() / "config.toml"
