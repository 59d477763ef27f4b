"""Outbox service (issue 4). Stub: replaced by the real implementation."""

from __future__ import annotations

from ..errors import InternalError
from ..types import OutboxEntry, OutboxPage, OutboxQuery, OutgoingMessage, ReplyRequest
from .context import ServiceContext


async def send(ctx: ServiceContext, msg: OutgoingMessage) -> OutboxEntry:
    """Queue a message durably, then deliver it."""
    raise InternalError("sending is not implemented yet")


async def reply(ctx: ServiceContext, req: ReplyRequest) -> OutboxEntry:
    """Queue a reply to a stored message, then deliver it."""
    raise InternalError("replying is not implemented yet")


async def retry(ctx: ServiceContext, outbox_id: int) -> OutboxEntry:
    """Deliver a pending or failed row that is due."""
    raise InternalError("retry is not implemented yet")


def list_outbox(ctx: ServiceContext, query: OutboxQuery) -> OutboxPage:
    """Outbox rows, newest first."""
    raise InternalError("the outbox is not implemented yet")
