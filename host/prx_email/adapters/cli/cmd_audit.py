"""``prx-email audit list [--limit N] | verify | export [--output F]``: the audit log.

``list`` prints the newest entries, one line each; ``verify`` walks the hash chain and names
the first entry that fails (edited, deleted or reordered), exit 1; ``export`` writes every
entry as JSON lines (stdout, or ``--output F``, created 0600: entries name recipients).
Reads the store only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import IO, TYPE_CHECKING, Any

from ._common import CommandError

if TYPE_CHECKING:
    from ...store.audit import AuditRepo


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit", help="list, verify or export the tamper-evident audit log (no network)"
    )
    p.add_argument("action", nargs="?", choices=["list", "verify", "export"], default="list")
    p.add_argument("--limit", type=int, default=50, help="list: the newest N entries (50)")
    p.add_argument("--output", metavar="F", help="export: write to F instead of stdout")
    p.add_argument("--json", action="store_true", help="list/verify: JSON output")
    p.set_defaults(handler=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from ...config import resolve_db_path
    from ...store.audit import AuditRepo
    from ...store.db import Database

    db = Database(resolve_db_path(args.db))
    try:
        repo = AuditRepo(db)
        if args.action == "verify":
            return _verify(repo, as_json=args.json)
        if args.action == "export":
            return _export(repo, args.output)
        if args.limit < 0:
            raise CommandError("--limit must be 0 or more", hint="prx-email audit list --limit 20")
        for entry in repo.recent(args.limit):
            if args.json:
                print(json.dumps(entry.to_json(), ensure_ascii=False))
            else:
                args_text = json.dumps(entry.args, ensure_ascii=False, sort_keys=True)
                account = "-" if entry.account_id is None else entry.account_id
                print(
                    f"{entry.id}\t{entry.ts:.3f}\t{entry.entry_point}\t{entry.tool}\t"
                    f"{account}\t{entry.outcome}\t{args_text}"
                )
    finally:
        db.close()
    return 0


def _verify(repo: AuditRepo, *, as_json: bool) -> int:
    status = repo.verify()
    if as_json:
        print(
            json.dumps(
                {
                    "ok": status.ok,
                    "checked": status.checked,
                    "bad_id": status.bad_id,
                    "reason": status.reason,
                }
            )
        )
    elif status.ok:
        print(f"audit chain ok: {status.checked} entries")
    else:
        print(f"audit chain broken at entry {status.bad_id}: {status.reason}")
        print(f"({status.checked} entries before it verified)")
    return 0 if status.ok else 1


def _export(repo: AuditRepo, output: str | None) -> int:
    out: IO[str]
    if output is None:
        out = sys.stdout
    else:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        out = os.fdopen(fd, "w", encoding="utf-8")
    try:
        for entry in repo.iter_all():
            out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
