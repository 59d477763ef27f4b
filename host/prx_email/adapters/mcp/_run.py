"""Running the server: stdio (the default) or streamable HTTP.

On stdio the SDK claims the process's stdout for the protocol (fd 1 points at stderr while
it serves, so stray output cannot corrupt the stream); the plugin is opened inside that
claim, and logs go to stderr. Over HTTP, uvicorn serves the SDK's streamable-HTTP app behind
``BearerGate`` on a socket bound here (so port 0 works: the chosen address is logged).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp.server import NotificationOptions
from mcp.server.stdio import stdio_server

from ...api import Plugin
from ...errors import EmailError
from ._auth import BearerGate
from ._changes import ChangeSource
from ._server import McpApp, build_server

__all__ = ["HttpSettings", "serve_http", "serve_stdio"]

log = logging.getLogger(__name__)

OpenPlugin = Callable[[], Plugin]
#: Makes the change source for a plugin (default: a ``StoreWatcher`` over its store).
SourceFactory = Callable[[Plugin], ChangeSource]


async def _open(open_plugin: OpenPlugin, source: SourceFactory | None) -> McpApp:
    plugin = await asyncio.to_thread(open_plugin)
    try:
        made = source(plugin) if source is not None else None
        return await asyncio.to_thread(lambda: McpApp(plugin, source=made))
    except BaseException:
        await asyncio.to_thread(plugin.close)
        raise


async def serve_stdio(
    open_plugin: OpenPlugin, *, version: str = "", source: SourceFactory | None = None
) -> None:
    """Serve one client on stdin/stdout until it closes them.

    :raises EmailError: the plugin cannot be opened (a bad config, a missing component).
    """
    try:
        async with stdio_server() as (read, write):
            app = await _open(open_plugin, source)
            server = build_server(app, version=version)
            log.info("serving MCP on stdio: %d tools", len(app.tools))
            app.start()
            try:
                options = server.create_initialization_options(NotificationOptions())
                await server.run(read, write, options)
            finally:
                await app.stop()
                await asyncio.to_thread(app.plugin.close)
    except* EmailError as group:  # the SDK's task group wraps what the body raised
        raise group.exceptions[0] from None


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where to listen, and the bearer token every request must carry (never in a repr)."""

    host: str
    port: int
    token: str = field(repr=False)
    path: str = "/mcp"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv6 when the host is an IPv6 literal)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve_http(
    open_plugin: OpenPlugin,
    settings: HttpSettings,
    *,
    version: str = "",
    source: SourceFactory | None = None,
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until interrupted."""
    import uvicorn

    sock = bind(settings.host, settings.port)
    app = await _open(open_plugin, source)
    server = build_server(app, version=version)
    asgi: Any = server.streamable_http_app(streamable_http_path=settings.path, host=settings.host)
    config = uvicorn.Config(
        BearerGate(asgi, settings.token),
        log_config=None,
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
    web = uvicorn.Server(config)
    address = sock.getsockname()
    shown = f"[{address[0]}]" if sock.family == socket.AF_INET6 else address[0]
    # On stderr, for the operator (and tests) to learn the port; never the token.
    print(
        f"prx-email mcp: listening on http://{shown}:{address[1]}{settings.path}",
        file=sys.stderr,
        flush=True,
    )
    app.start()
    try:
        await web.serve(sockets=[sock])
    finally:
        await app.stop()
        await asyncio.to_thread(app.plugin.close)
        sock.close()
