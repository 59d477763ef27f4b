"""Who may use the console: the access token, the session cookie, CSRF and origin checks.

::

    GET /?token=T ──T right──▶ Set-Cookie: session (signed, HttpOnly, SameSite=Strict) ─▶ 303 /
        │                      (the token leaves the address bar and the history)
        └─T wrong or absent, no valid cookie──▶ 401
    POST (form) ──cookie valid──▶ Host ours? Origin absent or ours? csrf == HMAC(secret, sid)?
                                   └─any no──▶ 403, nothing changed

The token (``secrets.token_urlsafe``) is made per process and printed once, in the URL, on
stdout; it is compared with :func:`hmac.compare_digest` and never logged. A session id is
random per sign-in and travels signed in the cookie, so no server state is kept; the CSRF
token of a form is the HMAC of that session id under a second per-process secret, so a page
of one session cannot post for another. A restart invalidates every cookie and form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["COOKIE", "CSRF_FIELD", "TOKEN_PARAM", "ConsoleAuth", "Refusal"]

#: The query parameter of the printed URL.
TOKEN_PARAM = "token"
#: The session cookie's name.
COOKIE = "prx_console"
#: The hidden field every form carries.
CSRF_FIELD = "csrf"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: its HTTP status, a message and a hint (no secret in any)."""

    status: int
    message: str
    hint: str


@dataclass(slots=True)
class ConsoleAuth:
    """The per-process secrets and the checks made with them.

    ``hosts``: the ``host:port`` values a request's Host header may name (set by
    :meth:`bind_to` on loopback; anything else is then refused, which stops DNS-rebinding
    pages from reading the console through another name). Empty: not checked.
    """

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    _signing: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _csrf: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    hosts: frozenset[str] = frozenset()
    #: Cookies are not scoped by port: two consoles on one host need two names.
    cookie_name: str = COOKIE

    def bind_to(self, host: str, port: int) -> None:
        """On a loopback address, accept requests for ``host:port`` (and the other loopback
        names of that port) only. Elsewhere (``--allow-remote``: a wildcard address, a
        proxy in front) the names are not known here, so the Host header is not checked."""
        self.cookie_name = f"{COOKIE}_{port}"
        if host not in ("127.0.0.1", "::1", "localhost"):
            self.hosts = frozenset()
            return
        self.hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def new_session(self) -> tuple[str, str]:
        """A fresh session id and the cookie value carrying it (``sid.signature``)."""
        sid = secrets.token_urlsafe(16)
        return sid, f"{sid}.{self._sign(sid)}"

    def session_of(self, cookie: str | None) -> str | None:
        """The session id of a cookie this process signed, else None."""
        if not cookie or "." not in cookie:
            return None
        sid, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(sid).encode()):
            return None
        return sid

    def csrf_token(self, sid: str) -> str:
        """The token the forms of session ``sid`` carry."""
        return hmac.new(self._csrf, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()

    def check_post(
        self, sid: str, form_token: str | None, origin: str | None, host: str | None
    ) -> Refusal | None:
        """None when a state-changing request of session ``sid`` may proceed."""
        if origin is not None and origin not in self.origins(host):
            return Refusal(
                403,
                "this form was posted from another site's page",
                "use the console's own pages; open the URL prx-email console printed",
            )
        expected = self.csrf_token(sid)
        if not form_token or not hmac.compare_digest(form_token.encode(), expected.encode()):
            return Refusal(
                403,
                "the form's CSRF token is missing or not this session's",
                "reload the page and submit the form again (a console restart changes it)",
            )
        return None

    def check_host(self, host: str | None) -> Refusal | None:
        """None when the Host header names the console's own address."""
        if self.hosts and (host or "").lower() not in self.hosts:
            return Refusal(
                403,
                "the request names another host than the console's address",
                "open the URL prx-email console printed",
            )
        return None

    def origins(self, host: str | None) -> Iterable[str]:
        """The console's own origins (an Origin header must be one of them)."""
        names = self.hosts or ({host} if host else set())
        # https too: behind a TLS proxy (--allow-remote) the browser's origin is https.
        return {f"{scheme}://{name}" for name in names for scheme in ("http", "https")}

    def _sign(self, sid: str) -> str:
        return hmac.new(self._signing, b"session:" + sid.encode(), hashlib.sha256).hexdigest()
