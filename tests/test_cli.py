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

    run.env = env  # type: ignore[attr-defined]
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
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert "destructive, idempotent, network" in rows["email.delete"]
    assert "read-only, idempotent" in rows["email.list"]


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


def _one_envelope(result: subprocess.CompletedProcess[str]) -> dict:
    """The single JSON envelope on stdout; nothing that looks like a traceback anywhere."""
    assert "Traceback" not in result.stderr + result.stdout
    envelope = json.loads(result.stdout)  # exactly one document: json.loads refuses a second
    assert isinstance(envelope, dict) and isinstance(envelope.get("ok"), bool)
    if not envelope["ok"]:
        assert envelope["error"]["hint"], envelope
    return envelope


def test_missing_config_file_is_an_envelope_naming_the_path(cli, tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    result = cli("--config", str(missing), "call", "email.accounts")
    assert result.returncode == 1
    error = _one_envelope(result)["error"]
    assert error["code"] == "EMAIL_CONFIG"
    assert str(missing) in error["message"]


def test_invalid_config_is_an_envelope_naming_the_path(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[accounts]]\nid = 0\n")
    result = cli("call", "email.accounts", "--config", str(bad))
    assert result.returncode == 1
    error = _one_envelope(result)["error"]
    assert error["code"] == "EMAIL_CONFIG"
    assert str(bad) in error["message"]


@pytest.mark.parametrize(
    "argv",
    [
        ("call",),
        ("call", "email.list", "{}", "extra"),
        ("call", "email.list", "--bogus"),
        ("--bogus", "call", "email.list"),
        ("call", "email.list", "--db"),
    ],
)
def test_usage_errors_of_call_are_envelopes(cli, argv: tuple[str, ...]) -> None:
    result = cli(*argv)
    assert result.returncode == 2
    error = _one_envelope(result)["error"]
    assert error["code"] == "EMAIL_INVALID_JSON"
    assert error["message"].startswith("usage error: ")
    assert "prx-email call" in error["hint"]


def test_usage_errors_of_other_commands_stay_on_stderr(cli) -> None:
    result = cli("tools", "--bogus")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unrecognized arguments: --bogus" in result.stderr


@pytest.mark.parametrize("args", ["", "   ", "-"])
def test_empty_args_are_invalid_json(cli, args: str) -> None:
    result = cli("call", "email.list", args, stdin="")
    assert result.returncode == 1
    assert _one_envelope(result)["error"]["code"] == "EMAIL_INVALID_JSON"


def _run_bytes(
    cli_env: dict[str, str], argv: list[bytes], stdin: bytes
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"prx_email.adapters.cli", *argv],
        input=stdin,
        capture_output=True,
        env=cli_env,
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode("replace")
    )


def test_invalid_utf8_on_stdin_is_invalid_json(cli) -> None:
    result = _run_bytes(
        cli.env, [b"call", b"email.search", b"-"], b'{"account_id": 1, "query": "\xff"}'
    )
    assert result.returncode == 1
    error = _one_envelope(result)["error"]
    assert error["code"] == "EMAIL_INVALID_JSON"
    assert "UTF-8" in error["message"]


def test_invalid_utf8_in_argv_is_invalid_json(cli) -> None:
    for argv in (
        [b"call", b"email.search", b'{"account_id": 1, "query": "\xff"}'],
        [b"call", b"email.\xff", b"{}"],
    ):
        result = _run_bytes(cli.env, argv, b"")
        assert result.returncode == 1
        assert _one_envelope(result)["error"]["code"] == "EMAIL_INVALID_JSON"


def test_a_db_that_is_not_sqlite_is_a_storage_envelope(cli, tmp_path: Path) -> None:
    # The store maps these itself (store/errors.py): `call` has no sqlite3 handler of its own.
    bogus = tmp_path / "not-a.db"
    bogus.write_bytes(b"this is not a database, it is a text file\n" * 100)
    a_dir = tmp_path / "a-directory.db"
    a_dir.mkdir()
    for db in (bogus, a_dir):
        result = cli("call", "email.list", '{"account_id": 1}', "--db", str(db))
        assert result.returncode == 1
        error = _one_envelope(result)["error"]
        assert error["code"] == "EMAIL_STORAGE", (db, error)
        assert error["hint"]
        assert "Traceback" not in result.stderr


