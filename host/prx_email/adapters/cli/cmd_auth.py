"""``prx-email auth status|reload`` and ``prx-email oauth bootstrap``.

``auth status`` shows per account and protocol the mechanism, where the secret comes from
and the token expiry — never a token. ``auth reload`` re-reads the config file and the
``{PREFIX}_{IMAP,SMTP}_OAUTH_TOKEN`` variables the way a running plugin does on reload and
reports the outcome (an invalid file is reported and nothing is applied).
``oauth bootstrap`` runs the PKCE consent flow and stores the tokens sealed, 0600.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ...auth.bootstrap import (
    DEFAULT_REDIRECT_URI,
    authorization_url,
    code_from_callback,
    config_lines,
    default_output,
    exchange_code,
    plan_bootstrap,
    save_tokens,
)
from ...auth.envreload import reload_auth_from_env
from ...auth.manager import PROTOCOLS, AuthStatus, CredentialManager
from ...auth.reload import ConfigHolder, reload_config
from ...config.model import Config
from ...config.paths import resolve_config_path
from ._common import CommandError


def register(subparsers: Any) -> None:
    auth = subparsers.add_parser("auth", help="credential status and reload")
    auth_sub = auth.add_subparsers(dest="auth_command", metavar="ACTION", required=True)

    status = auth_sub.add_parser(
        "status", help="mechanism and token expiry per account and protocol (never a token)"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=run_status)

    reload = auth_sub.add_parser(
        "reload", help="re-read the config file and the OAuth token environment variables"
    )
    reload.add_argument(
        "--env-prefix",
        default="PRX_EMAIL",
        metavar="PREFIX",
        help="read PREFIX_IMAP_OAUTH_TOKEN, PREFIX_SMTP_OAUTH_TOKEN, …_EXPIRES_AT "
        "(default: PRX_EMAIL)",
    )
    reload.add_argument(
        "--signal",
        type=int,
        metavar="PID",
        help="after checking, send SIGHUP to a running `prx-email sync --watch` so it reloads",
    )
    reload.set_defaults(handler=run_reload)

    oauth = subparsers.add_parser("oauth", help="OAuth2 consent (bootstrap)")
    oauth_sub = oauth.add_subparsers(dest="oauth_command", metavar="ACTION", required=True)
    boot = oauth_sub.add_parser(
        "bootstrap",
        help="get a refresh token with the PKCE consent flow",
        description="Prints the consent URL; paste the URL the browser lands on (or just the "
        "code). The tokens are stored encrypted (0600) and the config lines are printed.",
    )
    boot.add_argument("--provider", required=True, choices=("outlook", "google"))
    boot.add_argument("--client-id", required=True, metavar="ID")
    boot.add_argument("--tenant", default="common", help="Microsoft tenant (default: common)")
    boot.add_argument("--redirect-uri", default=DEFAULT_REDIRECT_URI, metavar="URI")
    boot.add_argument(
        "--output", type=Path, metavar="PATH", help="token file (default: per-user secrets dir)"
    )
    boot.add_argument(
        "--account", type=int, metavar="ID", help="name the token file after this account id"
    )
    boot.add_argument("--scope", action="append", metavar="SCOPE", help="override the scopes")
    boot.add_argument(
        "--client-secret-env",
        metavar="VAR",
        help="variable holding the client secret (Google desktop apps need one)",
    )
    boot.add_argument("--authorize-endpoint", metavar="URL", help=argparse.SUPPRESS)
    boot.add_argument("--token-endpoint", metavar="URL", help=argparse.SUPPRESS)
    boot.add_argument("--dry-run", action="store_true", help="print only the consent URL")
    boot.set_defaults(handler=run_bootstrap)


# -- auth status ---------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Config:
    from ...config.loader import load_config

    return load_config(resolve_config_path(getattr(args, "config", None)))


def _expiry(expires_at: float | None, now: float) -> str:
    if expires_at is None:
        return "-"
    when = dt.datetime.fromtimestamp(expires_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    left = int(expires_at - now)
    if left <= 0:
        return f"{when} (expired)"
    return f"{when} (in {left // 3600}h{left % 3600 // 60:02d}m)"


def status_rows(config: Config, manager: CredentialManager) -> list[AuthStatus]:
    rows = []
    for account in config.accounts:
        for protocol in PROTOCOLS:
            row = manager.status(account, protocol)
            if row is not None:
                rows.append(row)
    return rows


def run_status(args: argparse.Namespace) -> int:
    config = _load(args)
    rows = status_rows(config, CredentialManager())
    now = time.time()
    if args.json:
        out = [
            {
                "account_id": r.account_id,
                "account": r.account_name,
                "protocol": r.protocol,
                "mechanism": r.mechanism,
                "source": r.source,
                "expires_at": int(r.expires_at) if r.expires_at is not None else None,
                "has_refresh_token": r.has_refresh_token,
                "problem": r.problem,
            }
            for r in rows
        ]
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0 if all(r.problem is None for r in rows) else 1
    if not rows:
        print("no accounts with IMAP or SMTP configured")
        return 0
    table = [("ACCOUNT", "PROTOCOL", "MECHANISM", "EXPIRES", "REFRESH", "SOURCE")]
    for r in rows:
        refresh = "yes" if r.has_refresh_token else ("-" if r.mechanism == "password" else "no")
        table.append(
            (
                f"{r.account_id} {r.account_name}",
                r.protocol,
                r.mechanism,
                _expiry(r.expires_at, now),
                refresh,
                r.source,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    problems = [r for r in rows if r.problem]
    for r in problems:
        print(f"problem: account {r.account_id} {r.protocol}: {r.problem}", file=sys.stderr)
    return 1 if problems else 0


# -- auth reload ---------------------------------------------------------------------------


def run_reload(args: argparse.Namespace) -> int:
    path = resolve_config_path(getattr(args, "config", None))
    holder = ConfigHolder(Config(source=path), CredentialManager())
    result = reload_config(holder, path)  # raises ConfigError: "… not reloaded …"
    print(f"config {result.source}: valid, {len(holder.config.accounts)} account(s)")
    assert isinstance(holder.credentials, CredentialManager)
    env = reload_auth_from_env(args.env_prefix, manager=holder.credentials)
    now = time.time()
    for p in env.protocols:
        if p.loaded:
            print(f"{p.protocol}: token from {p.variable}, expires {_expiry(p.expires_at, now)}")
        else:
            print(f"{p.protocol}: {p.variable} not set (token file / config sources apply)")
    if args.signal is not None:
        # Only a checked config reaches the running process: an invalid file raised above.
        try:
            os.kill(args.signal, signal.SIGHUP)
        except OSError as exc:
            raise CommandError(
                f"cannot signal process {args.signal}: {exc.strerror}",
                hint="pass the PID of a running `prx-email sync --watch`",
            ) from None
        print(f"sent SIGHUP to {args.signal}: it reloads before its next round")
    else:
        print("a running `prx-email sync --watch` reloads on SIGHUP (use --signal PID)")
    return 0


# -- oauth bootstrap -------------------------------------------------------------------------


def run_bootstrap(args: argparse.Namespace) -> int:
    client_secret = None
    if args.client_secret_env:
        client_secret = os.environ.get(args.client_secret_env)
        if client_secret is None:
            raise CommandError(
                f"variable {args.client_secret_env} is not set",
                hint=f"export {args.client_secret_env} with the client secret",
            )
    plan = plan_bootstrap(
        args.provider,
        args.client_id,
        tenant=args.tenant,
        redirect_uri=args.redirect_uri,
        scopes=tuple(args.scope) if args.scope else None,
        authorize_endpoint=args.authorize_endpoint,
        token_endpoint=args.token_endpoint,
        client_secret=client_secret,
    )
    url = authorization_url(plan)
    if args.dry_run:
        print(url)
        return 0
    output: Path = args.output or default_output(plan.provider, args.account)
    print("Open this URL in a browser and sign in:", file=sys.stderr)
    print(url, flush=True)
    print(
        f"\nAfter consent the browser goes to {plan.redirect_uri} (the page may not load).\n"
        "Paste that full URL (or just the code) here and press Enter:",
        file=sys.stderr,
        flush=True,
    )
    line = sys.stdin.readline()
    code = code_from_callback(line, plan)
    tokens = asyncio.run(exchange_code(plan, code))
    save_tokens(output, tokens)
    print(f"\nSaved the tokens encrypted to {output} (mode 0600).", file=sys.stderr)
    default = args.output is None and args.account is not None
    print(
        config_lines(plan, output, default_path=default, client_secret_env=args.client_secret_env),
        end="",
    )
    return 0
