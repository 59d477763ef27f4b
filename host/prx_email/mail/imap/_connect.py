"""Opening an IMAP connection: TCP, implicit TLS or STARTTLS, greeting — via aioimaplib.

aioimaplib connects, verifies TLS and reads the greeting and capabilities; it has no
STARTTLS, so the upgrade is done here with ``loop.start_tls`` on its transport. After that
the transport is handed to our own :class:`ResponseReader` for everything else.
"""

from __future__ import annotations

import asyncio
import ssl

import aioimaplib

from ...config.hosts import is_loopback
from ...config.model import ServerConfig, TlsMode
from ...errors import ConfigError, TlsFailed
from .._closing import abort_and_wait
from .._tls import tls_context
from ._reader import ResponseReader

__all__ = ["open_transport", "tls_context"]


async def open_transport(
    server: ServerConfig, timeout: float
) -> tuple[ResponseReader, frozenset[str]]:
    """Connect, secure and greet; returns our reader (owning the transport) and capabilities.

    Raises library exceptions (ssl, OSError, asyncio timeouts, aioimaplib); callers wrap this
    in ``mail.errors.map_imap_errors``.
    """
    if server.tls is TlsMode.NONE and not is_loopback(server.host):
        raise ConfigError(
            f"plain IMAP to {server.host} is refused",
            hint='use tls = "implicit" or "starttls"; plain is only allowed to loopback',
        )
    ctx = tls_context(server.ca_file) if server.tls is not TlsMode.NONE else None
    client: aioimaplib.IMAP4
    if server.tls is TlsMode.IMPLICIT:
        client = aioimaplib.IMAP4_SSL(
            host=server.host, port=server.port, timeout=timeout, ssl_context=ctx
        )
    else:
        client = aioimaplib.IMAP4(host=server.host, port=server.port, timeout=timeout)
    transport: asyncio.Transport | None = None
    try:
        await client.wait_hello_from_server()
        proto = client.protocol
        transport = proto.transport
        caps = frozenset(c.upper() for c in proto.capabilities)
        if server.tls is TlsMode.STARTTLS:
            assert ctx is not None and transport is not None
            transport = await _starttls(proto, transport, server, ctx, caps, timeout)
            caps = frozenset()  # capabilities before STARTTLS must be discarded (RFC 3501 6.2.1)
    except BaseException:
        # Refused greeting, TLS failure, timeout or cancellation: the socket is released
        # before the error leaves here, never on a later loop turn.
        await _abort(client, transport)
        raise
    assert transport is not None
    reader = ResponseReader()
    reader.take_over(transport)
    return reader, caps


async def _starttls(
    proto: aioimaplib.IMAP4ClientProtocol,
    transport: asyncio.Transport,
    server: ServerConfig,
    ctx: ssl.SSLContext,
    caps: frozenset[str],
    timeout: float,
) -> asyncio.Transport:
    if "STARTTLS" not in caps:
        raise TlsFailed(
            f"{server.host}:{server.port} does not offer STARTTLS",
            hint='use tls = "implicit" on the server\'s IMAPS port (usually 993)',
        )
    resp = await asyncio.wait_for(
        proto.execute(aioimaplib.Command("STARTTLS", proto.new_tag(), loop=proto.loop)),
        timeout,
    )
    if resp.result != "OK":
        raise TlsFailed(f"{server.host} refused STARTTLS")
    loop = asyncio.get_running_loop()
    new_transport = await asyncio.wait_for(
        loop.start_tls(transport, proto, ctx, server_hostname=server.host), timeout
    )
    if new_transport is None:  # pragma: no cover - only when the transport closed
        raise ConnectionResetError("connection closed during STARTTLS")
    return new_transport


async def _abort(client: aioimaplib.IMAP4, transport: asyncio.Transport | None) -> None:
    """Stop aioimaplib's connect task and release the socket, waiting for both."""
    task = getattr(client, "_client_task", None)
    if task is not None and not task.done():
        task.cancel()
    try:
        if task is not None:
            # A connect cancelled mid-handshake closes its own half-made transport.
            await asyncio.wait({task}, timeout=1.0)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" later
    finally:
        if transport is None:
            transport = getattr(client.protocol, "transport", None)
        await abort_and_wait(transport)
