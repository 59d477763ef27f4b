"""Helpers for the outbox chaos and regression tests: the real CLI, misbehaving peers, state.

- :func:`write_config` writes a real TOML config (the CLI reads it like a user's).
- :func:`send_due` / :func:`spawn_send_due` run ``prx-email send-due`` as a subprocess;
  :func:`call` runs ``prx-email call``.
- :class:`SilentListener` accepts TCP connections and never says a word (no greeting).
- :class:`AppendGate` is a plaintext TCP proxy to Dovecot that holds the first IMAP
  ``APPEND`` it sees (so a test can kill the client right before its Sent copy is stored).
- :func:`queue` queues messages; :func:`rows` reads the outbox table; :func:`sent_copies`
  counts a Message-ID in a folder over a separate IMAP connection (stdlib imaplib, not the
  product's client).
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import os
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixtures.smtpd import PASSWORD_ENV, USER, SmtpSink
from prx_email.api import load_config
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.types import OutgoingMessage

IMAP_PASSWORD_ENV = "PRX_TEST_CHAOS_IMAP_PASSWORD"
ADDRESS = "me@example.com"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def write_config(
    path: Path,
    *,
    smtp_port: int,
    sink: SmtpSink | None = None,
    smtp_timeout: float = 5.0,
    imap: dict[str, Any] | None = None,
    send: dict[str, Any] | None = None,
) -> Path:
    """One account (id 1) whose SMTP is ``127.0.0.1:smtp_port``.

    ``sink`` gives the TLS mode and CA of a real server; without it the port is plaintext
    loopback (a listener that is not an aiosmtpd, or nothing at all).
    """
    tls = sink.tls if sink is not None else "none"
    ca = sink.tls_files.ca_file if sink is not None and sink.tls_files else None
    smtp = {
        "host": "127.0.0.1",
        "port": smtp_port,
        "tls": tls,
        "username": USER,
        "password_env": PASSWORD_ENV,
        "ca_file": str(ca) if ca else None,
        "timeout": smtp_timeout,
    }
    text = '[[accounts]]\nid = 1\nname = "chaos"\naddress = ' + json.dumps(ADDRESS) + "\n\n"
    text += _table("accounts.smtp", smtp)
    if imap is not None:
        text += "\n" + _table("accounts.imap", imap)
    text += "\n" + _table("accounts.send", {"append_to_sent": False, **(send or {})})
    path.write_text(text)
    return path


def imap_table(dovecot: Any, *, port: int | None = None, tls: str = "implicit") -> dict[str, Any]:
    """``[accounts.imap]`` for the test Dovecot (``port`` overrides, e.g. a proxy)."""
    return {
        "host": "127.0.0.1",
        "port": port or (dovecot.imaps_port if tls == "implicit" else dovecot.imap_port),
        "tls": tls,
        "username": dovecot.user,
        "password_env": IMAP_PASSWORD_ENV,
        "ca_file": str(dovecot.ca_file) if tls != "none" else None,
        "timeout": 10.0,
    }


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PRX_EMAIL_ENABLE_REAL_NETWORK": "1", **extra}
    env.pop("PRX_EMAIL_CONFIG", None)
    env.pop("PRX_EMAIL_DB", None)
    return env


def _argv(db: Path, config: Path, *args: str) -> list[str]:
    cli = [sys.executable, "-m", "prx_email.adapters.cli"]
    return [*cli, "--db", str(db), "--config", str(config), *args]


def spawn_send_due(
    db: Path, config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _argv(db, config, "send-due", "--json", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or cli_env(),
    )


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def report(self) -> dict[str, Any]:
        """The JSON report ``send-due --json`` printed."""
        text = self.stdout.strip()
        assert text.startswith("{"), f"no JSON report (rc {self.returncode}): {self.stderr}"
        return dict(json.loads(text))


def send_due(db: Path, config: Path, *args: str, timeout: float = 120.0) -> Run:
    proc = subprocess.run(
        _argv(db, config, "send-due", "--json", *args),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def call(db: Path, config: Path, tool: str, args: dict[str, Any], **env: str) -> Run:
    """``prx-email call TOOL ARGS`` (through the sandboxed component)."""
    return cli(db, config, "call", tool, json.dumps(args), **env)


def cli(db: Path, config: Path, *args: str, **env: str) -> Run:
    """``prx-email --db DB --config CONFIG ARGS...`` with the network enabled."""
    proc = subprocess.run(
        _argv(db, config, *args),
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def kill(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL ``proc`` if it still runs and reap it; True when it was killed."""
    alive = proc.poll() is None
    if alive:
        proc.kill()
    proc.communicate(timeout=30)
    return alive


