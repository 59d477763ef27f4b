"""SMTP client on aiosmtplib: one connection reused across a drained batch.

- TLS: ``implicit`` (port 465 style) or ``starttls`` (required, never silently skipped);
  ``none`` only to a loopback host. Certificates are always verified (``ca_file`` for a
  private CA).
- AUTH: PLAIN, else LOGIN for passwords; XOAUTH2 for bearer tokens. When the server rejects
  a bearer token the credential provider gets one chance to refresh it (one retry).
- Delivery runs ``MAIL``/``RCPT`` itself so a ``before_data`` callback can fence the point
  of no return (the outbox re-checks its claim there), and so per-recipient refusals come
  back as data rather than as one exception.
- SIZE (RFC 1870): a message larger than the server's EHLO ``SIZE`` is refused here, before
  ``MAIL FROM``, as :class:`~prx_email.errors.SmtpPermanent` (the outbox marks it ``dead``);
  it is not known before queueing (that needs a connection), so the host's own
  ``max_message_bytes`` is the cap checked before queueing.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import aiosmtplib

from ..auth.credentials import CredentialProvider, OAuthBearer, Password
from ..config.hosts import is_loopback
from ..config.model import AccountConfig, TlsMode
from ..errors import AuthFailed, ConfigError, InternalError, ProtocolError, SmtpPermanent
from ._closing import abort_and_wait
from ._tls import tls_context
from .errors import map_smtp_errors


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the server said about one message."""

    accepted: tuple[str, ...]
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    code: int | None = None  # the reply to the end of DATA; None when DATA was not sent
    reply: str = ""
    data_sent: bool = False


@cache
def _local_hostname() -> str:
    # socket.getfqdn() may block on DNS; the short hostname is enough for EHLO.
    name = socket.gethostname() or "localhost"
    return name if all(c.isalnum() or c in ".-" for c in name) else "localhost"


