"""On stdio, the server's stdout carries protocol messages only (read raw, line by line).

The server runs with debug logging, so there is plenty of log output: all of it must be on
stderr. Every stdout line is one JSON-RPC 2.0 message, and every request gets its answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers.mcp import MCP_CMD

pytestmark = [pytest.mark.component]


def _requests() -> list[dict[str, object]]:
    calls = [
        ("tools/list", {}),
        ("tools/call", {"name": "email.list", "arguments": {"account_id": 1, "limit": 20}}),
        ("tools/call", {"name": "email.nope", "arguments": {}}),
        ("tools/call", {"name": "email.sync", "arguments": {"account_id": 1}}),
        ("resources/list", {}),
        ("resources/read", {"uri": "email://accounts/1/unread"}),
        ("resources/read", {"uri": "email://nowhere"}),
        ("prompts/get", {"name": "triage_unread", "arguments": {}}),
    ]
    return [
        {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
        for i, (method, params) in enumerate(calls, start=2)
    ]


def test_stdout_carries_only_protocol_messages(plugin_wasm: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env.pop("PRX_EMAIL_CONFIG", None)
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    requests = _requests()
    lines = [init, {"jsonrpc": "2.0", "method": "notifications/initialized"}, *requests]
    proc = subprocess.Popen(
        [*MCP_CMD, "--db", str(tmp_path / "mail.db"), "--log-level", "debug"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    watchdog = threading.Timer(120, proc.kill)  # a missing answer must not hang the suite
    watchdog.start()
    try:
        # Everything at once; EOF only once every request is answered (the server then exits).
        proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in lines))
        proc.stdin.flush()
        wanted = {1} | {r["id"] for r in requests}
        raw: list[bytes] = []
        answered: dict[int, dict[str, object]] = {}
        while not wanted <= set(answered):
            line = proc.stdout.readline()
            if not line:
                break
            raw.append(line)
            message = json.loads(line)  # each line is one JSON message
            assert message.get("jsonrpc") == "2.0", message
            if "id" in message:
                answered[message["id"]] = message
        out, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out == b"", out  # nothing after the last answer either
    assert set(answered) == wanted, err.decode()[-2000:]
    assert b"tools/call email.list: ok" in err  # the debug log is on stderr
    # A tool failure is a result, an unknown resource a protocol error.
    nope: Any = answered[4]["result"]
    assert nope["isError"] and nope["structuredContent"]["code"] == "EMAIL_UNSUPPORTED_TOOL"
    sync: Any = answered[5]["result"]
    assert sync["isError"] and sync["structuredContent"]["code"] == "EMAIL_NETWORK_DISABLED"
    assert "error" in answered[8]


def test_a_missing_config_is_one_error_line_and_nothing_on_stdout(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    proc = subprocess.run(
        [*MCP_CMD, "--db", str(tmp_path / "mail.db"), "--config", str(missing)],
        input=b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1 and proc.stdout == b""
    err = proc.stderr.decode()
    assert f"prx-email: error: config file not found: {missing}" in err
    assert "hint: " in err and "Traceback" not in err
