"""``prx-email console``: the operator's web console (issue 16), see docs/console.md.

Server-rendered pages (Starlette + Jinja2, autoescaped, inline CSS, no script) on
127.0.0.1: the approvals queue, the outbox, the audit log and its chain, the accounts with
their doctor results, recent events. A per-process token (printed in the URL) signs the
operator in; every form carries a CSRF token. Actions call the same services as the CLI,
audited as ``entry_point="console"``.
"""

from .app import Console, build_app
from .auth import COOKIE, CSRF_FIELD, TOKEN_PARAM, ConsoleAuth, Refusal
from .server import bind, serve, url_of

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "TOKEN_PARAM",
    "Console",
    "ConsoleAuth",
    "Refusal",
    "bind",
    "build_app",
    "serve",
    "url_of",
]