class SmtpConnection:
    """One authenticated SMTP session for one account."""

    def __init__(self, account: AccountConfig, credentials: CredentialProvider) -> None:
        if account.smtp is None:
            raise ConfigError(
                f"account {account.id} has no SMTP server configured",
                hint="add an [accounts.smtp] section to the config",
            )
        self.account = account
        self.server = account.smtp
        self.credentials = credentials
        self._client: _TrackedSMTP | None = None

    @property
    def host(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def size_limit(self) -> int | None:
        """The server's EHLO ``SIZE`` (RFC 1870); None when not announced or 0 (no limit)."""
        client = self._client
        if client is None:
            return None
        value = client.esmtp_extensions.get("size", "").strip()
        return int(value) if value.isdigit() and int(value) > 0 else None

    @property
    def extensions(self) -> Mapping[str, str]:
        """EHLO extensions of the open connection (lower-case names; after STARTTLS)."""
        return dict(self._client.esmtp_extensions) if self._client is not None else {}

    @property
    def peer_certificate(self) -> Mapping[str, Any] | None:
        """The server's verified certificate (``ssl`` dict form); None without TLS."""
        if self._client is None:
            return None
        cert = self._client.get_transport_info("peercert")
        return cert if isinstance(cert, Mapping) else None

    async def connect(self) -> None:
        """Connect, secure and authenticate.

        :raises ConfigError: plaintext to a non-loopback host.
        :raises ConnectionFailed, TlsFailed, OperationTimeout, AuthFailed, SmtpTransient:
        """
        server = self.server
        if server.tls is TlsMode.NONE and not is_loopback(server.host):
            raise ConfigError(
                f"refusing plaintext SMTP to {server.host}",
                hint="use tls = 'starttls' or 'implicit'; plaintext is only for loopback",
            )
        client = _TrackedSMTP(
            hostname=server.host,
            port=server.port,
            timeout=server.timeout,
            local_hostname=_local_hostname(),
            use_tls=server.tls is TlsMode.IMPLICIT,
            start_tls=server.tls is TlsMode.STARTTLS,
            tls_context=tls_context(server.ca_file) if server.tls is not TlsMode.NONE else None,
        )
        try:
            with map_smtp_errors("connect", self.host):
                await client.connect()
            await self._authenticate(client)
        except BaseException:
            await _release(client)
            raise
        self._client = client

    async def _authenticate(self, client: aiosmtplib.SMTP) -> None:
        if client.is_ehlo_or_helo_needed:
            # After STARTTLS the server's extensions must be asked for again (RFC 3207 4.2).
            with map_smtp_errors("EHLO", self.host):
                await client.ehlo()
        if not self.server.logs_in:
            return  # a loopback relay configured without a credential (config/loader.py)
        methods = {m.lower() for m in client.server_auth_methods}
        for attempt in (1, 2):
            cred = await self.credentials.credential(self.account, "smtp")
            try:
                with map_smtp_errors("AUTH", self.host):
                    if isinstance(cred, Password):
                        if "plain" in methods:
                            await client.auth_plain(cred.username, cred.password)
                        elif "login" in methods:
                            await client.auth_login(cred.username, cred.password)
                        else:
                            raise ProtocolError(
                                f"SMTP server {self.host} offers no PLAIN or LOGIN AUTH",
                                hint="check the port and TLS mode of the SMTP server",
                            )
                    elif isinstance(cred, OAuthBearer):
                        if "xoauth2" not in methods:
                            raise ProtocolError(
                                f"SMTP server {self.host} does not offer AUTH XOAUTH2",
                                hint="use password auth for this server",
                            )
                        await client.auth_xoauth2(cred.username, cred.access_token)
                    else:  # pragma: no cover - the Credential union is closed
                        raise InternalError("unknown credential type")
                return
            except AuthFailed:
                if (
                    attempt == 1
                    and isinstance(cred, OAuthBearer)
                    and await self.credentials.rejected(self.account, "smtp")
                ):
                    continue
                raise

    async def deliver(
        self,
        sender: str,
        recipients: Sequence[str],
        raw: bytes,
        *,
        before_data: Callable[[Mapping[str, tuple[int, str]]], bool] | None = None,
    ) -> Delivery:
        """Send one message on this connection.

        Returns the per-recipient outcome; ``data_sent`` is False when no recipient was
        accepted or ``before_data`` returned False (then the envelope is reset).
        ``before_data`` gets the recipients refused at RCPT (so the caller can persist who
        this DATA will not reach before the point of no return).

        :raises SmtpTransient, SmtpPermanent: MAIL FROM or DATA refused (by reply code).
        :raises ConnectionFailed, OperationTimeout, TlsFailed: the session broke.
        """
        client = self._client
        if client is None or not client.is_connected:
            raise InternalError("SMTP connection is not open")
        limit = self.size_limit
        if limit is not None and len(raw) > limit:
            raise SmtpPermanent(
                f"the message is {len(raw)} bytes, over the {limit} byte SIZE limit of SMTP"
                f" server {self.host}",
                hint="send a smaller message (fewer or smaller attachments)",
            )
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        with map_smtp_errors("MAIL FROM", self.host):
            await client.mail(sender)
        with map_smtp_errors("RCPT TO", self.host):
            for rcpt in recipients:
                try:
                    await client.rcpt(rcpt)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused[rcpt] = (exc.code, " ".join(exc.message.split()))
                else:
                    accepted.append(rcpt)
        if not accepted or (before_data is not None and not before_data(refused)):
            await self.reset()
            return Delivery(accepted=(), refused=refused)
        with map_smtp_errors("DATA", self.host):
            response = await client.data(raw)
        return Delivery(
            accepted=tuple(accepted),
            refused=refused,
            code=response.code,
            reply=" ".join(response.message.split()),
            data_sent=True,
        )

    async def reset(self) -> None:
        """RSET after a failed transaction; drops the connection if that fails too."""
        client = self._client
        if client is None or not client.is_connected:
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self.abort()

    async def abort(self) -> None:
        """Drop the connection (after an error; nothing left worth flushing).

        Returns once the socket is released.
        """
        client, self._client = self._client, None
        if client is not None:
            await _release(client)

    async def close(self) -> None:
        """QUIT and close; returns once the socket is released (also when cancelled)."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            await _release(client)


class _TrackedSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, remembering every transport it drops.

    aiosmtplib closes and forgets its transport by itself (after QUIT, a timeout, a failed
    connect or STARTTLS), without waiting for the close to finish; we keep them so
    :func:`_release` can wait until each socket is really released.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dropped: list[asyncio.BaseTransport] = []

    def close(self) -> None:
        if self.transport is not None:
            self.dropped.append(self.transport)
        super().close()


async def _release(client: _TrackedSMTP) -> None:
    # After QUIT (or an error) there is nothing to flush: abort rather than close, which on
    # a TLS transport would wait for the peer's close_notify.
    client.close()
    transports, client.dropped = client.dropped, []
    for transport in transports:
        await abort_and_wait(transport)


__all__ = ["Delivery", "SmtpConnection"]
