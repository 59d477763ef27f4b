"""The ``prx-email`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.component


@pytest.fixture
def cli(plugin_wasm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env = {
        **os.environ,
        "PRX_EMAIL_COMPONENT": str(plugin_wasm),
        "PRX_EMAIL_DB": str(tmp_path / "mail.db"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("PRX_EMAIL_CONFIG", None)
    env.pop("PRX_EMAIL_ENABLE_REAL_NETWORK", None)

    def run(*args: str, stdin: str | None = None, **extra_env: str):
        return subprocess.run(
            [sys.executable, "-m", "prx_email.adapters.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**env, **extra_env},
            timeout=120,
            check=False,
        )

    return run


def test_call_ok_exits_0_and_prints_the_envelope(cli) -> None:
    result = cli("call", "email.accounts")
    assert result.returncode == 0, result.stderr
    # No config file: the local account only (where `prx-email import` puts mail).
    data = json.loads(result.stdout)["data"]
    assert [(a["id"], a["name"], a["has_imap"]) for a in data] == [(1, "local", False)]


def test_call_error_exits_1(cli) -> None:
    result = cli("call", "email.nope", "{}")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "EMAIL_UNSUPPORTED_TOOL"


def test_call_args_from_stdin(cli) -> None:
    result = cli("call", "email.list", "-", stdin='{"account_id": "x"}')
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "EMAIL_INVALID_ARGUMENT"


def test_call_malformed_json(cli) -> None:
    result = cli("call", "email.list", "{nope")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "EMAIL_INVALID_JSON"


def test_send_is_refused_without_the_flag(cli) -> None:
    args = '{"account_id": 1, "to": "a@example.org", "subject": "s", "body_text": "b"}'
    result = cli("call", "email.send", args)
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] in {"EMAIL_NETWORK_DISABLED", "EMAIL_ACCOUNT_NOT_FOUND"}
    if error["code"] == "EMAIL_NETWORK_DISABLED":
        assert "PRX_EMAIL_ENABLE_REAL_NETWORK" in error["hint"]


def test_db_option_wins(cli, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "x.db"
    result = cli("--db", str(target), "call", "email.accounts")
    assert result.returncode == 0
    assert target.exists()


def test_tools_json_and_table(cli) -> None:
    result = cli("tools")
    assert result.returncode == 0
    names = [tool["name"] for tool in json.loads(result.stdout)]
    assert "email.list" in names
    table = cli("tools", "--table")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == ["TOOL", "EFFECTS", "DESCRIPTION"]
    assert any(line.startswith("email.send") for line in table.stdout.splitlines())


def test_errors_are_one_line_and_a_hint(cli, tmp_path: Path) -> None:
    result = cli("tools", PRX_EMAIL_COMPONENT=str(tmp_path / "missing.wasm"))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("prx-email: error: the plugin component is missing")
    assert (
        lines[1] == "hint: run `make build` (or point PRX_EMAIL_COMPONENT at a built plugin.wasm)"
    )
    assert "Traceback" not in result.stderr


def test_missing_config_file(cli, tmp_path: Path) -> None:
    result = cli("--config", str(tmp_path / "none.toml"), "call", "email.accounts")
    assert result.returncode == 1
    assert "config file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(cli) -> None:
    result = cli("call")
    assert result.returncode == 2


def test_import_missing_path(cli, tmp_path: Path) -> None:
    result = cli("import", str(tmp_path / "nothing.mbox"))
    assert result.returncode == 1
    assert "no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


MBOX = """From ann@example.org Mon Jan  1 00:00:00 2024
From: Ann <ann@example.org>
To: me@example.org
Subject: Quarterly invoice
Message-ID: <inv-1@example.org>
Date: Mon, 01 Jan 2024 00:00:00 +0000

Please find the invoice attached.

"""


def test_import_an_mbox(cli, tmp_path: Path) -> None:
    pytest.importorskip("prx_email.services.importer")
    mbox = tmp_path / "sample.mbox"
    mbox.write_text(MBOX)
    result = cli("import", str(mbox), "--account", "1", "--folder", "INBOX")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"imported {mbox}:")


def test_command_modules_missing_are_skipped() -> None:
    import importlib

    cli_main = importlib.import_module("prx_email.adapters.cli.main")

    modules = {m.__name__.rsplit(".", 1)[1] for m in cli_main._command_modules()}
    assert {"cmd_call", "cmd_tools", "cmd_import"} <= modules
