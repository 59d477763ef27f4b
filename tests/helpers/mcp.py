"""The SDK's own MCP client, held open for a whole test module on its own event-loop thread.

An SDK session is an anyio context: it must be entered and left by one task. ``McpClient``
runs that task on a private loop thread; sync tests hand it coroutines (``client.run``).
Every notification the server sends is kept in ``client.notifications``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

T = TypeVar("T")

MCP_CMD = [sys.executable, "-m", "prx_email.adapters.cli", "mcp"]

Handler = Callable[[Any], Awaitable[None]]
Connect = Callable[[Handler], contextlib.AbstractAsyncContextManager[ClientSession]]


def stdio_connect(env: dict[str, str], *args: str, errlog: Path | None = None) -> Connect:
    """A connector that spawns ``prx-email mcp ARGS`` and opens a session over its stdio."""

    @contextlib.asynccontextmanager
    async def connect(handler: Handler) -> AsyncIterator[ClientSession]:
        params = StdioServerParameters(command=MCP_CMD[0], args=[*MCP_CMD[1:], *args], env=env)
        with contextlib.ExitStack() as files:
            err = files.enter_context(open(errlog, "w")) if errlog else sys.stderr
            async with (
                stdio_client(params, errlog=err) as (read, write),
                ClientSession(read, write, message_handler=handler) as session,
            ):
                await session.initialize()
                yield session

    return connect


def http_connect(url: str, token: str) -> Connect:
    """A connector that opens a session over streamable HTTP with a bearer token."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    @contextlib.asynccontextmanager
    async def connect(handler: Handler) -> AsyncIterator[ClientSession]:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with (
            http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write, message_handler=handler) as session,
        ):
            await session.initialize()
            yield session

    return connect


class HttpServer:
    """``prx-email mcp --http 127.0.0.1:0 ARGS`` as a subprocess; ``url`` once it listens."""

    def __init__(self, env: dict[str, str], *args: str, errlog: Path, timeout: float = 60) -> None:
        self.errlog = errlog
        self._err = open(errlog, "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*MCP_CMD, "--http", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
        )
        self.url = self._wait_url(timeout)

    def _wait_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"listening on (http://\S+)", self.errlog.read_text())
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the MCP HTTP server did not start:\n{self.errlog.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()


class McpClient:
    """One open session on a private loop thread; ``run(fn)`` awaits ``fn(session)`` there."""

    def __init__(self, connect: Connect, *, timeout: float = 120.0) -> None:
        self.notifications: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stop: asyncio.Event | None = None
        self._session: ClientSession | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._main = asyncio.run_coroutine_threadsafe(self._hold(connect), self._loop)
        if not self._ready.wait(timeout):
            raise TimeoutError("the MCP server did not initialize in time")
        if self._failure is not None:
            raise self._failure

    async def _on_message(self, message: Any) -> None:
        if not isinstance(message, Exception):  # a transport error is the test's to see
            self.notifications.append(message)

    async def _hold(self, connect: Connect) -> None:
        self._stop = asyncio.Event()
        try:
            async with connect(self._on_message) as session:
                self._session = session
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._failure = exc
            self._ready.set()
            raise

    def run(self, fn: Callable[[ClientSession], Awaitable[T]], timeout: float = 60.0) -> T:
        assert self._session is not None
        session = self._session
        return asyncio.run_coroutine_threadsafe(fn(session), self._loop).result(timeout)

    def updated(self, uri: str, *, after: int = 0, timeout: float = 15.0) -> bool:
        """Whether a resources/updated for ``uri`` arrives (among notifications[after:])."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for note in list(self.notifications[after:]):
                params = getattr(note, "params", None)
                if (
                    getattr(note, "method", "") == "notifications/resources/updated"
                    and str(getattr(params, "uri", "")) == uri
                ):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        with contextlib.suppress(BaseException):
            self._main.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def write_config(
    path: Path,
    *,
    dovecot: Any = None,
    folder: str = "INBOX",
    password_env: str = "",
    smtp_port: int | None = None,
    smtp_password_env: str = "",
    smtp_user: str = "",
) -> Path:
    """One account (id 1), on the test Dovecot (syncing ``folder``) and on SMTP if given."""
    text = """[[accounts]]
id = 1
name = "Test"
address = "alice@example.org"
"""
    if dovecot is not None:
        text += f"""
[accounts.imap]
host = "127.0.0.1"
port = {dovecot.imaps_port}
tls = "implicit"
username = "{dovecot.user}"
password_env = "{password_env}"
ca_file = "{dovecot.ca_file}"
timeout = 10.0

[accounts.sync]
folders = ["{folder}"]
"""
    if smtp_port is not None:
        text += f"""
[accounts.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
username = "{smtp_user}"
password_env = "{smtp_password_env}"
timeout = 5.0

[accounts.send]
append_to_sent = false
"""
    path.write_text(text)
    return path
