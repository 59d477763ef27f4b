"""``prx-email metrics``: the store's gauges in the Prometheus text format, on stdout.

Reads the store only (no network), so cron can write it for node_exporter's textfile
collector: ``prx-email metrics > /var/lib/node_exporter/prx_email.prom.$$ && mv …``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="print outbox, SMTP circuit and sync backoff gauges (Prometheus text format)",
    )
    p.set_defaults(handler=run_metrics)


def run_metrics(args: argparse.Namespace) -> int:
    from ...api import load_config
    from ...config import resolve_db_path
    from ...services.context import ServiceContext
    from ...services.metrics import store_metrics_text
    from ...store.db import Database

    config = load_config(args.config)
    db = Database(resolve_db_path(args.db))
    try:
        text = store_metrics_text(ServiceContext(config=config, db=db))
    finally:
        db.close()
    sys.stdout.write(text.decode("utf-8"))
    return 0