# -- outbox state ---------------------------------------------------------------------------


def queue(config: Path, db: Path, n: int, *, prefix: str = "msg", lines: int = 1) -> list[str]:
    """Queue ``n`` messages for account 1 through the service (no network); Message-IDs."""
    ctx = ServiceContext(config=load_config(config), db=Database(db))
    try:
        ids = []
        for i in range(n):
            oid = outbox.queue(
                ctx,
                OutgoingMessage(
                    account_id=1,
                    to=(f"r{i}@example.org",),
                    subject=f"{prefix} {i}",
                    body_text=f"{prefix} body {i}\n" * lines,
                ),
            )
            ids.append(outbox.get_entry(ctx, oid).message_id)
        return ids
    finally:
        ctx.db.close()


@dataclass(frozen=True)
class Row:
    id: int
    message_id: str
    status: str
    attempts: int
    data_at: float | None  # set right before DATA of the current attempt
    last_error: str | None

    @property
    def data_started(self) -> bool:
        return self.data_at is not None


def rows(db: Path) -> list[Row]:
    """Every outbox row, read over a plain sqlite3 connection (what an operator sees)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
        data = "data_at" if "data_at" in cols else "NULL"
        cur = conn.execute(
            f"SELECT id, message_id, status, attempts, {data}, last_error FROM outbox ORDER BY id"
        )
        return [Row(int(a), str(b), str(c), int(d), e, f) for a, b, c, d, e, f in cur]
    finally:
        conn.close()


def wait_for_leases(db: Path, *, limit: float = 60.0) -> None:
    """Sleep until no ``sending`` row holds a lease any more (its worker is gone)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            (until,) = conn.execute(
                "SELECT max(lease_until) FROM outbox WHERE status = 'sending'"
            ).fetchone()
        finally:
            conn.close()
        if until is None or float(until) < time.time():
            return
        time.sleep(min(0.2, max(0.01, float(until) - time.time() + 0.05)))
    raise AssertionError("leases did not expire")


def sent_copies(dovecot: Any, message_id: str, folder: str = "Sent") -> int:
    """How many messages with this Message-ID ``folder`` holds (a second IMAP connection)."""
    ctx = ssl.create_default_context(cafile=str(dovecot.ca_file))
    with imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=ctx) as imap:
        imap.login(dovecot.user, dovecot.password)
        typ, _ = imap.select(f'"{folder}"', readonly=True)
        assert typ == "OK", f"cannot select {folder}"
        typ, data = imap.search(None, "HEADER", "Message-ID", f'"{message_id}"')
        assert typ == "OK"
        imap.logout()
    return len(data[0].split()) if data and data[0] else 0


# -- misbehaving peers ----------------------------------------------------------------------


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never sends anything (no SMTP greeting)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)  # held open, never written to

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self._conns:
            c.close()
        self.sock.close()


class AppendGate:
    """A TCP proxy to ``upstream`` that holds the first IMAP APPEND a client sends.

    Everything is forwarded both ways until a client line contains ``APPEND``; that data
    is not forwarded, :attr:`holding` is set and the connection stalls, so the APPEND never
    reaches the server. With ``hold=False`` it only forwards.
    """

    def __init__(self, upstream_port: int, *, hold: bool = True) -> None:
        self.upstream_port = upstream_port
        self.hold = hold
        self.holding = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self._socks: list[socket.socket] = [self.sock]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._socks += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        tail = b""
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and self.hold and b"APPEND" in (tail + data).upper():
                    self.holding.set()
                    while not self._stop.is_set():  # swallowed: the server never sees it
                        time.sleep(0.05)
                    return
                tail = data[-16:]
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()
