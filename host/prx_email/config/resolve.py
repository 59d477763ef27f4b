"""Which configuration is in force: a given ``Config``, a named file, or the default.

With no config file at the default path the plugin still works offline: the config holds
one local account (:data:`LOCAL_ACCOUNT`, no IMAP or SMTP) so mail brought in by
``prx-email import`` is queryable at once. Its id is fixed, so the mail keeps its account
when a config file is written later (:func:`account_block` gives the lines to keep).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from .model import AccountConfig, Config
from .paths import resolve_config_path

__all__ = ["LOCAL_ACCOUNT", "PathArg", "account_block", "load_config", "local_config"]

PathArg = str | os.PathLike[str]

LOCAL_ACCOUNT = AccountConfig(id=1, name="local", address="local@localhost")


def local_config(source: Path | None = None) -> Config:
    """The config used when no file exists at the default path: the local account only."""
    return Config(accounts=(LOCAL_ACCOUNT,), source=source, source_missing=source is not None)


def load_config(config: Config | PathArg | None, *, file_modes: bool = True) -> Config:
    """A ``Config`` as given, else the file ``config`` / ``PRX_EMAIL_CONFIG`` / the default.

    A missing default file gives :func:`local_config` (``source_missing`` set); a missing
    file that was named (argument or ``PRX_EMAIL_CONFIG``) is an error.

    :raises ConfigError: the named file is missing, or the file is unreadable or invalid.
    """
    if isinstance(config, Config):
        return config
    path = resolve_config_path(config)
    explicit = config is not None or bool(os.environ.get("PRX_EMAIL_CONFIG"))
    if not path.exists():
        if explicit:
            raise ConfigError(
                f"config file not found: {path}",
                hint="create it (see docs/config.md), fix --config / PRX_EMAIL_CONFIG, "
                "or unset them to use the default path",
            )
        return local_config(path)
    from .loader import load_config as load_file  # the loader pulls in auth validation

    return load_file(path, file_modes=file_modes)


def account_block(account_id: int) -> str:
    """The TOML lines that configure ``account_id`` as a local account (no servers)."""
    if account_id == LOCAL_ACCOUNT.id:
        name, address = LOCAL_ACCOUNT.name, LOCAL_ACCOUNT.address
    else:
        name, address = f"local-{account_id}", f"local-{account_id}@localhost"
    return "\n".join(
        (
            "[[accounts]]",
            f"id = {account_id}",
            f'name = "{name}"',
            f'address = "{address}"',
            "# add [accounts.imap] / [accounts.smtp] to sync or send (docs/config.md)",
        )
    )
