"""Opening an IMAP connection: TCP, implicit TLS or STARTTLS, greeting — via aioimaplib.

aioimaplib connects, verifies TLS and reads the greeting and capabilities; it has no
STARTTLS, so the upgrade is done here with ``loop.start_tls`` on its transport. After that
the transport is handed to our own :class:`ResponseReader` for everything else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from pathlib import Path

import aioimaplib

from ...config.model import ServerConfig, TlsMode
from ...errors import ConfigError, TlsFailed
from ._reader import ResponseReader


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context; ``ca_file`` adds a private CA (verification stays on)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load ca_file {ca_file}: {exc}",
                hint="point ca_file at a PEM file with the server's CA certificate",
            ) from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


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
    try:
        await client.wait_hello_from_server()
    except BaseException:
        _abort(client)
        raise
    proto = client.protocol
    transport: asyncio.Transport = proto.transport
    caps = frozenset(c.upper() for c in proto.capabilities)
    if server.tls is TlsMode.STARTTLS:
        assert ctx is not None
        if "STARTTLS" not in caps:
            transport.abort()
            raise TlsFailed(
                f"{server.host}:{server.port} does not offer STARTTLS",
                hint='use tls = "implicit" on the server\'s IMAPS port (usually 993)',
            )
        try:
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
        except BaseException:
            transport.abort()
            raise
        if new_transport is None:  # pragma: no cover - only when the transport closed
            raise ConnectionResetError("connection closed during STARTTLS")
        transport = new_transport
        caps = frozenset()  # capabilities before STARTTLS must be discarded (RFC 3501 6.2.1)
    reader = ResponseReader()
    reader.take_over(transport)
    return reader, caps


def _abort(client: aioimaplib.IMAP4) -> None:
    task = getattr(client, "_client_task", None)
    if task is not None and not task.done():
        task.cancel()
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.abort()
