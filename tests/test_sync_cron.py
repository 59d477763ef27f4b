"""`prx-email sync` as cron runs it, against the real Dovecot (issue 10 items 9-12, 17).

Every test runs the real CLI as a subprocess: exit codes, backoff, counts, --json, the
interval floor (logins counted in Dovecot's own log) and which timeout a message names.
"""

from __future__ import annotations

import contextlib
import imaplib
import itertools
import json
import re
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures.dovecot import DovecotServer
from helpers.cli import CLI, cli_env, imap_config, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.component]

PW_ENV = "PRX_CRON_IMAP_PW"
_seq = itertools.count()


def _folder(prefix: str) -> str:
    return f"{prefix}{next(_seq)}x{int(time.time() * 1000) % 100000}"


def _msg(i: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"Sender {i} <s{i}@example.org>"
    m["To"] = "alice@example.org"
    m["Subject"] = f"Message {i}"
    m["Message-ID"] = f"<cron{i}.{next(_seq)}@example.org>"
    m["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    m.set_content(f"body {i}\n")
    return bytes(m)


def _config(tmp_path: Path, dovecot: DovecotServer, folder: str, **kw: float) -> Path:
    return imap_config(
        tmp_path / "config.toml",
        port=dovecot.imaps_port,
        username=dovecot.user,
        password_env=PW_ENV,
        ca_file=dovecot.ca_file,
        folders=(folder,),
        **kw,  # type: ignore[arg-type]
    )


def _job_row(db: Path, folder: str) -> tuple[int, float, str | None]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute(
            "SELECT failures, next_due, last_error FROM sync_jobs WHERE folder = ?", (folder,)
        ).fetchone()
    return (0, 0.0, None) if row is None else (row[0], row[1], row[2])


_LOGIN = re.compile(r"imap-login: (?:Info: )?Login: user=<([^>]*)>")


def _logins(dovecot: DovecotServer) -> int:
    return sum(1 for m in _LOGIN.finditer(dovecot.log()) if m.group(1) == dovecot.user)


def _auth_failures(dovecot: DovecotServer) -> int:
    return dovecot.log().count("auth failed")


def test_a_failed_run_then_a_fixed_one_syncs_and_clears_the_backoff(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = _folder("Cron")
    dovecot.add_messages([_msg(i) for i in range(3)], folder)
    cfg = _config(tmp_path, dovecot, folder)
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1")
    db = tmp_path / "mail.db"
    wrong = {**env, PW_ENV: "not-the-password"}

    first = run_cli("sync", "--config", str(cfg), env=wrong)
    assert first.returncode != 0
    assert "EMAIL_AUTH_FAILED" in first.stdout
    assert "not-the-password" not in first.stdout + first.stderr
    failures, next_due, last_error = _job_row(db, folder)
    assert failures == 1 and next_due > time.time() and last_error == "EMAIL_AUTH_FAILED"

    # A second explicit run tries again (the server sees a second attempt), it does not
    # just report the stored backoff and exit 0.
    before = _auth_failures(dovecot)
    second = run_cli("sync", "--config", str(cfg), env=wrong)
    assert second.returncode != 0
    assert "backing off" not in second.stdout and "EMAIL_AUTH_FAILED" in second.stdout
    assert _wait_until(lambda: _auth_failures(dovecot) > before)
    assert _job_row(db, folder)[0] == 2

    fixed = run_cli("sync", "--config", str(cfg), env={**env, PW_ENV: dovecot.password})
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"account 1 {folder}: 3 new, 0 flag changes, 0 expunged" in fixed.stdout
    assert _job_row(db, folder)[:1] == (0,) and _job_row(db, folder)[2] is None


def test_a_successful_call_email_sync_clears_the_backoff(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = _folder("CallClears")
    dovecot.add_messages([_msg(1)], folder)
    cfg = _config(tmp_path, dovecot, folder)
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1")
    db = tmp_path / "mail.db"
    assert run_cli("sync", "--config", str(cfg), env={**env, PW_ENV: "wrong"}).returncode == 1
    assert _job_row(db, folder)[0] == 1
    args = json.dumps({"account_id": 1, "folder": folder})
    done = run_cli(
        "call", "email.sync", args, "--config", str(cfg), env={**env, PW_ENV: dovecot.password}
    )
    assert json.loads(done.stdout)["ok"] is True, done.stdout
    assert _job_row(db, folder) == (0, 0.0, None)


def test_counts_new_flag_changes_and_expunges_and_json(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = _folder("Counts")
    dovecot.add_messages([_msg(i) for i in range(5)], folder)
    cfg = _config(tmp_path, dovecot, folder)
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1", **{PW_ENV: dovecot.password})
    assert run_cli("sync", "--config", str(cfg), env=env).returncode == 0

    ctx = ssl.create_default_context(cafile=str(dovecot.ca_file))
    admin = imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=ctx)
    admin.login(dovecot.user, dovecot.password)
    admin.select(folder)
    admin.uid("STORE", "1,2", "+FLAGS", "(\\Flagged)")
    admin.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
    admin.expunge()
    admin.logout()
    dovecot.add_messages([_msg(10), _msg(11), _msg(12)], folder)

    text = run_cli("sync", "--config", str(cfg), env=env)
    assert text.returncode == 0, text.stderr
    assert f"account 1 {folder}: 3 new, 2 flag changes, 1 expunged" in text.stdout
    assert "synced" not in text.stdout and "None" not in text.stdout

    dovecot.add_messages([_msg(20)], folder)
    done = run_cli("sync", "--json", "--config", str(cfg), env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] is True
    (job,) = doc["jobs"]
    assert {k: job[k] for k in ("account", "folder", "new", "flags_changed", "expunged")} == {
        "account": 1,
        "folder": folder,
        "new": 1,
        "flags_changed": 0,
        "expunged": 0,
    }
    assert job["ok"] is True and job["error"] is None
    assert job["uidvalidity_reset"] is False and job["more_pending"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", job["next_due"])

    bad = run_cli("sync", "--json", "--config", str(cfg), env={**env, PW_ENV: "nope"})
    assert bad.returncode == 1
    (job,) = json.loads(bad.stdout)["jobs"]
    assert job["ok"] is False and job["error"]["code"] == "EMAIL_AUTH_FAILED"
    assert job["error"]["message"] and job["error"]["hint"]


@pytest.mark.parametrize("interval", ["0", "-5", "nan", "0.5", "inf", "soon"])
def test_watch_refuses_an_interval_below_one_second(
    dovecot: DovecotServer, tmp_path: Path, interval: str
) -> None:
    cfg = _config(tmp_path, dovecot, "INBOX")
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1", **{PW_ENV: dovecot.password})
    before = _logins(dovecot)
    done = run_cli(
        "sync", "--watch", "--interval", interval, "--config", str(cfg), env=env, timeout=30
    )
    assert done.returncode == 2
    assert "--interval" in done.stderr
    assert _logins(dovecot) == before


@pytest.mark.slow
def test_watch_at_one_second_makes_a_bounded_number_of_logins(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = _folder("Watch")
    dovecot.add_messages([_msg(1)], folder)
    cfg = _config(tmp_path, dovecot, folder)
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1", **{PW_ENV: dovecot.password})
    start = _logins(dovecot)
    proc = subprocess.Popen(
        [*CLI, "sync", "--watch", "--interval", "1", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert _wait_until(lambda: _logins(dovecot) > start, timeout=60), "no first login"
        first = _logins(dovecot)
        time.sleep(3.0)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    made = _logins(dovecot) - first
    # The watcher keeps one connection in IDLE: no login after the first (the -5 bug made
    # 230 in 3 s; one login per round made ~3).
    assert made == 0, made


def test_config_interval_below_one_second_is_refused() -> None:
    from prx_email.config.loader import parse_config
    from prx_email.errors import ConfigError

    base = '[[accounts]]\nid = 1\nname = "A"\naddress = "a@example.org"\n[accounts.sync]\n'
    assert parse_config(base + "interval_seconds = 1\n").accounts[0].sync.interval_seconds == 1
    for bad in ("0", "-5", "0.5", "nan", "inf"):
        with pytest.raises(ConfigError, match="interval_seconds"):
            parse_config(base + f"interval_seconds = {bad}\n")


@contextlib.contextmanager
def _silent_server() -> Iterator[int]:
    """A TCP listener that accepts and never sends an IMAP greeting."""
    srv = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(srv.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        srv.close()


def test_call_email_sync_names_the_server_timeout_that_fired(tmp_path: Path) -> None:
    with _silent_server() as port:
        cfg = imap_config(
            tmp_path / "config.toml",
            port=port,
            username="alice",
            password_env=PW_ENV,
            tls="none",
            timeout=2,
        )
        env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1", **{PW_ENV: "pw"})
        started = time.monotonic()
        done = run_cli("call", "email.sync", '{"account_id": 1}', "--config", str(cfg), env=env)
        elapsed = time.monotonic() - started
        cron = run_cli("sync", "--json", "--config", str(cfg), env=env)
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "EMAIL_TIMEOUT"
    assert "within 2 s" in error["message"] and "timeout = 2" in error["message"]
    # Not the 600 s tool deadline (a word match: the random port may contain "600").
    assert not re.search(r"\b600\b", error["message"].replace(f":{port}", ""))
    assert "max_messages" not in error["hint"] and "timeout" in error["hint"]
    assert elapsed < 30
    (job,) = json.loads(cron.stdout)["jobs"]
    assert job["error"]["code"] == "EMAIL_TIMEOUT" and "timeout = 2" in job["error"]["message"]


def _wait_until(cond: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_watch_still_honours_the_stored_backoff(dovecot: DovecotServer, tmp_path: Path) -> None:
    folder = _folder("WatchBackoff")
    dovecot.add_messages([_msg(1)], folder)
    cfg = _config(tmp_path, dovecot, folder)
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1")
    assert run_cli("sync", "--config", str(cfg), env={**env, PW_ENV: "wrong"}).returncode == 1
    _failures, next_due, _ = _job_row(tmp_path / "mail.db", folder)
    out = tmp_path / "watch.jsonl"
    before = _logins(dovecot)
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [*CLI, "sync", "--watch", "--json", "--interval", "1", "--config", str(cfg)],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env={**env, PW_ENV: dovecot.password},
        )
    try:
        assert _wait_until(lambda: out.read_text().count("\n") >= 2, timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    rounds = [json.loads(line) for line in out.read_text().splitlines()]
    (job,) = rounds[0]["jobs"]
    assert job["ran"] is False and job["failures"] == 1
    assert job["next_due"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(next_due))
    assert _logins(dovecot) == before  # backing off: no connection at all
