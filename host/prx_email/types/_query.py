"""Read requests over the local store: listings and searches."""

from __future__ import annotations

from dataclasses import dataclass

from . import AccountId, Timestamp


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Listing request for one account."""

    account_id: AccountId
    folder: str | None = None
    unseen_only: bool = False
    limit: int = 50
    cursor: str | None = None
    #: True: only automated mail (loop prevention); False: only the rest; None: both.
    automated: bool | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Every present criterion must match; ``remote`` runs it as IMAP SEARCH."""

    account_id: AccountId
    text: str | None = None
    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    body: str | None = None
    since: Timestamp | None = None
    before: Timestamp | None = None
    unseen: bool | None = None
    folder: str | None = None
    limit: int = 50
    cursor: str | None = None
    remote: bool = False
    automated: bool | None = None
