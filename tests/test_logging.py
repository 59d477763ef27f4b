"""Structured logs: the formatters, the settings' precedence, a failed sync's run_id in its log
lines and error detail, and a secret scan of a full sync + send against real servers."""

from __future__ import annotations

import io
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import DovecotServer
from fixtures.smtpd import TOKEN, USER, SmtpSink
from helpers.outbox import context
from prx_email import NETWORK_ENV
from prx_email.adapters.cli.main import main
from prx_email.api import load_config
from prx_email.config.model import LoggingSettings
from prx_email.logging_setup import (
    FIELDS,
    FORMAT_ENV,
    LEVEL_ENV,
    configure,
    new_run_id,
    resolve_settings,
    run_scope,
)
from prx_email.services import outbox
from prx_email.types import OutgoingMessage

IMAP_PW_ENV = "PRX_TEST_LOG_IMAP_PW"
SMTP_TOKEN_ENV = "PRX_TEST_LOG_SMTP_TOKEN"
log = logging.getLogger("prx_email.tests.logging")


# -- formatters and settings ---------------------------------------------------------------


def _capture(fmt: str, level: str = "debug") -> tuple[io.StringIO, Any]:
    out = io.StringIO()
    return out, configure(LoggingSettings(format=fmt, level=level), out)


def test_json_lines_carry_the_fields_and_the_scoped_run_id() -> None:
    out, scope = _capture("json")
    with scope:
        log.info("plain")
        with run_scope("abc123") as run_id:
            log.warning(
                "failed %s",
                "x",
                extra={"account": 2, "folder": "INBOX", "error_code": "EMAIL_X", "duration_ms": 5},
            )
        try:
            raise ValueError("secret-ish text")
        except ValueError:
            log.exception("boom")
        log.debug("outbox", extra={"outbox_id": 7, "message_id": "<m@x>"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 4
    for line in lines:
        assert set(line) >= {"ts", "level", "event"} and line["ts"].endswith("Z")
        assert set(line) <= {"ts", "level", "event", "logger", "exc_type", *FIELDS}
    assert "run_id" not in lines[0]
    assert lines[1] == lines[1] | {
        "level": "warning",
        "event": "failed x",
        "account": 2,
        "folder": "INBOX",
        "error_code": "EMAIL_X",
        "duration_ms": 5,
        "run_id": run_id,
    }
    assert lines[2]["exc_type"] == "ValueError" and "secret-ish" not in out.getvalue()
    assert lines[3]["outbox_id"] == 7 and lines[3]["message_id"] == "<m@x>"


def test_text_lines_and_the_level_threshold() -> None:
    out, scope = _capture("text", "warning")
    with scope, run_scope("r1"):
        log.info("hidden")
        log.warning("shown", extra={"account": 1})
    text = out.getvalue()
    assert "hidden" not in text
    assert text.rstrip().endswith("warning prx_email.tests.logging: shown account=1 run_id=r1")


def test_configure_restores_the_logger_afterwards() -> None:
    logger = logging.getLogger("prx_email")
    before = (list(logger.handlers), logger.level)
    _out, scope = _capture("json")
    with scope:
        assert len(logger.handlers) == len(before[0]) + 1
    assert (list(logger.handlers), logger.level) == before


def test_settings_precedence_flag_env_config_default() -> None:
    cfg = LoggingSettings(format="json", level="error")
    env = {FORMAT_ENV: "text", LEVEL_ENV: "INFO"}
    assert resolve_settings(None, None, None, {}) == LoggingSettings("text", "warning")
    assert resolve_settings(None, None, cfg, {}) == cfg
    assert resolve_settings(None, None, cfg, env) == LoggingSettings("text", "info")
    assert resolve_settings("json", "debug", cfg, env) == LoggingSettings("json", "debug")
    with pytest.raises(ValueError, match="log format"):
        resolve_settings("yaml", None, None, {})
    with pytest.raises(ValueError, match=LEVEL_ENV):
        resolve_settings(None, None, None, {LEVEL_ENV: "loud"})


def test_run_ids_differ() -> None:
    assert len({new_run_id() for _ in range(100)}) == 100


def test_cli_refuses_an_unknown_log_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-format", "yaml", "tools"]) == 2
    assert "log format" in capsys.readouterr().err


def test_config_logging_table_applies_when_no_flag_or_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FORMAT_ENV, raising=False)
    monkeypatch.delenv(LEVEL_ENV, raising=False)
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[logging]\nformat = "json"\nlevel = "info"\n\n' + _account_toml(1))
    seen: list[LoggingSettings] = []
    cli_main = sys.modules["prx_email.adapters.cli.main"]
    real = cli_main._log_settings
    monkeypatch.setattr(cli_main, "_log_settings", lambda a: seen.append(real(a)) or seen[-1])
    base = ["--config", str(cfg), "--db", str(tmp_path / "m.db")]
    assert main([*base, "outbox", "list"]) == 0
    assert main([*base, "--log-level", "error", "outbox", "list"]) == 0
    assert seen == [LoggingSettings("json", "info"), LoggingSettings("json", "error")]


def _account_toml(account_id: int) -> str:
    return f'[[accounts]]\nid = {account_id}\nname = "L"\naddress = "l@example.org"\n'


# -- real servers ----------------------------------------------------------------------------


def _write_config(
    tmp_path: Path, dovecot: DovecotServer, folder: str, smtpd: SmtpSink | None = None
) -> Path:
    text = f"""
[[accounts]]
id = 1
name = "Log"
address = "alice@example.org"

[accounts.imap]
host = "127.0.0.1"
port = {dovecot.imaps_port}
tls = "implicit"
username = "{dovecot.user}"
password_env = "{IMAP_PW_ENV}"
ca_file = "{dovecot.ca_file}"
timeout = 10

[accounts.sync]
folders = ["{folder}"]
"""
    if smtpd is not None:
        assert smtpd.tls_files is not None
        text += f"""
[accounts.smtp]
host = "{smtpd.host}"
port = {smtpd.port}
tls = "starttls"
username = "{USER}"
auth = "oauth2"
ca_file = "{smtpd.tls_files.ca_file}"

[accounts.smtp.oauth2]
access_token_env = "{SMTP_TOKEN_ENV}"

[accounts.send]
append_to_sent = false
"""
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    return cfg


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line parses, or this fails


def test_failed_sync_run_id_in_its_log_lines_and_error_detail(
    dovecot: DovecotServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.setenv(IMAP_PW_ENV, "wrong-" + secrets.token_hex(4))
    cfg = _write_config(tmp_path, dovecot, "INBOX")
    base = ["--config", str(cfg), "--db", str(tmp_path / "mail.db")]

    assert main([*base, "--log-format", "json", "sync", "--json"]) == 1
    captured = capsys.readouterr()
    job = json.loads(captured.out)["jobs"][0]
    run_id = job["run_id"]
    assert run_id and job["error"]["code"] == "EMAIL_AUTH_FAILED"
    assert job["error"]["detail"] == {"run_id": run_id}
    lines = _json_lines(captured.err)
    failed = [line for line in lines if line.get("error_code") == "EMAIL_AUTH_FAILED"]
    assert failed and all(line["run_id"] == run_id for line in failed)
    assert failed[0]["account"] == 1 and failed[0]["folder"] == "INBOX"
    assert failed[0]["level"] == "warning" and "duration_ms" in failed[0]

    # Text output names the run too, and a second run gets another id.
    assert main([*base, "sync"]) == 1
    captured = capsys.readouterr()
    second = captured.out.rsplit("[run ", 1)[1].split("]")[0]
    assert second != run_id and f"run_id={second}" in captured.err

    # Through the sandbox (the guest builds that envelope): the same detail.run_id.
    assert main([*base, "--log-format", "json", "call", "email.sync", '{"account_id": 1}']) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["code"] == "EMAIL_AUTH_FAILED"
    third = error["detail"]["run_id"]
    assert third not in (run_id, second)
    failed = [line for line in _json_lines(captured.err) if line.get("error_code")]
    assert failed and all(line["run_id"] == third for line in failed)


def test_secret_scan_of_a_full_sync_and_send(
    dovecot: DovecotServer,
    smtpd: SmtpSink,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = f"LogScan{secrets.token_hex(3)}"
    body_marker = f"body-{secrets.token_hex(8)}"
    raw = (
        f"From: a@example.org\r\nTo: alice@example.org\r\nSubject: scan\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@example.org>\r\n\r\n{body_marker}\r\n"
    ).encode()
    dovecot.add_messages([raw], folder=folder)
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.setenv(IMAP_PW_ENV, dovecot.password)
    monkeypatch.setenv(SMTP_TOKEN_ENV, TOKEN)
    cfg = _write_config(tmp_path, dovecot, folder, smtpd)
    db = tmp_path / "mail.db"
    base = ["--config", str(cfg), "--db", str(db), "--log-format", "json", "--log-level", "debug"]

    assert main([*base, "sync", "--json"]) == 0
    sync_out = capsys.readouterr()
    assert json.loads(sync_out.out)["jobs"][0]["new"] == 1

    ctx = context(db, *load_config(cfg).accounts)
    sent_marker = f"sent-{secrets.token_hex(8)}"
    outbox.queue(
        ctx,
        OutgoingMessage(account_id=1, to=("bob@example.org",), subject="s", body_text=sent_marker),
    )
    ctx.db.close()
    assert main([*base, "send-due", "--json"]) == 0
    send_out = capsys.readouterr()
    assert json.loads(send_out.out)["sent"] == 1
    assert smtpd.received[-1].auth_user == USER  # XOAUTH2 with the token really happened

    lines = _json_lines(sync_out.err) + _json_lines(send_out.err)
    assert any(line.get("folder") == folder and line.get("run_id") for line in lines)
    (delivery,) = [line for line in lines if line["event"] == "outbox delivery: sent"]
    assert delivery["account"] == 1 and delivery["outbox_id"] and delivery["run_id"]
    assert "duration_ms" in delivery and "error_code" not in delivery
    everything = sync_out.out + sync_out.err + send_out.out + send_out.err
    for secret in (dovecot.password, TOKEN, body_marker, sent_marker):
        assert secret not in everything


def test_outbox_attempt_run_id_in_its_log_lines_and_error_detail(tmp_path: Path) -> None:
    import asyncio

    from fixtures.dovecot import free_port
    from helpers.outbox import context as outbox_context
    from prx_email.config.model import (
        AccountConfig,
        PasswordAuth,
        SendSettings,
        ServerConfig,
        TlsMode,
    )
    from prx_email.envelope import from_error
    from prx_email.errors import EmailError

    closed = ServerConfig(
        host="127.0.0.1",
        port=free_port(),
        tls=TlsMode.NONE,
        username="",
        auth=PasswordAuth(),
        timeout=5,
    )
    acc = AccountConfig(
        id=3,
        name="c",
        address="c@example.org",
        smtp=closed,
        send=SendSettings(append_to_sent=False),
    )
    ctx = outbox_context(tmp_path / "m.db", acc)
    msg = OutgoingMessage(account_id=3, to=("bob@example.org",), subject="s", body_text="x")
    from prx_email import metrics

    def counted() -> tuple[float, float]:
        fams = metrics.snapshot()
        attempts = sum(
            s["value"]
            for s in fams["prx_email_send_attempts"]["samples"]
            if s["labels"]
            == {"account": "3", "outcome": "not-attempted", "error_code": "EMAIL_CONNECTION_FAILED"}
        )
        retries = sum(
            s["value"]
            for s in fams["prx_email_send_retries"]["samples"]
            if s["labels"] == {"account": "3"}
        )
        return attempts, retries

    before = counted()
    out, scope = _capture("json", "info")
    try:
        with scope, pytest.raises(EmailError) as info:
            asyncio.run(outbox.send(ctx, msg))
    finally:
        ctx.db.close()
    error = from_error(info.value)["error"]
    assert error["code"] == "EMAIL_CONNECTION_FAILED"
    run_id = error["detail"]["run_id"]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    (summary,) = [line for line in lines if line["event"].startswith("outbox delivery")]
    assert summary["run_id"] == run_id and summary["account"] == 3
    assert summary["error_code"] == "EMAIL_CONNECTION_FAILED" and summary["outbox_id"] >= 1
    assert summary["event"] == "outbox delivery: not-attempted" and "duration_ms" in summary
    assert all(line["run_id"] == run_id for line in lines if "outbox_id" in line)
    # ... and so does the attempt's record in the store.
    from prx_email.store.db import Database
    from prx_email.store.outbox import OutboxRepo

    db = Database(tmp_path / "m.db")
    try:
        assert [a.run_id for a in OutboxRepo(db).attempts(summary["outbox_id"])] == [run_id]
    finally:
        db.close()
    # Counted: one attempt (not reaching the server) and the row queued again.
    assert [a - b for a, b in zip(counted(), before, strict=True)] == [1, 1]
