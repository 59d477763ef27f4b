"""`prx-email watch` as a process against the real Dovecot (issue 13, item 1).

The startup line names the mode; SIGTERM and SIGINT end every IDLE with a LOGOUT (Dovecot
logs "Logged out", not a dropped connection) and exit 0; a watcher SIGKILLed while mail
keeps arriving, then restarted, stores every message exactly once.
"""

from __future__ import annotations

import contextlib
import email
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.dovecot import DovecotServer
from helpers.cli import CLI, cli_env, imap_config
from helpers.imap import make_msg, new_folder
from helpers.mailbox import admin

pytestmark = [pytest.mark.integration]

PW_ENV = "PRX_WATCH_IMAP_PW"


def _setup(tmp_path: Path, dovecot: DovecotServer, folder: str) -> tuple[Path, dict[str, str]]:
    cfg = imap_config(
        tmp_path / "config.toml",
        port=dovecot.imaps_port,
        username=dovecot.user,
        password_env=PW_ENV,
        ca_file=dovecot.ca_file,
        folders=(folder,),
    )
    env = cli_env(tmp_path, PRX_EMAIL_ENABLE_REAL_NETWORK="1", **{PW_ENV: dovecot.password})
    return cfg, env


@contextlib.contextmanager
def _watcher(cfg: Path, env: dict[str, str], out: Path, *extra: str) -> Iterator[subprocess.Popen]:
    with out.open("a") as sink:
        proc = subprocess.Popen(
            [*CLI, "watch", "--config", str(cfg), *extra],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)


def _wait(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _message_ids(db: Path, folder: str) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            rows = conn.execute(
                "SELECT message_id, uid FROM messages WHERE folder = ?", (folder,)
            ).fetchall()
        except sqlite3.OperationalError:  # the watcher has not created the schema yet
            return []
    assert len({uid for _, uid in rows}) == len(rows)
    return [mid for mid, _ in rows]


def _append(dovecot: DovecotServer, folder: str, raws: list[bytes], pause: float = 0.0) -> None:
    m = admin(dovecot)
    try:
        for raw in raws:
            typ, data = m.append(f'"{folder}"', None, None, raw)
            assert typ == "OK", data
            time.sleep(pause)
    finally:
        m.logout()


def _logged_out(dovecot: DovecotServer) -> int:
    return dovecot.log().count("Disconnected: Logged out")


def _new_reported(out: Path, as_json: bool) -> int:
    """New messages the watcher's output has reported so far."""
    total = 0
    for line in out.read_text().splitlines():
        if as_json:
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                total += sum(j.get("new", 0) for j in doc.get("jobs", []))
        elif " new, " in line:
            with contextlib.suppress(ValueError):
                total += int(line.split(": ", 1)[1].split(" new", 1)[0])
    return total


@pytest.mark.parametrize(
    ("sig", "as_json"), [(signal.SIGTERM, False), (signal.SIGINT, True)], ids=["term", "int"]
)
def test_startup_line_then_clean_shutdown(
    dovecot: DovecotServer, tmp_path: Path, sig: signal.Signals, as_json: bool
) -> None:
    folder = new_folder("WatchCli")
    dovecot.add_messages([make_msg(1)], folder)
    cfg, env = _setup(tmp_path, dovecot, folder)
    out = tmp_path / "out.txt"
    with _watcher(cfg, env, out, *(["--json"] if as_json else [])) as proc:
        _wait(lambda: len(_message_ids(tmp_path / "mail.db", folder)) == 1)
        _append(dovecot, folder, [make_msg(2)])
        _wait(lambda: len(_message_ids(tmp_path / "mail.db", folder)) == 2, timeout=10)
        # The store holds it before the sync's line is printed: wait for the line too.
        _wait(lambda: _new_reported(out, as_json) == 2, timeout=10)
        before = _logged_out(dovecot)
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    lines = out.read_text().splitlines()
    if as_json:
        docs = [json.loads(line) for line in lines]
        assert docs[0] == {
            "ok": True,
            "watching": {
                "account": 1,
                "folder": folder,
                "mode": "idle",
                "reason": "the server offers IDLE",
                "reissue_seconds": 1680.0,
                "poll_seconds": None,
            },
        }
        assert sum(d["jobs"][0]["new"] for d in docs[1:] if "jobs" in d) == 2
    else:
        assert lines[0] == f"account 1 {folder}: watching with IDLE (re-issued every 28 min)"
        assert f"account 1 {folder}: 1 new, 0 flag changes, 0 expunged" in lines
    # The IDLE was ended and the session logged out, not dropped.
    _wait(lambda: _logged_out(dovecot) > before, timeout=5)


def test_sigkilled_while_mail_arrives_then_restarted_stores_each_once(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = new_folder("WatchKill")
    dovecot.create_folder(folder)
    cfg, env = _setup(tmp_path, dovecot, folder)
    db, out = tmp_path / "mail.db", tmp_path / "out.jsonl"
    total = 40
    raws = [make_msg(i) for i in range(total)]
    sender = threading.Thread(target=_append, args=(dovecot, folder, raws, 0.03))
    with _watcher(cfg, env, out, "--json") as proc:
        _wait(lambda: out.exists() and '"watching"' in out.read_text())
        sender.start()
        _wait(lambda: len(_message_ids(db, folder)) >= 8, timeout=20)
        proc.kill()  # SIGKILL mid-stream: no cleanup of any kind
        proc.wait(timeout=10)
    killed_at = len(_message_ids(db, folder))
    assert killed_at < total, "the kill came too late to prove anything"
    with _watcher(cfg, env, out, "--json") as proc:
        sender.join(30)
        _wait(lambda: len(_message_ids(db, folder)) == total, timeout=30)
        time.sleep(0.3)  # a doubled row would show up now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    expected = sorted(email.message_from_bytes(raw)["Message-ID"].strip("<>") for raw in raws)
    assert sorted(mid.strip("<>") for mid in _message_ids(db, folder)) == expected
    # ... and every message has exactly one new_mail event (none lost across the kill, none
    # doubled by the catch-up: they are written in the same transaction as the rows).
    with contextlib.closing(sqlite3.connect(db)) as conn:
        events = conn.execute(
            "SELECT rfc_message_id FROM events WHERE type = 'new_mail' AND folder = ?", (folder,)
        ).fetchall()
    assert sorted(mid.strip("<>") for (mid,) in events) == expected


def test_sighup_rewatches_when_the_config_changed(dovecot: DovecotServer, tmp_path: Path) -> None:
    first, added = new_folder("HupA"), new_folder("HupB")
    dovecot.create_folder(first)
    dovecot.add_messages([make_msg(1)], added)
    cfg, env = _setup(tmp_path, dovecot, first)
    out = tmp_path / "out.txt"
    with _watcher(cfg, env, out) as proc:
        _wait(lambda: f"account 1 {first}: watching with IDLE" in out.read_text())
        cfg.write_text(cfg.read_text().replace(f'"{first}"]', f'"{first}", "{added}"]'))
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: f"account 1 {added}: watching with IDLE" in out.read_text())
        _wait(lambda: len(_message_ids(tmp_path / "mail.db", added)) == 1)
        proc.send_signal(signal.SIGHUP)  # the same file again: nothing to re-watch
        _wait(lambda: "reload: config unchanged" in out.read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    text = out.read_text()
    assert "reload: config applied" in text
    assert text.count(f"account 1 {first}: watching with IDLE") == 2  # once per applied config