def test_every_error_envelope_has_a_hint(cli) -> None:
    for argv in (
        ("call", "email.nope", "{}"),
        ("call", "email.list", "{nope"),
        ("call", "email.list", '{"account_id": "x"}'),
        ("call", "email.get", '{"account_id": 1, "id": 1}'),
    ):
        result = cli(*argv)
        assert result.returncode == 1
        _one_envelope(result)


def _closed_stdout_run(cli_env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """Run with a stdout whose reader is already gone: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "prx_email.adapters.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "argv",
    [
        ("call", "email.accounts"),
        ("call", "email.nope"),
        ("call",),
        ("tools",),
        ("tools", "--table"),
        ("--version",),
    ],
)
def test_a_closed_stdout_exits_quietly(cli, argv: tuple[str, ...]) -> None:
    result = _closed_stdout_run(cli.env, *argv)
    assert result.stderr == ""
    assert result.returncode == 141


def test_version_comes_from_the_package_metadata(cli) -> None:
    from importlib.metadata import version

    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"prx-email {version('prx-email')}"


def test_global_options_after_the_subcommand(cli, tmp_path: Path) -> None:
    after = tmp_path / "after.db"
    result = cli("call", "email.accounts", "--db", str(after))
    assert result.returncode == 0, result.stdout
    assert after.exists()
    before, last = tmp_path / "before.db", tmp_path / "last.db"
    result = cli("--db", str(before), "tools", "--db", str(last))
    assert result.returncode == 0
    assert last.exists() and not before.exists()  # the later one wins
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[accounts]]\nid = 7\nname = "Seven"\naddress = "s@example.org"\n')
    result = cli("call", "email.accounts", "--config", str(cfg))
    assert [a["id"] for a in _one_envelope(result)["data"]] == [7]


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


def test_sync_with_a_named_config_that_does_not_exist(cli, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = cli("sync", "--config", str(missing), PRX_EMAIL_ENABLE_REAL_NETWORK="1")
    assert result.returncode == 1
    assert str(missing) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("watch", [(), ("--watch", "--interval", "1")])
def test_sync_without_any_config_says_which_path_it_read(cli, tmp_path: Path, watch) -> None:
    default = tmp_path / "config" / "prx-email" / "config.toml"
    result = cli("sync", *watch, PRX_EMAIL_ENABLE_REAL_NETWORK="1")  # --watch must not wait
    assert result.returncode == 1
    assert f"no accounts configured: read {default}, which does not exist" in result.stderr
    assert result.stderr.count("\nhint: ") == 1


def test_sync_with_accounts_but_no_imap_is_a_failure(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[accounts]]\nid = 1\nname = "One"\naddress = "one@example.org"\n')
    result = cli("sync", "--config", str(cfg), PRX_EMAIL_ENABLE_REAL_NETWORK="1")
    assert result.returncode == 1
    assert "no IMAP accounts configured" in result.stderr and str(cfg) in result.stderr
    as_json = cli("sync", "--json", "--config", str(cfg), PRX_EMAIL_ENABLE_REAL_NETWORK="1")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "EMAIL_CONFIG" and doc["error"]["hint"]


@pytest.mark.parametrize("argv", [("sync", "--json"), ("auth", "status"), ("outbox",)])
def test_other_commands_exit_quietly_on_a_closed_stdout(cli, argv: tuple[str, ...]) -> None:
    cfg_dir = Path(cli.env["XDG_CONFIG_HOME"]) / "prx-email"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "config.toml").write_text(
        '[[accounts]]\nid = 1\nname = "One"\naddress = "one@example.org"\n'
    )
    env = {**cli.env, "PRX_EMAIL_ENABLE_REAL_NETWORK": "1"}
    result = _closed_stdout_run(env, *argv)
    assert "Traceback" not in result.stderr and "Broken pipe" not in result.stderr
    assert result.returncode in (141, 1, 0)
    if argv[0] != "outbox":  # these always write to stdout, so the pipe must be noticed
        assert result.returncode == 141, result.stderr


def test_a_missing_component_is_an_envelope_too(cli, tmp_path: Path) -> None:
    result = cli("call", "email.accounts", PRX_EMAIL_COMPONENT=str(tmp_path / "missing.wasm"))
    assert result.returncode == 1
    error = _one_envelope(result)["error"]
    assert error["code"] == "EMAIL_CONFIG" and "component" in error["message"]
    assert "config read" not in error["message"]
