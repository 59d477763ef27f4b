"""Shared setup for the outbox tests: accounts pointing at the test servers, contexts."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fixtures.smtpd import PASSWORD_ENV, USER, SmtpSink
from prx_email.auth.credentials import Credential, OAuthBearer
from prx_email.config.model import (
    AccountConfig,
    AttachmentPolicy,
    Config,
    PasswordAuth,
    SendSettings,
    ServerConfig,
    TlsMode,
)
from prx_email.errors import EmailError
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.types import OutboxEntry

ADDRESS = "me@example.com"


def smtp_server(sink: SmtpSink, *, timeout: float = 10.0, **kw: Any) -> ServerConfig:
    tls = {"starttls": TlsMode.STARTTLS, "implicit": TlsMode.IMPLICIT, "none": TlsMode.NONE}
    return ServerConfig(
        host=sink.host,
        port=sink.port,
        tls=tls[sink.tls],
        username=USER,
        auth=PasswordAuth(password_env=PASSWORD_ENV),
        ca_file=sink.tls_files.ca_file if sink.tls_files else None,
        timeout=timeout,
        **kw,
    )


def account(
    sink: SmtpSink,
    *,
    id: int = 1,
    imap: ServerConfig | None = None,
    send: SendSettings | None = None,
    address: str = ADDRESS,
) -> AccountConfig:
    return AccountConfig(
        id=id,
        name=f"acct{id}",
        address=address,
        smtp=smtp_server(sink),
        imap=imap,
        send=send or SendSettings(backoff_base_seconds=1.0, append_to_sent=False),
    )


def context(
    db_path: Path | str,
    *accounts: AccountConfig,
    attachments: AttachmentPolicy | None = None,
    **kw: Any,
) -> ServiceContext:
    cfg = Config(accounts=tuple(accounts), attachments=attachments or AttachmentPolicy())
    return ServiceContext(config=cfg, db=Database(db_path), **kw)


class Clock:
    """A controllable clock for backoff and lease tests."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BearerProvider:
    """OAuth2 credentials: serves ``tokens`` in order; ``rejected`` moves to the next."""

    def __init__(self, tokens: list[str], username: str = USER) -> None:
        self.tokens = tokens
        self.username = username
        self.rejections = 0

    async def credential(self, account: AccountConfig, protocol: str) -> Credential:
        return OAuthBearer(self.username, self.tokens[0])

    async def rejected(self, account: AccountConfig, protocol: str) -> bool:
        self.rejections += 1
        if len(self.tokens) > 1:
            self.tokens.pop(0)
            return True
        return False


__all__ = ["Clock", "account", "context", "replace", "smtp_server", "undelivered"]


async def undelivered(
    ctx: ServiceContext, call: Awaitable[OutboxEntry], error: type[EmailError] = EmailError
) -> OutboxEntry:
    """Await a send/reply/retry that must fail with ``error`` and leave its row queued.

    The error names the row ("outbox row N") and carries a hint; returns that row.
    """
    from prx_email.services import outbox

    with pytest.raises(error) as info:
        await call
    m = re.search(r"outbox row (\d+)", info.value.message)
    assert m is not None, info.value.message
    assert info.value.hint, info.value
    return outbox.get_entry(ctx, int(m.group(1)))
