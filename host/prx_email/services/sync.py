"""IMAP sync service (issue 3). Stub: replaced by the real implementation."""

from __future__ import annotations

from ..errors import InternalError
from ..types import MessagePage, SearchQuery, SyncReport, SyncRequest
from .context import ServiceContext


async def sync(ctx: ServiceContext, req: SyncRequest) -> SyncReport:
    """Fetch new mail for one account (one folder or its default folders)."""
    raise InternalError("IMAP sync is not implemented yet")


async def search_remote(ctx: ServiceContext, query: SearchQuery) -> MessagePage:
    """Run the query as IMAP SEARCH on the server."""
    raise InternalError("remote search is not implemented yet")
