"""A child process that drains the outbox (crash and concurrency tests).

    python tests/crash_worker.py '<json spec>'

The spec names the database, the SMTP (and optional IMAP) server, the lease, and optionally
``crash_at`` = ``{"point": "after-claim" | "after-data", "nth": 1, "marker": "/path"}``: at
the nth time the drain reaches that point the worker writes the outbox id to ``marker`` and
blocks, so the parent can SIGKILL it at exactly that point. The hook is a plain callback
passed to ``drain_due`` by this test script; nothing in the product reads it from the
environment, so the guest cannot trigger it.

Prints the drain report as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from prx_email.config.model import (
    AccountConfig,
    Config,
    PasswordAuth,
    SendSettings,
    ServerConfig,
    TlsMode,
    UnknownOutcome,
)
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database


def server(spec: dict[str, Any]) -> ServerConfig:
    return ServerConfig(
        host=spec["host"],
        port=int(spec["port"]),
        tls=TlsMode(spec["tls"]),
        username=spec["username"],
        auth=PasswordAuth(password_env=spec["password_env"]),
        ca_file=Path(spec["ca_file"]) if spec.get("ca_file") else None,
        timeout=float(spec.get("timeout", 10.0)),
    )


def build(spec: dict[str, Any]) -> ServiceContext:
    send = SendSettings(
        lease_seconds=float(spec.get("lease_seconds", 2.0)),
        backoff_base_seconds=float(spec.get("backoff", 0.0)),
        append_to_sent=bool(spec.get("append_to_sent", False)),
        # The crash tests' SMTP server files accepted mail into Dovecot's Sent (like Gmail).
        server_files_sent=bool(spec.get("server_files_sent", bool(spec.get("imap")))),
        sent_folder=spec.get("sent_folder", "Sent"),
        max_attempts=int(spec.get("max_attempts", 6)),
        unknown_outcome=UnknownOutcome(spec.get("unknown_outcome", "resend")),
    )
    acc = AccountConfig(
        id=1,
        name="crash",
        address=spec.get("address", "me@example.com"),
        smtp=server(spec["smtp"]),
        imap=server(spec["imap"]) if spec.get("imap") else None,
        send=send,
    )
    return ServiceContext(config=Config(accounts=(acc,)), db=Database(spec["db"]))


def make_hook(crash: dict[str, Any] | None) -> outbox.Hook | None:
    if not crash:
        return None
    seen = 0

    def hook(point: str, outbox_id: int) -> None:
        nonlocal seen
        if point != crash["point"]:
            return
        seen += 1
        if seen == int(crash.get("nth", 1)):
            tmp = crash["marker"] + ".tmp"
            Path(tmp).write_text(str(outbox_id))
            os.replace(tmp, crash["marker"])
            while True:  # blocked here until the parent SIGKILLs us
                time.sleep(60)

    return hook


async def main(spec: dict[str, Any]) -> None:
    ctx = build(spec)
    report = await outbox.drain_due(
        ctx,
        batch=int(spec.get("batch", 100)),
        hook=make_hook(spec.get("crash_at")),
    )
    print(json.dumps(dataclasses.asdict(report)))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
