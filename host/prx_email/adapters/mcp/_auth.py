"""The bearer token of the streamable-HTTP transport, and the ASGI gate that checks it.

The token comes from ``--token-file`` (a regular file readable by its owner only, as for
password files) or ``PRX_EMAIL_MCP_TOKEN``. On a loopback address with neither, a random
token is made and written 0600 next to the store (its path, never the token, is logged);
on any other address the server refuses to start without one. Every HTTP request must
carry ``Authorization: Bearer <token>`` (compared in constant time); otherwise 401.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from ...errors import ConfigError

__all__ = ["TOKEN_ENV", "BearerGate", "load_token", "make_token_file"]

TOKEN_ENV = "PRX_EMAIL_MCP_TOKEN"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def load_token(
    token_file: Path | None, environ: MutableMapping[str, str] | None = None
) -> str | None:
    """The configured token, or None when neither the file nor the env var gives one.

    :raises ConfigError: the file is missing, not private (group/other bits) or empty.
    """
    if token_file is not None:
        try:
            info = token_file.stat()
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"the token file {token_file} is not a regular file")
            if info.st_mode & 0o077:
                raise ConfigError(
                    f"the token file {token_file} is readable by others",
                    hint=f"chmod 600 {token_file}",
                )
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the token file {token_file}: {exc.strerror}",
                hint="give --token-file a readable 0600 file holding the token",
            ) from None
        if not token:
            raise ConfigError(f"the token file {token_file} is empty")
        return token
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    return token or None


def make_token_file(path: Path) -> str:
    """A new random token written to ``path`` (0600, replaced atomically)."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.replace(tmp, path)
    return token


class BearerGate:
    """ASGI middleware: HTTP requests without the right bearer token get 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            await self._app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                given = value
                break
        if not hmac.compare_digest(given, self._expected):
            await _reply_401(send)
            return
        await self._app(scope, receive, send)


async def _reply_401(send: Send) -> None:
    body = b'{"error":"unauthorized","hint":"send Authorization: Bearer <token>"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="prx-email"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
