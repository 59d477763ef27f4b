"""``prx-email doctor [--account ID] [--json]``: check each account step by step.

Exit 0 when no step failed (warnings allowed), 1 otherwise; an invalid config is the
``config`` step failing, a password file others can read the ``credentials`` step. Like
``sync``, it reaches servers only with ``PRX_EMAIL_ENABLE_REAL_NETWORK=1``; without it the
offline checks run and a ``network`` step fails with that hint. ``--json`` prints one JSON
document (``DoctorReport.to_json``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ...errors import ConfigError, NetworkDisabled
from ...services.doctor import Check, DoctorReport, Status, diagnose
from ._common import print_json

_MARK = {Status.PASS: "pass", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check config, credentials, DNS, TLS, login, capabilities and folders per account",
    )
    p.add_argument("--account", type=int, metavar="ID", help="only this account")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument(
        "--dns-timeout",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds for the SPF/DKIM lookups (default 3)",
    )
    p.set_defaults(handler=run_doctor)


def _report(args: argparse.Namespace) -> DoctorReport:
    from ...auth import default_manager
    from ...bridge.gate import require_network
    from ...config.resolve import load_config
    from ...services.context import ServiceContext
    from ...services.doctor import dns_txt_lookup
    from ...store.db import Database

    try:
        # A loose password file is the credentials step's failure, not the config's: the
        # other steps still run (a sync would refuse the same config at load time).
        config = load_config(args.config, file_modes=False)
    except ConfigError as exc:
        fail = Check(
            "config",
            Status.FAIL,
            exc.message,
            hint=exc.hint or exc.code.default_hint,
            error_code=exc.code.envelope,
        )
        return DoctorReport(fail)
    # The doctor reads and writes no mail: an in-memory store stands in for the real one.
    ctx = ServiceContext(config=config, db=Database(":memory:"), credentials=default_manager())
    lookup = dns_txt_lookup(timeout=args.dns_timeout)
    refused: NetworkDisabled | None = None
    try:
        require_network("doctor")  # the same switch as sync and send-due
    except NetworkDisabled as exc:
        refused = exc
    return asyncio.run(
        diagnose(ctx, account_id=args.account, txt_lookup=lookup, network_refused=refused)
    )


def _print_check(check: Check, indent: str) -> None:
    print(f"{indent}{_MARK[check.status]:<4}  {check.step:<18} {check.detail}")
    if check.hint and check.status in (Status.WARN, Status.FAIL):
        print(f"{indent}      {'':<18} hint: {check.hint}")


def run_doctor(args: argparse.Namespace) -> int:
    report = _report(args)
    if args.json:
        print_json(report.to_json())
    else:
        _print_check(report.config, "")
        for acc in report.accounts:
            print(f"account {acc.account_id} ({acc.name})")
            for check in acc.checks:
                _print_check(check, "  ")
        checks = (report.config, *(c for a in report.accounts for c in a.checks))
        fails = sum(c.status is Status.FAIL for c in checks)
        print("ok" if report.ok else f"{fails} step{'s' * (fails != 1)} failed", file=sys.stderr)
    return 0 if report.ok else 1
