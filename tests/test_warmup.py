"""``prx-email warmup`` compiles once; a call that has to compile says so on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.component]

CLI = Path(sys.executable).with_name("prx-email")
TA = Path(sys.executable).with_name("prx-email-ta")


def _run(
    argv: list[str], env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=300)
    return subprocess.CompletedProcess(
        argv, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def test_warmup_compiles_once_and_a_compiling_call_says_so(
    plugin_wasm: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRX_EMAIL")}
    env.update(
        PRX_EMAIL_CACHE_DIR=str(tmp_path / "cold"),
        PRX_EMAIL_DB=str(tmp_path / "db"),
        PRX_EMAIL_TA_HELPER="0",  # each call compiles or loads in its own process
    )
    # A cold cache: it compiles (a generous timeout: compiling takes 8+ s, more on a busy machine).
    first = _run([str(TA), "--timeout", "240"], env, b'{"op": "capabilities"}\n')
    assert json.loads(first.stdout)["ok"] is True, first.stdout
    notes = [line for line in first.stderr.splitlines() if "compiling" in line]
    assert len(notes) == 1 and "prx-email warmup" in notes[0], first.stderr

    env["PRX_EMAIL_CACHE_DIR"] = str(tmp_path / "warm")
    warm = _run([str(CLI), "warmup"], env)
    assert warm.returncode == 0 and warm.stdout.startswith("compiled plugin.wasm in "), warm
    again = _run([str(CLI), "warmup"], env)
    assert again.returncode == 0 and "already compiled" in again.stdout and again.stderr == ""
    after = _run([str(TA)], env, b'{"op": "capabilities"}\n')
    assert json.loads(after.stdout)["ok"] is True and "compiling" not in after.stderr
