"""Sync requests and their outcome."""

from __future__ import annotations

from dataclasses import dataclass

from . import AccountId


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """Sync request for one account and folder."""

    account_id: AccountId
    folder: str | None = None
    max_messages: int | None = None


@dataclass(frozen=True, slots=True)
class FolderReport:
    """Outcome of syncing one folder."""

    folder: str
    fetched: int = 0
    flags_updated: int = 0
    expunged: int = 0
    uidvalidity_reset: bool = False
    more_pending: bool = False


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Outcome of one sync call."""

    account_id: AccountId
    folders: tuple[FolderReport, ...]
