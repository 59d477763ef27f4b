"""A configured account as the agent may see it."""

from __future__ import annotations

from dataclasses import dataclass

from . import AccountId


@dataclass(frozen=True, slots=True)
class Account:
    """A configured account as the agent may see it (no credentials)."""

    id: AccountId
    name: str
    address: str
    has_imap: bool
    has_smtp: bool
    folders: tuple[str, ...] = ("INBOX",)
