"""``prx-email import PATH``: load local mail into the store (no network).

PATH is an mbox file, a Maildir, a directory of ``.eml`` files (recursively) or one message
file. Without a config file the mail goes to the local account (id 1), queryable at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from ...config import load_config, resolve_db_path
from ...store.db import Database
from ._common import CommandError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import", help="import a local mbox file, Maildir or directory of .eml files"
    )
    p.add_argument(
        "path", type=Path, help="an mbox file, a Maildir, a directory of .eml files, or one file"
    )
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
        raise CommandError(
            f"no such file or directory: {path}",
            hint="pass an mbox file, a Maildir, a directory of .eml files or one message file",
        )
    config = load_config(args.config)
    account = importer.import_account(config, args.account)  # before the store is touched
    db = Database(resolve_db_path(args.db))
    try:
        report = importer.import_path(
            db,
            path,
            account_id=account.id,
            folder=args.folder,
            attachments=config.attachments,
            max_body_bytes=account.sync.max_body_bytes,
        )
    finally:
        db.close()
    print(
        f"imported {path}: {_summary(report)} "
        f"(account {account.id} {account.name!r}, folder {args.folder})"
    )
    if config.source_missing:
        print(
            f"note: no config file at {config.source}; the mail is in the local account "
            "(keep an account with this id when you write one, see docs/config.md)",
            file=sys.stderr,
        )
    return 0
