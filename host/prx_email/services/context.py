"""What every service needs, passed explicitly: configuration, store, credentials, clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..auth.credentials import CredentialProvider, StaticCredentialProvider
from ..config.model import AccountConfig, Config
from ..errors import AccountNotFound
from ..store.db import Database


@dataclass(slots=True)
class ServiceContext:
    """Shared state of one plugin instance. ``config`` may be swapped by a reload."""

    config: Config
    db: Database
    credentials: CredentialProvider = field(default_factory=StaticCredentialProvider)
    clock: Callable[[], float] = time.time

    def account(self, account_id: int) -> AccountConfig:
        """:raises AccountNotFound: no account with that id is configured."""
        acc = self.config.account(account_id)
        if acc is None:
            known = ", ".join(str(a.id) for a in self.config.accounts) or "none"
            raise AccountNotFound(
                f"no account with id {account_id}",
                hint=f"configured account ids: {known} (config: {self.config.describe_source()}); "
                "see `prx-email call email.accounts`",
            )
        return acc
