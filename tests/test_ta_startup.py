"""The TA adapter's start-up path imports only what its op uses (issue 12: one process per
request, so every import is paid on every request).

Each test spawns the adapter as the runtime does (one line in, one line out) from a tiny
wrapper that reports ``sys.modules`` on stderr after the response was written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import import_numbered
from prx_email import NETWORK_ENV

pytestmark = [pytest.mark.component]

CLI = Path(sys.executable).with_name("prx-email")
N = 25  # stored messages: more than one email.get_many batch (20)
MARK = "MODULES "
_WRAPPER = f"""
import sys
from prx_email.adapters.ta import run  # main() = run() + os._exit: no chance to report
code = run()
sys.stderr.write({MARK!r} + " ".join(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""
#: Never needed by a store-only request: the network stack, the OAuth2/sealing stack,
#: metrics, the argparse help machinery, packaging metadata.
HEAVY = (
    "asyncio",
    "ssl",
    "socket",
    "aioimaplib",
    "aiosmtplib",
    "dns",
    "cryptography",
    "urllib.request",
    "http.client",
    "prometheus_client",
    "importlib.metadata",
    "importlib.resources",
    "argparse",
    "tempfile",
    "shutil",
    "subprocess",
    "prx_email.auth.manager",
    "prx_email.services.actions",
    "prx_email.services.sync",
    "prx_email.mail.imap",
    "prx_email.mail.smtp",
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, plugin_wasm: Path) -> dict[str, str]:
    root = tmp_path_factory.mktemp("ta-startup")
    e = {k: v for k, v in os.environ.items() if not k.startswith("PRX_EMAIL")}
    e.pop(NETWORK_ENV, None)
    e.update(
        PRX_EMAIL_DB=str(root / "mail.db"),
        PRX_EMAIL_CONFIG=str(root / "config.toml"),
        PRX_EMAIL_CACHE_DIR=os.environ["PRX_EMAIL_CACHE_DIR"],  # the session's compiled cache
        PRX_EMAIL_TA_HELPER="0",  # what a process pays without a warm helper
    )
    (root / "config.toml").write_text('[[accounts]]\nid = 1\naddress = "me@example.org"\n')
    # newest first in the file; answers are oldest first
    import_numbered(root, e, list(reversed(range(N))), "startup")
    return e


def _spawn(env: dict[str, str], request: dict[str, object]) -> tuple[dict[str, object], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER],
        input=(json.dumps(request) + "\n").encode(),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    marks = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith(MARK)]
    assert len(marks) == 1, proc.stderr.decode()
    return json.loads(proc.stdout), set(marks[0][len(MARK) :].split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_capabilities_imports_no_heavy_module(env: dict[str, str]) -> None:
    response, modules = _spawn(env, {"op": "capabilities"})
    assert response["ok"] is True and "fetch" in response["capabilities"]
    assert "wasmtime" in modules  # it did run through the sandbox
    assert _heavy(modules) == []


def test_fetch_with_the_network_off_imports_no_heavy_module(env: dict[str, str]) -> None:
    response, modules = _spawn(env, {"op": "fetch", "since": "1970-01-01T00:00:00Z"})
    assert response["ok"] is True, response
    assert [m["subject"] for m in response["messages"]] == [f"m{i}" for i in range(N)]
    assert [m["body_text"].strip() for m in response["messages"]] == [f"body {i}" for i in range(N)]
    assert _heavy(modules) == []


def test_fetch_answers_the_oldest_limit_across_get_many_batches(env: dict[str, str]) -> None:
    response, _ = _spawn(env, {"op": "fetch", "since": "2026-01-03T00:00:00Z", "limit": 21})
    got = response["messages"]
    assert [m["subject"] for m in got] == [f"m{i}" for i in range(2, 23)]
    assert [m["id"] for m in got] == [f"<startup-{i}@example.net>" for i in range(2, 23)]
    assert all(m["received_at"] >= "2026-01-03T00:00:00Z" for m in got)
