"""`make demo`'s script runs end to end through the sandbox (it must not rot)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.component
def test_demo_script(plugin_wasm: Path, component_cache_dir: Path) -> None:
    env = {**os.environ, "PRX_EMAIL_COMPONENT": str(plugin_wasm)}
    env["PRX_EMAIL_CACHE_DIR"] = str(component_cache_dir)
    env["PRX_EMAIL_ENABLE_REAL_NETWORK"] = "1"  # the script must switch it off itself
    done = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "imported: 12" in out
    assert "ok: 5 message(s)" in out
    assert "Reminder: invoice #0987 is overdue" in out
    assert '"code": "EMAIL_NETWORK_DISABLED"' in out
    assert "PRX_EMAIL_ENABLE_REAL_NETWORK=1" in out
    assert "Nothing was queued: 0 outbox rows" in out
