"""The one permission check for files and directories that hold secrets."""

from __future__ import annotations

import stat
from pathlib import Path

from ..errors import ConfigError


def check_private(path: Path, *, kind: str = "file") -> None:
    """Refuse a secret file (or directory) that group or others can access.

    :raises ConfigError: missing, unreadable or too permissive.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(
            f"cannot read secret {kind} {path}: {exc.strerror}",
            hint="check the path in the config",
        ) from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        mode = "700" if kind == "directory" else "600"
        raise ConfigError(
            f"secret {kind} {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):o})",
            hint=f"run: chmod {mode} {path}",
        )
