"""``prx-email mcp``: serve the plugin over MCP (stdio, or streamable HTTP with ``--http``)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from ...api import Plugin, open_plugin
from ._common import CommandError

DEFAULT_POOL = 4


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "mcp",
        help="serve every tool over the Model Context Protocol (stdio, or --http)",
        description="An MCP server over stdio (default) or streamable HTTP. Logs go to "
        "stderr; stdout carries only protocol messages.",
    )
    p.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (port 0: any)",
    )
    p.add_argument(
        "--token-file",
        metavar="PATH",
        type=Path,
        help="0600 file with the HTTP bearer token (default: $PRX_EMAIL_MCP_TOKEN; on "
        "loopback without either, a new token is written next to the store)",
    )
    p.add_argument(
        "--pool-size",
        type=int,
        default=DEFAULT_POOL,
        metavar="N",
        help=f"sandbox instances, i.e. concurrent calls (default {DEFAULT_POOL}); network "
        "tools use at most N-1",
    )
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="also serve Prometheus metrics on HOST:PORT (loopback unless [metrics] "
        "allow_remote; default: the config's [metrics] listen)",
    )
    p.add_argument(
        "--print-config",
        nargs="?",
        const="claude",
        choices=("claude", "vscode", "cursor"),
        metavar="CLIENT",
        help="print the config snippet for claude (default), vscode or cursor and exit",
    )
    p.set_defaults(handler=run)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → (host, port).

    :raises CommandError: not HOST:PORT, or the port is out of range.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise CommandError(
            f"--http wants HOST:PORT, got {text!r}", hint="e.g. --http 127.0.0.1:8765"
        )
    return host.strip("[]"), int(port)


def run(args: argparse.Namespace) -> int:
    from ...config import resolve_db_path
    from .. import mcp
    from .main import _version

    db, config = getattr(args, "db", None), getattr(args, "config", None)
    if args.print_config:
        print(mcp.snippet(args.print_config, db=db, config=config))
        return 0
    if args.pool_size < 1:
        raise CommandError("--pool-size must be at least 1")
    opener = functools.partial(_open, db, config, args.pool_size)
    _serve_metrics(db, config, args.metrics)  # lives as long as the process
    if args.http is None:
        asyncio.run(mcp.serve_stdio(opener, version=_version()))
        _exit_now()
    from ...config.hosts import is_loopback

    host, port = parse_address(args.http)
    token = mcp.load_token(args.token_file)
    if token is None:
        if not is_loopback(host):
            raise CommandError(
                f"refusing to serve {host} without a bearer token",
                hint=f"give --token-file (a 0600 file) or set {mcp.TOKEN_ENV}",
            )
        path = Path(resolve_db_path(db)).with_name("mcp-token")
        token = mcp.make_token_file(path)
        logging.getLogger(__name__).warning("no token given: a new one is in %s", path)
    settings = mcp.HttpSettings(host=host, port=port, token=token)
    asyncio.run(mcp.serve_http(opener, settings, version=_version()))
    _exit_now()


def _serve_metrics(db: str | None, config: str | None, listen: str | None) -> Any:
    """The metrics endpoint (``--metrics``, else ``[metrics] listen``), or None.

    Its own store connection and config read: the counters are the process's (every
    sandbox call the server makes), the gauges read the store at each scrape.

    :raises ConfigError: a bad or non-loopback address, or a port in use.
    """
    from ...api import load_config
    from ...config import resolve_db_path
    from ...services.context import ServiceContext
    from ...store.db import Database

    cfg = load_config(config)
    if listen is None and cfg.metrics.listen is None:
        return None
    from ...metrics import serve_configured

    ctx = ServiceContext(config=cfg, db=Database(resolve_db_path(db)))
    server = serve_configured(ctx, listen)
    if server is not None:
        logging.getLogger(__name__).warning("metrics: serving %s", server.url)
    return server


def _exit_now() -> NoReturn:
    """Exit 0 now, skipping the interpreter's teardown.

    The plugin and the store are closed by now; finalizing the compiled component costs
    ~1.5 s that a client waiting for the process to end (and every test) would pay.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _open(db: str | None, config: str | None, pool_size: int) -> Plugin:
    return open_plugin(db=db, config=config, pool_size=pool_size, entry_point="mcp")
