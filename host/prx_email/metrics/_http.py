"""The metrics endpoint of the long-running commands (``sync --watch``, ``watch``, ``mcp``).

Loopback only unless the caller passes ``allow_remote`` (``[metrics] allow_remote = true``):
the page names accounts and folders, and an operator must opt in to publishing that.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..config.hosts import is_loopback
from ..errors import ConfigError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from ..services.context import ServiceContext

__all__ = ["DEFAULT_LISTEN", "MetricsServer", "parse_listen", "serve_configured", "serve_metrics"]

DEFAULT_LISTEN = "127.0.0.1:9464"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` for 127.0.0.1) → (host, port).

    :raises ConfigError: not HOST:PORT, or a port outside 0-65535.
    """
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"  # ":9464": loopback
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"metrics address must be HOST:PORT, got {text!r}",
            hint=f"e.g. --metrics {DEFAULT_LISTEN}",
        )
    return host, int(port)


class MetricsServer:
    """A running endpoint; ``close()`` stops it."""

    __slots__ = ("_server", "_thread", "host", "port")

    def __init__(self, host: str, port: int, server: WSGIServer, thread: threading.Thread):
        self.host = host
        self.port = port
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    host: str,
    port: int,
    *,
    ctx: ServiceContext | None = None,
    allow_remote: bool = False,
) -> MetricsServer:
    """Serve the metrics (and, given ``ctx``, the store's gauges) over HTTP from a thread.

    ``port`` 0 picks a free port (``MetricsServer.port`` says which).

    :raises ConfigError: a non-loopback ``host`` without ``allow_remote``, or the address
        cannot be bound.
    """
    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve metrics on {host}: not a loopback address",
            hint="use 127.0.0.1, or set [metrics] allow_remote = true to publish them",
        )
    from prometheus_client import start_http_server

    from ._export import registry_for

    try:
        server, thread = start_http_server(port, addr=host, registry=registry_for(ctx))
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
            hint="choose another port (--metrics HOST:PORT or [metrics] listen)",
        ) from None
    return MetricsServer(host, int(server.server_address[1]), server, thread)


def serve_configured(ctx: ServiceContext, listen: str | None = None) -> MetricsServer | None:
    """The endpoint a long-running command asked for: ``listen`` (its ``--metrics`` flag),
    else the config's ``[metrics] listen``; None when neither is set.

    :raises ConfigError: a bad or non-loopback address (without ``allow_remote``), or a port
        that cannot be bound.
    """
    settings = ctx.config.metrics
    address = listen or settings.listen
    if address is None:
        return None
    host, port = parse_listen(address)
    return serve_metrics(host, port, ctx=ctx, allow_remote=settings.allow_remote)
