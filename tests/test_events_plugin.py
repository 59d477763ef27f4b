"""The event log end to end, against the real Dovecot: email.events through the component
(long-poll woken by a sync in another process, network off), ``prx-email events --follow``
as a subprocess with a named consumer, and a sync SIGKILLed mid-way (rows and events
commit together or not at all).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import DovecotServer
from helpers.cli import CLI, cli_env, imap_config, run_cli
from helpers.imap import make_msg, new_folder

pytestmark = [pytest.mark.integration, pytest.mark.component]

PW_ENV = "PRX_TEST_EVENTS_IMAP_PW"


def _setup(tmp_path: Path, dovecot: DovecotServer, folder: str) -> tuple[Path, dict[str, str]]:
    cfg = imap_config(
        tmp_path / "config.toml",
        port=dovecot.imaps_port,
        username=dovecot.user,
        password_env=PW_ENV,
        ca_file=dovecot.ca_file,
        folders=(folder,),
    )
    env = cli_env(tmp_path, PRX_EMAIL_CONFIG=str(cfg), **{PW_ENV: dovecot.password})
    return cfg, env


def _sync(env: dict[str, str]) -> None:
    r = run_cli("sync", env=dict(env, PRX_EMAIL_ENABLE_REAL_NETWORK="1"))
    assert r.returncode == 0, r.stdout + r.stderr


def _new_mail(db: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, message_id FROM events WHERE type = 'new_mail' ORDER BY id"
        ).fetchall()


def test_long_poll_through_the_sandbox_is_woken_by_another_process(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prx_email

    folder = new_folder("Ev")
    dovecot.add_messages([make_msg(i) for i in range(3)], folder)
    cfg, env = _setup(tmp_path, dovecot, folder)
    monkeypatch.delenv("PRX_EMAIL_ENABLE_REAL_NETWORK", raising=False)  # network off here
    # A 1 s compute deadline, a 1.5 s+ wait: the wait in the host must not be billed.
    with prx_email.open_plugin(db=tmp_path / "mail.db", config=cfg, deadline=1.0) as plugin:
        empty = plugin.execute("email.events", {})
        assert empty["ok"], empty
        assert empty["data"] == {"events": [], "next_after": 0, "last_id": 0}
        answer: dict[str, Any] = {}

        def poll() -> None:
            start = time.monotonic()
            answer["env"] = plugin.execute(
                "email.events", {"after": 0, "wait_ms": 20_000, "types": "new_mail"}
            )
            answer["took"] = time.monotonic() - start

        waiter = threading.Thread(target=poll)
        waiter.start()
        time.sleep(1.5)
        assert waiter.is_alive()  # still waiting, past the compute deadline
        synced_at = time.monotonic()
        _sync(env)  # another process stores the mail and its events
        waiter.join(30)
        took_after_sync = time.monotonic() - synced_at
        got = answer["env"]
        assert got["ok"], got
        events = got["data"]["events"]
        assert [e["type"] for e in events] == ["new_mail"] * 3
        assert 1.5 < answer["took"] < 19 and took_after_sync < 5
        first = events[0]
        assert first["folder"] == folder and first["account_id"] == 1
        assert first["rfc_message_id"] and first["thread_id"] and first["uid"] == 1
        assert first["from"] and first["subject"] and first["automated"] is False
        ids = [e["id"] for e in events]
        assert ids == sorted(set(ids)) and got["data"]["next_after"] == ids[-1]
        # The event's message_id is the store key email.get takes.
        msg = plugin.execute("email.get", {"account_id": 1, "id": first["message_id"]})
        assert msg["ok"] and msg["data"]["summary"]["subject"] == first["subject"]
        assert first["thread_id"] == msg["data"]["summary"]["thread_id"]
        # Read before completion the snippet may be ""; read again it is the message's.
        again = plugin.execute("email.events", {"limit": 1})["data"]["events"][0]
        assert again["snippet"] == msg["data"]["summary"]["snippet"] != ""

        # Nothing newer: a short wait answers empty with the same cursor.
        later = plugin.execute("email.events", {"after": ids[-1], "wait_ms": 50})
        assert later["data"]["events"] == [] and later["data"]["next_after"] == ids[-1]

        for bad in (
            {"after": -1},
            {"limit": 100_000},
            {"wait_ms": -5},
            {"wait_ms": 30_001},
            {"types": ["nope"]},
            {"after": ids[-1] + 100},  # a cursor the store never handed out (host check)
            {"account_id": 9},
        ):
            res = plugin.execute("email.events", bad)
            assert not res["ok"], bad
            code = res["error"]["code"]
            assert code in ("EMAIL_INVALID_ARGUMENT", "EMAIL_ACCOUNT_NOT_FOUND"), (bad, res)
            assert res["error"]["hint"]
        # The host enforces the bounds itself too (a guest that skipped its checks).
        from prx_email.errors import InvalidArgument

        for kwargs in ({"wait_ms": -1}, {"limit": 5000}, {"after": -3}, {"types": ("x",)}):
            with pytest.raises(InvalidArgument):
                plugin.services.events(**kwargs)  # type: ignore[arg-type]


def _read_lines(proc: subprocess.Popen[str], n: int, timeout: float) -> list[str]:
    """Up to ``n`` lines of the child's stdout within ``timeout`` (a reader thread: a text
    stream buffers ahead, so select() on its fd would miss lines already read)."""
    assert proc.stdout is not None
    out: queue.Queue[str] = queue.Queue()
    stream = proc.stdout
    threading.Thread(target=lambda: [out.put(line) for line in stream], daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < n and (left := deadline - time.monotonic()) > 0:
        try:
            lines.append(out.get(timeout=left))
        except queue.Empty:
            break
    return lines


def test_cli_follow_prints_ndjson_and_a_named_consumer_resumes(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = new_folder("EvCli")
    dovecot.add_messages([make_msg(i) for i in range(2)], folder)
    _cfg, env = _setup(tmp_path, dovecot, folder)
    with subprocess.Popen(
        [*CLI, "events", "--follow", "--consumer", "bot", "--type", "new_mail"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as follower:
        try:
            time.sleep(0.5)  # let it start (and register "bot" at 0) before mail arrives
            _sync(env)
            lines = _read_lines(follower, 2, timeout=20)
            assert len(lines) == 2, lines
            events = [json.loads(line) for line in lines]
            assert [e["type"] for e in events] == ["new_mail", "new_mail"]
            assert events[0]["id"] < events[1]["id"]
        finally:
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(10) == 0
    last = events[-1]["id"]

    # Restarted later, "bot" resumes after what it acknowledged: nothing old again.
    again = run_cli("events", "--consumer", "bot", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    dovecot.add_messages([make_msg(7)], folder)
    _sync(env)
    resumed = run_cli("events", "--consumer", "bot", "--type", "new_mail", env=env)
    (line,) = resumed.stdout.splitlines()
    assert json.loads(line)["id"] > last
    # A plain reader (no consumer) sees the whole log; --after skips.
    everything = run_cli("events", env=env).stdout.splitlines()
    assert len(everything) == 3
    assert len(run_cli("events", "--after", str(last), env=env).stdout.splitlines()) == 1
    bad = run_cli("events", "--after", "-1", env=env)
    assert bad.returncode != 0 and "after" in bad.stderr


@pytest.mark.slow
def test_sigkilled_sync_leaves_no_message_without_its_event(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = new_folder("EvKill")
    total = 400
    dovecot.add_messages([make_msg(i, body="x" * 2000) for i in range(total)], folder)
    cfg, env = _setup(tmp_path, dovecot, folder)
    cfg.write_text(cfg.read_text().replace("[accounts.sync]", "[accounts.sync]\nbatch_size = 5"))
    db = tmp_path / "mail.db"
    net = dict(env, PRX_EMAIL_ENABLE_REAL_NETWORK="1")
    with subprocess.Popen(
        [*CLI, "sync"], env=net, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as child:
        # SIGKILL as soon as some batches are committed, while later ones are in flight.
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and child.poll() is None:
            if db.exists():
                try:
                    stored = len(_new_mail(db))
                except sqlite3.OperationalError:
                    stored = 0  # not migrated yet
                if stored >= 20:
                    break
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    with sqlite3.connect(db) as conn:
        keys = {r[0] for r in conn.execute("SELECT id FROM messages WHERE folder = ?", (folder,))}
    events = _new_mail(db)
    assert 0 < len(keys) < total, "the kill came too late or too early to prove anything"
    # Every stored message has exactly one new_mail event and every event its message.
    assert sorted(m for _, m in events) == sorted(keys)
    _sync(env)  # catch-up after the crash
    events = _new_mail(db)
    ids = [i for i, _ in events]
    keys_after = [m for _, m in events]
    assert len(events) == total and len(set(keys_after)) == total
    assert ids == sorted(set(ids))


def test_loop_prevention_marks_new_mail_and_filters_listings(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prx_email

    folder = new_folder("EvLoop")

    def mail(i: int, *headers: str, sender: str = "ann@example.com") -> bytes:
        head = [f"From: <{sender}>", "To: alice@example.org", f"Subject: loop {i}",
                f"Message-ID: <loop{i}@example.com>", *headers]  # fmt: skip
        return ("\r\n".join(head) + "\r\n\r\nhello\r\n").encode()

    dovecot.add_messages(
        [
            mail(0),
            mail(1, "Auto-Submitted: auto-replied"),
            mail(2, "List-Id: <team.example.com>", "Precedence: list"),
            mail(3, "Precedence: junk"),
            mail(4, sender="alice@example.org"),
        ],
        folder,
    )
    cfg, env = _setup(tmp_path, dovecot, folder)
    _sync(env)
    monkeypatch.delenv("PRX_EMAIL_ENABLE_REAL_NETWORK", raising=False)
    with prx_email.open_plugin(db=tmp_path / "mail.db", config=cfg) as plugin:
        got = plugin.execute("email.events", {"types": ["new_mail"]})["data"]["events"]
        reasons = {e["subject"]: (e["automated"], e["automated_reason"]) for e in got}
        assert reasons == {
            "loop 0": (False, None),
            "loop 1": (True, "auto-submitted: auto-replied"),
            "loop 2": (True, "list-id"),
            "loop 3": (True, "precedence: junk"),
            "loop 4": (True, "from-self"),
        }
        for automated, subjects in (
            (False, ["loop 0"]),
            (True, ["loop 1", "loop 2", "loop 3", "loop 4"]),
        ):
            listed = plugin.execute("email.list", {"account_id": 1, "automated": automated})
            assert sorted(m["subject"] for m in listed["data"]["messages"]) == subjects
            found = plugin.execute(
                "email.search", {"account_id": 1, "query": "hello", "automated": automated}
            )
            assert sorted(m["subject"] for m in found["data"]["messages"]) == subjects


def test_account_filters_decide_which_stored_mail_makes_new_mail_events(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    folder = new_folder("EvFilter")

    def mail(i: int, sender: str, *headers: str) -> bytes:
        head = [f"From: <{sender}>", f"Subject: f{i}", f"Message-ID: <f{i}@x>", *headers]
        return ("\r\n".join(head) + "\r\n\r\nhi\r\n").encode()

    dovecot.add_messages(
        [
            mail(0, "ann@example.com"),
            mail(1, "bot@noreply.example.com"),
            mail(2, "ann@example.com", "Auto-Submitted: auto-replied"),
        ],
        folder,
    )
    cfg, env = _setup(tmp_path, dovecot, folder)
    cfg.write_text(
        cfg.read_text()
        + '\n[accounts.events]\nautomated = "suppress"\ndeny_senders = ["noreply.example.com"]\n'
    )
    _sync(env)
    lines = run_cli("events", "--type", "new_mail", env=env).stdout.splitlines()
    assert [json.loads(line)["subject"] for line in lines] == ["f0"]
    listed = run_cli("call", "email.list", '{"account_id": 1}', env=env)
    assert len(json.loads(listed.stdout)["data"]["messages"]) == 3  # all stored all the same
