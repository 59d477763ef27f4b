"""``prx-email import PATH``: load a local mbox or Maildir into the store (no network)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ...api import load_config
from ...config import resolve_db_path
from ...store.db import Database
from ._common import CommandError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("import", help="import a local mbox file or Maildir")
    p.add_argument("path", type=Path, help="an mbox file or a Maildir directory")
    p.add_argument("--account", type=int, default=1, metavar="ID", help="account id (default 1)")
    p.add_argument("--folder", default="INBOX", metavar="NAME", help="target folder (INBOX)")
    p.set_defaults(handler=run)


def _summary(report: object) -> str:
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        fields = dataclasses.asdict(report)
    elif isinstance(report, dict):
        fields = report
    elif hasattr(report, "_asdict"):
        fields = report._asdict()
    else:
        return str(report)
    return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fields.items())


def run(args: argparse.Namespace) -> int:
    from ...services import importer

    path: Path = args.path
    if not path.exists():
        raise CommandError(f"no such file or directory: {path}", hint="pass an mbox or Maildir")
    config = load_config(args.config)
    if config.accounts and config.account(args.account) is None:
        known = ", ".join(str(a.id) for a in config.accounts)
        raise CommandError(f"no account with id {args.account}", hint=f"configured ids: {known}")
    db = Database(resolve_db_path(args.db))
    try:
        report = importer.import_path(
            db,
            path,
            account_id=args.account,
            folder=args.folder,
            attachments=config.attachments,
        )
    finally:
        db.close()
    print(f"imported {path}: {_summary(report)}")
    return 0
