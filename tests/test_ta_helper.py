"""The TA adapter's warm helper (issue 12: one process per request, fast).

Each test spawns ``prx-email-ta`` as the runtime does (one line in, one line out) from a
wrapper that reports ``sys.modules`` on stderr after the response was written: a request the
helper answered never imported wasmtime in the spawned process. Every setting gets its own
private runtime directory, and every helper a test started is killed at its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.cli import import_numbered
from prx_email.adapters.ta import _rendezvous
from prx_email.adapters.ta._rendezvous import HelperLost, Route

pytestmark = [pytest.mark.component]

CLI = Path(sys.executable).with_name("prx-email")
MARK = "MODULES "
_WRAPPER = f"""
import sys
import tempfile
from prx_email.adapters.ta import run
code = run()
sys.stderr.write({MARK!r} + " ".join(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""
CONFIG = '[[accounts]]\nid = 1\naddress = "me@example.org"\n'
SECOND = '[[accounts]]\nid = 2\naddress = "other@example.org"\n'
FETCH = {"op": "fetch", "since": "1970-01-01T00:00:00Z"}


class Setting:
    def __init__(self, root: Path, cache: str) -> None:
        self.root = root
        # Short: a socket's path must fit in 108 bytes, and tmp_path's are long.
        self.run_dir = Path(tempfile.mkdtemp(prefix="ta-", dir="/tmp"))
        self.config = root / "config.toml"
        self.config.write_text(CONFIG)
        self.config.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRX_EMAIL")}
        env.update(
            PRX_EMAIL_DB=str(root / "mail.db"),
            PRX_EMAIL_CONFIG=str(self.config),
            PRX_EMAIL_CACHE_DIR=cache,
            PRX_EMAIL_TA_HELPER="1",
            PRX_EMAIL_TA_HELPER_IDLE="60",
            XDG_RUNTIME_DIR=str(self.run_dir),
        )
        self.env = env

    @property
    def helper_dir(self) -> Path:
        return self.run_dir / "prx-email"

    def ask(self, request: dict[str, object]) -> tuple[dict[str, object], bool]:
        """The response, and whether this process ran the sandbox itself (imported wasmtime)."""
        proc = subprocess.run(
            [sys.executable, "-c", _WRAPPER],
            input=(json.dumps(request) + "\n").encode(),
            capture_output=True,
            env=self.env,
            timeout=120,
            cwd=self.root,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout.count(b"\n") == 1, proc.stdout
        marks = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith(MARK)]
        assert len(marks) == 1, proc.stderr.decode()
        return json.loads(proc.stdout), "wasmtime" in marks[0][len(MARK) :].split()

    def pids(self) -> list[int]:
        """Helpers that said they serve (from their logs), alive or not."""
        found = []
        for log in self.helper_dir.glob("*.log") if self.helper_dir.exists() else ():
            for line in log.read_text().splitlines():
                if "(pid " in line:
                    found.append(int(line.rsplit("(pid ", 1)[1].rstrip(")")))
        return found

    def serving(self, timeout: float = 30.0) -> int:
        """Wait until a helper accepts connections; its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for sock in self.helper_dir.glob("*.sock"):
                probe = socket.socket(socket.AF_UNIX)
                try:
                    probe.connect(str(sock))
                except OSError:
                    continue
                finally:
                    probe.close()
                live = [pid for pid in self.pids() if _alive(pid)]
                if live:
                    return live[-1]
            time.sleep(0.05)
        raise AssertionError(f"no helper came up in {timeout} s: {list(self.helper_dir.iterdir())}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not serving; its parent (the adapter) is gone, so init reaps it soon.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def setting(tmp_path: Path, component_cache_dir: Path) -> Iterator[Setting]:
    cache = Path(os.environ.get("PRX_EMAIL_CACHE_DIR", component_cache_dir)).resolve()
    s = Setting(tmp_path, str(cache))
    import_numbered(tmp_path, s.env, list(range(5)), "helper")
    yield s
    for pid in s.pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(s.run_dir, ignore_errors=True)


def test_the_first_request_leaves_a_helper_that_answers_the_next_ones(setting: Setting) -> None:
    # ask() waits for EOF on the adapter's stdout and stderr: it returning at all shows that
    # the helper left behind holds neither (a runtime waiting on them would hang for 60 s).
    first, in_process = setting.ask(FETCH)
    assert first["ok"] is True and in_process
    pid = setting.serving()
    again, in_process = setting.ask(FETCH)
    assert not in_process  # the spawned process never loaded the runtime
    assert again == first  # the very answer the in-process path gives
    assert [m["subject"] for m in again["messages"]] == [f"m{i}" for i in range(5)]  # type: ignore[index]
    caps, in_process = setting.ask({"op": "capabilities"})
    assert caps == {"ok": True, "capabilities": ["fetch", "create_draft", "draft_status", "health"]}
    assert not in_process
    bad, in_process = setting.ask({"op": "send"})  # no send, by design, in the helper too
    assert bad["ok"] is False and "send" in str(bad["error"]) and not in_process
    helper_dir = setting.helper_dir
    assert helper_dir.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in helper_dir.iterdir())
    assert setting.pids() == [pid]  # one helper, however many requests


def test_concurrent_requests_all_answered_by_one_helper(setting: Setting) -> None:
    setting.ask({"op": "capabilities"})
    pid = setting.serving()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: setting.ask(FETCH), range(6)))
    assert all(r["ok"] is True and len(r["messages"]) == 5 for r, _ in answers)  # type: ignore[arg-type]
    assert not any(in_process for _, in_process in answers)
    assert setting.pids() == [pid]


def test_a_changed_config_retires_the_helper_before_it_answers(setting: Setting) -> None:
    setting.ask({"op": "capabilities"})
    old = setting.serving()
    other = {**FETCH, "account": "other@example.org"}
    refused, in_process = setting.ask(other)
    assert refused["ok"] is False and "no account" in str(refused["error"]) and not in_process
    setting.config.write_text(CONFIG + SECOND)
    answered, in_process = setting.ask(other)
    # Answered on the new config, in-process: the old helper saw the change and said so.
    assert answered == {"ok": True, "messages": []} and in_process
    assert _gone(old)
    new = setting.serving()
    assert new != old
    again, in_process = setting.ask(other)
    assert again == answered and not in_process


def test_a_killed_helper_is_replaced_and_no_request_fails(setting: Setting) -> None:
    setting.ask({"op": "capabilities"})
    old = setting.serving()
    os.kill(old, signal.SIGKILL)
    assert _gone(old)
    assert list(setting.helper_dir.glob("*.sock"))  # the dead helper's socket is still there
    answer, in_process = setting.ask(FETCH)
    assert answer["ok"] is True and in_process
    new = setting.serving()
    assert new != old
    assert setting.ask(FETCH) == (answer, False)


def test_an_idle_helper_exits_and_removes_its_socket(setting: Setting) -> None:
    setting.env["PRX_EMAIL_TA_HELPER_IDLE"] = "1"
    setting.ask({"op": "capabilities"})
    pid = setting.serving()
    assert _gone(pid, timeout=20)
    assert list(setting.helper_dir.glob("*.sock")) == []


def test_a_directory_others_can_write_is_never_used(setting: Setting) -> None:
    setting.helper_dir.mkdir(mode=0o700)
    setting.helper_dir.chmod(0o777)
    for _ in range(2):
        answer, in_process = setting.ask({"op": "capabilities"})
        assert answer["ok"] is True and in_process
    time.sleep(0.5)
    assert list(setting.helper_dir.iterdir()) == []  # no socket, no helper, no log


def test_helper_off_answers_in_process_and_starts_nothing(setting: Setting) -> None:
    setting.env["PRX_EMAIL_TA_HELPER"] = "0"
    for _ in range(2):
        answer, in_process = setting.ask({"op": "capabilities"})
        assert answer["ok"] is True and in_process
    time.sleep(0.5)
    assert not setting.helper_dir.exists()


# -- the client side of the exchange, against a scripted peer -----------------------------


def _peer(path: Path, reply: bytes) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            if reply:
                conn.sendall(reply)
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_ask_falls_back_when_nothing_ran_and_refuses_to_when_something_may_have(
    tmp_path: Path,
) -> None:
    where = Route(str(tmp_path / "h.sock"), None, None)
    assert _rendezvous.ask(where, b"{}\n", 5) is None  # nobody listening
    for reply, expected in (
        (_rendezvous.STALE, None),
        (b"", None),  # closed before taking it
        (_rendezvous.ACCEPTED + b'{"ok":true}\n', b'{"ok":true}\n'),
    ):
        (tmp_path / "h.sock").unlink(missing_ok=True)
        peer = _peer(tmp_path / "h.sock", reply)
        assert _rendezvous.ask(where, b"{}\n", 5) == expected
        peer.join(5)
    (tmp_path / "h.sock").unlink()
    peer = _peer(tmp_path / "h.sock", _rendezvous.ACCEPTED)  # took it, then died
    with pytest.raises(HelperLost, match="may have run"):
        _rendezvous.ask(where, b"{}\n", 5)
    peer.join(5)


def test_requests_while_the_helper_is_killed_at_random_each_get_one_answer(
    setting: Setting,
) -> None:
    """Chaos: 4 clients at a time, 40 requests, the serving helper SIGKILLed at random moments
    (seeded). Every request still gets exactly one JSON line: the right answer, or, only for
    one the dying helper had taken, ok:false saying it may have run — never a hang or garbage."""
    import random

    rng = random.Random(int(os.environ.get("PRX_CHAOS_SEED", "1312")))
    setting.ask(FETCH)
    setting.serving()
    expected = setting.ask(FETCH)[0]
    stop = threading.Event()
    kills: list[int] = []

    def killer() -> None:
        while not stop.wait(rng.uniform(0.05, 0.4)):
            live = [p for p in setting.pids() if _alive(p)]
            if live:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(live[-1], signal.SIGKILL)
                    kills.append(live[-1])

    chaos = threading.Thread(target=killer, daemon=True)
    chaos.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = [r for r, _ in pool.map(lambda _: setting.ask(FETCH), range(40))]
    finally:
        stop.set()
        chaos.join(5)
    lost = [a for a in answers if a != expected]
    assert all(a["ok"] is False and "may have run" in str(a["error"]) for a in lost), lost
    assert len(lost) < len(answers) // 2 and kills
    # Afterwards a helper serves again and answers correctly.
    setting.ask(FETCH)
    setting.serving()
    assert setting.ask(FETCH)[0] == expected


def test_a_rotated_secret_file_retires_the_helper(setting: Setting) -> None:
    """The files the config names (here an IMAP password file) count as the config."""
    secret = setting.root / "imap.pass"
    secret.write_text("first\n")
    secret.chmod(0o600)
    setting.config.write_text(
        CONFIG + '[accounts.imap]\nhost = "127.0.0.1"\nport = 993\nusername = "me"\n'
        f'password_file = "{secret}"\n'
    )
    setting.ask({"op": "capabilities"})
    old = setting.serving()
    assert setting.ask({"op": "capabilities"})[1] is False  # the helper answered
    secret.write_text("rotated\n")
    answer, in_process = setting.ask({"op": "capabilities"})
    assert answer["ok"] is True and in_process
    assert _gone(old)
    assert setting.serving() != old


def test_a_new_setting_per_request_leaves_at_most_max_helpers(setting: Setting) -> None:
    """A runtime that sets some variable differently on every spawn gets a new setting each
    time: helpers stop at MAX_HELPERS, and the rest are answered in-process, saying why."""
    for i in range(_rendezvous.MAX_HELPERS + 2):
        setting.env["RUNTIME_REQUEST_ID"] = str(i)
        proc = subprocess.run(
            [str(CLI.with_name("prx-email-ta"))],
            input=b'{"op": "capabilities"}\n',
            capture_output=True,
            env=setting.env,
            timeout=120,
        )
        assert json.loads(proc.stdout)["ok"] is True
        capped = i >= _rendezvous.MAX_HELPERS
        assert ("warm helpers already serve" in proc.stderr.decode()) is capped, proc.stderr
        deadline = time.monotonic() + 30
        want = min(i + 1, _rendezvous.MAX_HELPERS)
        while _rendezvous.live_helpers(str(setting.helper_dir)) < want:
            assert time.monotonic() < deadline, "a helper did not start"
            time.sleep(0.05)
    assert _rendezvous.live_helpers(str(setting.helper_dir)) == _rendezvous.MAX_HELPERS
