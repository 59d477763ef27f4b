"""The console's routes: five server-rendered pages and the forms that act on the outbox.

Every action calls the service the CLI calls (``approvals.approve|reject``,
``outbox.retry|cancel``), audited with ``entry_point="console"``; retry and "approve and
send" need the network switch exactly as the CLI does (``require_network`` before anything
changes). A form answers with a 303 back to its page and a one-line notice; an
``EmailError`` answers with the error page (code, message, hint) and a 4xx/5xx status.
Every request goes through :func:`_guarded` (auth.py checks) first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from ...bridge.gate import network_enabled, require_network
from ...errors import (
    EmailError,
    ErrorCode,
    InternalError,
    InvalidArgument,
    InvalidState,
    NetworkDisabled,
    NotFound,
    PolicyDenied,
    StorageError,
)
from ...services import approvals, events, outbox
from ...services.audit import audited
from ...services.context import ServiceContext
from ...services.doctor import DoctorReport, TxtLookup, diagnose
from ...store.approvals import ApprovalRepo
from ...store.audit import AuditRepo
from ...store.events import EventLog
from ...types import OutboxQuery, OutboxStatus
from .auth import CSRF_FIELD, TOKEN_PARAM, ConsoleAuth, Refusal
from .views import held_view, when

__all__ = ["Console", "build_app"]

log = logging.getLogger(__name__)

ENTRY_POINT = "console"
#: Rows or entries one page shows.
PAGE_SIZE = 100
NAV = (
    ("approvals", "/approvals", "Approvals"),
    ("outbox", "/outbox", "Outbox"),
    ("audit", "/audit", "Audit log"),
    ("accounts", "/accounts", "Accounts"),
    ("events", "/events", "Events"),
)
_HEADERS = {
    # Nothing loads from elsewhere; inline CSS only, no script at all.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    # same-origin, not no-referrer: with no-referrer Chromium posts forms with "Origin: null".
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
# The most specific class first (NotFound before its base EmailError, ...).
_STATUS: tuple[tuple[type[EmailError], int], ...] = (
    (NotFound, 404),
    (InvalidArgument, 400),
    (InvalidState, 409),
    (NetworkDisabled, 403),
    (PolicyDenied, 403),
    (StorageError, 500),
)


@dataclass(slots=True)
class Console:
    """What the routes share: the services' context, the auth secrets, the doctor's DNS."""

    ctx: ServiceContext
    auth: ConsoleAuth
    #: The doctor's TXT lookup (None: the real resolver); a context for the doctor's checks.
    txt_lookup: TxtLookup | None = None
    doctor_ctx: ServiceContext | None = None


Page = Callable[[Console, Request, FormData | None], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _templates() -> Jinja2Templates:
    folder = resources.files(__package__) / "templates"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,  # every value on every page is escaped
        undefined=jinja2.StrictUndefined,
    )
    env.globals["nav"] = NAV
    env.filters["when"] = when
    return Jinja2Templates(env=env)


TEMPLATES = _templates()


def _render(request: Request, name: str, context: Mapping[str, Any], status: int = 200) -> Response:
    sid: str | None = request.scope.get("console_sid")
    csrf = request.scope["console"].auth.csrf_token(sid) if sid else ""
    page = {"csrf": csrf, "csrf_field": CSRF_FIELD, "notice": None, "active": "", **context}
    if "notice" not in context and sid:  # a signed-out page shows no text from its URL
        page["notice"] = request.query_params.get("notice")
    return TEMPLATES.TemplateResponse(request, name, page, status_code=status, headers=_HEADERS)


def _refused(request: Request, refusal: Refusal) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="prx-email console"'}
    response = _render(
        request,
        "error.html",
        {"code": None, "message": refusal.message, "hint": refusal.hint, "status": refusal.status},
        refusal.status,
    )
    if refusal.status == 401:
        response.headers.update(headers)
    return response


def _error(request: Request, exc: EmailError) -> Response:
    status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 502)
    if exc.code in (ErrorCode.INTERNAL, ErrorCode.CONFIG):
        status = 500
    context = {
        "code": exc.code.envelope,
        "message": exc.message,
        "hint": exc.hint or exc.code.default_hint,
        "status": status,
    }
    return _render(request, "error.html", context, status)


def _back(path: str, notice: str, **params: str) -> Response:
    query = urlencode({**{k: v for k, v in params.items() if v}, "notice": notice})
    return RedirectResponse(f"{path}?{query}", status_code=303, headers=_HEADERS)


def _sign_in(request: Request, auth: ConsoleAuth) -> Response:
    """The token was right: a session cookie, and the same page without the token."""
    _, cookie = auth.new_session()
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != TOKEN_PARAM]
    target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
    response = RedirectResponse(target, status_code=303, headers=_HEADERS)
    response.set_cookie(auth.cookie_name, cookie, httponly=True, samesite="strict", path="/")
    return response


_UNAUTHORIZED = Refusal(
    401,
    "this console needs its access token",
    "open the URL prx-email console printed at start (it carries ?token=...)",
)


def _guarded(console: Console, page: Page, *, post: bool) -> Endpoint:
    """The endpoint for ``page``: host, token or session, CSRF and origin, then errors."""

    async def endpoint(request: Request) -> Response:
        request.scope["console"] = console
        auth = console.auth
        host = request.headers.get("host")
        refusal = auth.check_host(host)
        if refusal is not None:
            return _refused(request, refusal)
        token = request.query_params.get(TOKEN_PARAM)
        if token is not None and not auth.token_ok(token):
            return _refused(request, _UNAUTHORIZED)
        if token is not None and not post:
            return _sign_in(request, auth)
        sid = auth.session_of(request.cookies.get(auth.cookie_name))
        if sid is None:
            return _refused(request, _UNAUTHORIZED)
        request.scope["console_sid"] = sid
        form = None
        if post:
            form = await request.form()
            given = form.get(CSRF_FIELD)
            refusal = auth.check_post(
                sid, given if isinstance(given, str) else None, request.headers.get("origin"), host
            )
            if refusal is not None:
                return _refused(request, refusal)
        try:
            return await page(console, request, form)
        except EmailError as exc:
            return _error(request, exc)
        except Exception:
            # The path only: the query could carry a token.
            log.exception("console: %s %s failed", request.method, request.url.path)
            return _error(request, InternalError("the console failed to answer this request"))

    return endpoint


def _field(form: FormData | None, name: str) -> str:
    value = form.get(name) if form is not None else None
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"the form lacks {name!r}", hint="reload the page and try again")
    return value.strip()


def _row_id(request: Request) -> int:
    value: int = request.path_params["id"]
    return value


# -- pages -------------------------------------------------------------------------------


async def home(console: Console, request: Request, form: FormData | None) -> Response:
    return RedirectResponse("/approvals", status_code=303, headers=_HEADERS)


async def approvals_page(console: Console, request: Request, form: FormData | None) -> Response:
    ctx = console.ctx
    cursor = request.query_params.get("cursor") or None
    query = OutboxQuery(status=OutboxStatus.AWAITING_APPROVAL, limit=PAGE_SIZE, cursor=cursor)
    page = outbox.list_outbox(ctx, query)
    repo = ApprovalRepo(ctx.db)
    held = [held_view(row) for e in page.entries if (row := repo.awaiting(e.id)) is not None]
    context = {
        "active": "approvals",
        "held": held,
        "next_cursor": page.next_cursor,
        "network": network_enabled(),
    }
    return _render(request, "approvals.html", context)


async def approve(console: Console, request: Request, form: FormData | None) -> Response:
    ctx, oid = console.ctx, _row_id(request)
    digest = _field(form, "hash")
    send = form is not None and form.get("send") == "1"
    if send:
        require_network("approve and send")  # before anything changes, as the CLI does
    with audited(ctx.db, "approve", {"outbox-id": oid, "hash": digest}, entry_point=ENTRY_POINT):
        entry = approvals.approve(ctx, oid, digest)
    if send and entry.status is OutboxStatus.PENDING:
        with audited(ctx.db, "retry", {"outbox-id": oid, "now": True}, entry_point=ENTRY_POINT):
            entry = await outbox.retry(ctx, oid, now=True)
    return _back("/approvals", f"outbox #{oid} approved: {entry.status.value}")


async def reject(console: Console, request: Request, form: FormData | None) -> Response:
    ctx, oid = console.ctx, _row_id(request)
    with audited(ctx.db, "reject", {"outbox-id": oid}, entry_point=ENTRY_POINT):
        entry = approvals.reject(ctx, oid)
    return _back("/approvals", f"outbox #{oid} rejected: {entry.status.value}")


def _status_filter(request: Request) -> OutboxStatus | None:
    value = request.query_params.get("status") or None
    if value is None:
        return None
    try:
        return OutboxStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in OutboxStatus)
        raise InvalidArgument(f"unknown outbox status {value!r}", hint=f"one of {known}") from None


async def outbox_page(console: Console, request: Request, form: FormData | None) -> Response:
    status = _status_filter(request)
    cursor = request.query_params.get("cursor") or None
    page = outbox.list_outbox(
        console.ctx, OutboxQuery(status=status, limit=PAGE_SIZE, cursor=cursor)
    )
    context = {
        "active": "outbox",
        "entries": page.entries,
        "next_cursor": page.next_cursor,
        "status": status.value if status else "",
        "statuses": [s.value for s in OutboxStatus],
        "network": network_enabled(),
    }
    return _render(request, "outbox.html", context)


async def retry(console: Console, request: Request, form: FormData | None) -> Response:
    ctx, oid = console.ctx, _row_id(request)
    require_network("outbox retry")
    with audited(ctx.db, "retry", {"outbox-id": oid, "now": True}, entry_point=ENTRY_POINT):
        entry = await outbox.retry(ctx, oid, now=True)
    return _back("/outbox", f"outbox #{oid}: {entry.status.value}", status=_field_or(form))


async def cancel(console: Console, request: Request, form: FormData | None) -> Response:
    ctx, oid = console.ctx, _row_id(request)
    with audited(ctx.db, "cancel", {"outbox-id": oid}, entry_point=ENTRY_POINT):
        entry = outbox.cancel(ctx, oid)
    return _back("/outbox", f"outbox #{oid}: {entry.status.value}", status=_field_or(form))


def _field_or(form: FormData | None, name: str = "filter") -> str:
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


async def audit_page(console: Console, request: Request, form: FormData | None) -> Response:
    repo = AuditRepo(console.ctx.db)
    newest = list(reversed(repo.recent(PAGE_SIZE)))
    context = {"active": "audit", "chain": repo.verify(), "entries": newest}
    return _render(request, "audit.html", context)


async def _doctor(console: Console) -> DoctorReport:
    refused: NetworkDisabled | None = None
    try:
        require_network("doctor")  # the same switch as the CLI's doctor
    except NetworkDisabled as exc:
        refused = exc
    ctx = console.doctor_ctx or console.ctx
    return await diagnose(ctx, txt_lookup=console.txt_lookup, network_refused=refused)


async def accounts_page(console: Console, request: Request, form: FormData | None) -> Response:
    report = await _doctor(console) if request.query_params.get("doctor") else None
    by_id = {a.account_id: a for a in report.accounts} if report else {}
    context = {
        "active": "accounts",
        "accounts": console.ctx.config.accounts,
        "report": report,
        "by_id": by_id,
        "network": network_enabled(),
    }
    return _render(request, "accounts.html", context)


async def events_page(console: Console, request: Request, form: FormData | None) -> Response:
    last = EventLog(console.ctx.db).last_id()
    page = events.page(console.ctx, after=max(0, last - PAGE_SIZE), limit=PAGE_SIZE)
    context = {"active": "events", "events": list(reversed(page.events)), "last_id": last}
    return _render(request, "events.html", context)


async def _no_route(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405 as our error page (no session needed: it shows nothing)."""
    status = getattr(exc, "status_code", 404)
    code = ErrorCode.NOT_FOUND.envelope if status == 404 else ErrorCode.INVALID_ARGUMENT.envelope
    message = f"no page {request.url.path}" if status == 404 else f"{request.method} not allowed"
    context = {"code": code, "message": message, "hint": "use the links of the nav bar"}
    return _render(request, "error.html", {**context, "status": status}, status)


def build_app(console: Console) -> Starlette:
    """The ASGI app over ``console`` (no lifespan: the caller owns the store)."""

    def get(path: str, page: Page) -> Route:
        return Route(path, _guarded(console, page, post=False), methods=["GET"])

    def post(path: str, page: Page) -> Route:
        return Route(path, _guarded(console, page, post=True), methods=["POST"])

    return Starlette(
        routes=[
            get("/", home),
            get("/approvals", approvals_page),
            post("/approvals/{id:int}/approve", approve),
            post("/approvals/{id:int}/reject", reject),
            get("/outbox", outbox_page),
            post("/outbox/{id:int}/retry", retry),
            post("/outbox/{id:int}/cancel", cancel),
            get("/audit", audit_page),
            get("/accounts", accounts_page),
            get("/events", events_page),
        ],
        exception_handlers={404: _no_route, 405: _no_route},
    )
