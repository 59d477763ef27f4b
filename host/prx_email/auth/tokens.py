"""OAuth2 token sets and their encrypted, 0600 on-disk store.

A token set is the access token, its expiry, and the refresh token that renews it.
It is saved as sealed JSON (see :mod:`.secrets`) in one file per account by default:
``<data dir>/secrets/tokens/account-<id>.token``; ``OAuth2Auth.token_file`` overrides it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._perms import check_private
from .secrets import (
    SecretBox,
    check_parent_safe,
    ensure_private_dir,
    read_private,
    secrets_dir,
    write_private,
)

_PURPOSE = b"prx-email token-set v1"


@dataclass(frozen=True, slots=True)
class TokenSet:
    """Access token (+ expiry, unix seconds; None = unknown) and optional refresh token."""

    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    obtained_at: float | None = None

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """True when there is no access token or it expires within ``seconds`` of ``now``."""
        if not self.access_token:
            return True
        if self.expires_at is None:
            return False
        return self.expires_at - seconds <= (time.time() if now is None else now)

    def merged(self, grant: TokenSet) -> TokenSet:
        """This set updated by a refresh result; keeps the refresh token unless rotated."""
        return replace(
            grant,
            refresh_token=grant.refresh_token or self.refresh_token,
            scope=grant.scope or self.scope,
        )

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "access_token": self.access_token,
                "expires_at": self.expires_at,
                "refresh_token": self.refresh_token,
                "scope": self.scope,
                "obtained_at": self.obtained_at,
            },
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, source: str) -> TokenSet:
        """:raises ConfigError: not a token set."""
        try:
            obj: Any = json.loads(data)
            if not isinstance(obj, dict) or obj.get("v") != 1:
                raise ValueError("unexpected layout")
            return cls(
                access_token=_opt_str(obj.get("access_token")),
                expires_at=_opt_float(obj.get("expires_at")),
                refresh_token=_opt_str(obj.get("refresh_token")),
                scope=_opt_str(obj.get("scope")),
                obtained_at=_opt_float(obj.get("obtained_at")),
            )
        except (ValueError, TypeError):
            raise ConfigError(f"{source} does not hold a token set") from None


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return float(value)


def default_token_path(account_id: int) -> Path:
    return secrets_dir() / "tokens" / f"account-{account_id}.token"


class TokenFile:
    """One sealed token set on disk (0600; its directory 0700 when we create it)."""

    __slots__ = ("_box", "path")

    def __init__(self, path: Path, box: SecretBox) -> None:
        self.path = path
        self._box = box

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> TokenSet | None:
        """The stored set, or None when the file does not exist.

        :raises ConfigError: loose permissions, tampering, or not a token set.
        """
        if not self.path.exists():
            return None
        sealed = read_private(self.path)
        plain = self._box.open(sealed, purpose=_PURPOSE, source=f"token file {self.path}")
        return TokenSet.from_json(plain, source=f"token file {self.path}")

    def save(self, tokens: TokenSet) -> None:
        """Seal and write atomically.

        :raises ConfigError: the directory is unsafe or the file cannot be written.
        """
        parent = self.path.parent
        if parent == secrets_dir() / "tokens" or not parent.exists():
            ensure_private_dir(parent)
        else:
            check_parent_safe(self.path)
        if self.path.exists():
            check_private(self.path)  # refuse to overwrite a file someone loosened
        write_private(self.path, self._box.seal(tokens.to_json(), purpose=_PURPOSE))
