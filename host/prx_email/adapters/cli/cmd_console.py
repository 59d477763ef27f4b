"""``prx-email console [--host 127.0.0.1] [--port 0] [--allow-remote]``: the operator console.

Serves the web console (``adapters.console``) until SIGINT/SIGTERM and prints its URL,
``http://HOST:PORT/?token=...``, on stdout (with ``--port 0`` the port the system chose).
The token is new at every start. A host that is not loopback is refused unless
``--allow-remote`` is given (the console speaks plain HTTP: put TLS in front of it).
Actions need what the CLI needs: retry and "approve and send" need
``PRX_EMAIL_ENABLE_REAL_NETWORK=1``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from ._common import CommandError

DEFAULT_HOST = "127.0.0.1"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "console",
        help="serve the operator console (approvals, outbox, audit, accounts, events) on 127.0.0.1",
        description="A local web console; its URL with a fresh access token is printed on "
        "stdout. Logs go to stderr and never carry the token.",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument(
        "--port", type=int, default=0, help="port to bind (default 0: any free port, printed)"
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a host that is not loopback (plain HTTP: only behind TLS you control)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ...auth import default_manager
    from ...config.hosts import is_loopback
    from ...services.context import ServiceContext
    from ...store.db import Database
    from .. import console
    from .cmd_outbox import context

    host = args.host.strip("[]")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port {args.port} is out of range", hint="0..65535 (0: any)")
    if not is_loopback(host) and not args.allow_remote:
        raise CommandError(
            f"refusing to serve the console on {host}: not a loopback address",
            hint="use --host 127.0.0.1 (and an SSH tunnel), or --allow-remote behind TLS",
        )
    ctx = context(args)
    # The doctor reads and writes no mail: an in-memory store stands in, as for `doctor`.
    doctor_ctx = ServiceContext(
        config=ctx.config, db=Database(":memory:"), credentials=default_manager()
    )
    try:
        sock = console.bind(host, args.port)
    except OSError as exc:
        ctx.db.close()
        raise CommandError(
            f"cannot listen on {host}:{args.port}: {exc.strerror}",
            hint="choose another --port (0: any free one)",
        ) from None
    if not is_loopback(host):
        logging.getLogger(__name__).warning("console: serving %s without TLS", host)
    app = console.Console(ctx=ctx, auth=console.ConsoleAuth(), doctor_ctx=doctor_ctx)
    try:
        asyncio.run(console.serve(app, sock))
    finally:
        sock.close()
        ctx.db.close()
        doctor_ctx.db.close()
    return 0
