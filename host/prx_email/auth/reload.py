"""Re-read the config file at runtime; keep the old config when the new one is invalid.

``reload_config(holder)`` works on anything with a mutable ``config`` attribute — the
:class:`~prx_email.services.context.ServiceContext` of a running plugin, or a
:class:`ConfigHolder`. The swap is a single attribute assignment, so a connection that
already started keeps the config it read; the next one sees the new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..config.model import AccountConfig, Config
from ..config.paths import resolve_config_path
from ..errors import ConfigError, EmailError
from .credentials import CredentialProvider
from .manager import CredentialManager

log = logging.getLogger("prx_email.auth")


class HasConfig(Protocol):
    config: Config


@dataclass(slots=True)
class ConfigHolder:
    """The current config plus the credential provider that depends on it."""

    config: Config
    credentials: CredentialProvider | None = None


@dataclass(frozen=True, slots=True)
class ConfigReload:
    """What a successful reload changed, by account id."""

    source: Path
    added: tuple[int, ...]
    removed: tuple[int, ...]
    changed: tuple[int, ...]

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _by_id(config: Config) -> dict[int, AccountConfig]:
    return {acc.id: acc for acc in config.accounts}


def reload_config(holder: HasConfig, path: Path | str | None = None) -> ConfigReload:
    """Load the config file again and swap it in when it is valid.

    ``path`` defaults to the file the current config came from, else the usual
    ``--config``/``PRX_EMAIL_CONFIG`` resolution.

    :raises ConfigError: the new file is invalid; ``holder.config`` is left untouched and
        the message says so.
    """
    from ..config.loader import load_config  # the loader imports auth for validation

    old = holder.config
    source = Path(path) if path is not None else old.source or resolve_config_path()
    try:
        new = load_config(source)
    except EmailError as exc:
        log.warning("config reload from %s failed; keeping the previous config", source)
        raise ConfigError(
            f"config {source} not reloaded, the previous configuration stays in effect: "
            f"{exc.message}",
            hint=exc.hint or "fix the file and run `prx-email auth reload` again",
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"config {source} not reloaded, the previous configuration stays in effect: "
            f"{exc.__class__.__name__}",
            hint="fix the file and run `prx-email auth reload` again",
        ) from None
    before, after = _by_id(old), _by_id(new)
    result = ConfigReload(
        source=source,
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(i for i in before.keys() & after.keys() if before[i] != after[i])),
    )
    holder.config = new
    creds = getattr(holder, "credentials", None)
    if isinstance(creds, CredentialManager):
        creds.forget()
    log.info(
        "config reloaded from %s: %d added, %d removed, %d changed",
        source,
        len(result.added),
        len(result.removed),
        len(result.changed),
    )
    return result
