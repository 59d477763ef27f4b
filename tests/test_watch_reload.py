"""`prx-email sync --watch` reloads its config on SIGHUP and keeps the old one when invalid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "prx_email.adapters.cli"]

ONE = '[[accounts]]\nid = 1\nname = "One"\naddress = "one@example.org"\n'
TWO = ONE + '\n[[accounts]]\nid = 2\nname = "Two"\naddress = "two@example.org"\n'


def _wait_for(path: Path, needle: str, count: int = 1, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8")
        if text.count(needle) >= count:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} x{count} not seen in: {path.read_text(encoding='utf-8')}")


def test_sighup_reloads_config_and_keeps_old_on_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(ONE)
    out = tmp_path / "out.txt"
    env = {**os.environ, "PRX_EMAIL_ENABLE_REAL_NETWORK": "1"}
    base = [*CLI, "--db", str(tmp_path / "m.db"), "--config", str(cfg)]
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [*base, "sync", "--watch", "--interval", "60"],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
    try:
        _wait_for(out, "no IMAP accounts configured")
        cfg.write_text(TWO)
        done = subprocess.run(
            [*base, "auth", "reload", "--signal", str(proc.pid)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "valid, 2 account(s)" in done.stdout
        _wait_for(out, "reload: config applied")
        _wait_for(out, "no IMAP accounts configured", count=2)  # the next round ran at once

        cfg.write_text(TWO + "garbage = [\n")
        proc.send_signal(signal.SIGHUP)
        text = _wait_for(out, "reload: error EMAIL_CONFIG")
        assert "previous configuration stays in effect" in text
        assert proc.poll() is None, "the watcher must survive an invalid config"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_reload_refuses_invalid_config_before_signalling(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[[accounts]]\nid = 0\n")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        done = subprocess.run(
            [*CLI, "--config", str(cfg), "auth", "reload", "--signal", str(sleeper.pid)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert sleeper.poll() is None, "an invalid config must not be signalled to the watcher"
    finally:
        sleeper.kill()
        sleeper.wait()
