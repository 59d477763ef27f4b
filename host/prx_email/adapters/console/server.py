"""Running the console: bind (port 0 works), print the URL with the token, serve.

The socket is bound here, before uvicorn starts, so the printed URL carries the real port
and the auth's Host check knows it. The URL goes to stdout once; uvicorn's access log is
off, so no request line (and no token in a query) is ever logged.
"""

from __future__ import annotations

import socket
import sys
from typing import TextIO

from .app import Console, build_app
from .auth import TOKEN_PARAM

__all__ = ["bind", "serve", "url_of"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv6 when the host is an IPv6 literal)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    sock.setblocking(False)
    return sock


def url_of(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?{TOKEN_PARAM}={token}"


async def serve(console: Console, sock: socket.socket, *, out: TextIO = sys.stdout) -> None:
    """Serve ``console`` on the bound ``sock`` until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    console.auth.bind_to(host, port)
    config = uvicorn.Config(
        build_app(console), log_config=None, log_level="warning", lifespan="off", access_log=False
    )
    print(f"prx-email console: {url_of(host, port, console.auth.token)}", file=out, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])
