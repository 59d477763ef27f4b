"""`email.health` through the sandbox: the doctor's checks against a real Dovecot and a real
aiosmtpd, as statuses and codes only (no hostnames, no secrets), and offline with the
network flag off."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import DovecotServer
from fixtures.smtpd import PASSWORD, PASSWORD_ENV, USER, SmtpSink
from prx_email import NETWORK_ENV, open_plugin

IMAP_ENV = "PRX_TEST_HEALTH_IMAP_PW"


def _config(tmp: Path, imap: DovecotServer, smtpd: SmtpSink) -> Path:
    assert smtpd.tls_files is not None
    cfg = tmp / "config.toml"
    cfg.write_text(f"""
[[accounts]]
id = 1
name = "Health"
address = "alice@example.org"

[accounts.imap]
host = "127.0.0.1"
port = {imap.imaps_port}
tls = "implicit"
username = "{imap.user}"
password_env = "{IMAP_ENV}"
ca_file = "{imap.ca_file}"
timeout = 5

[accounts.smtp]
host = "127.0.0.1"
port = {smtpd.port}
tls = "starttls"
username = "{USER}"
password_env = "{PASSWORD_ENV}"
ca_file = "{smtpd.tls_files.ca_file}"
timeout = 5
""")
    return cfg


def _health(cfg: Path, tmp: Path, plugin_wasm: Path, args: dict[str, Any]) -> dict[str, Any]:
    with open_plugin(db=tmp / "m.db", config=cfg, component=plugin_wasm) as plugin:
        return plugin.execute("email.health", args)


def _steps(env: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (acc,) = env["data"]["accounts"]
    assert acc["account_id"] == 1
    return {s["step"]: s for s in acc["steps"]}


def test_health_against_real_servers_is_statuses_and_codes_only(
    dovecot: DovecotServer,
    smtpd: SmtpSink,
    plugin_wasm: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.setenv(IMAP_ENV, dovecot.password)
    cfg = _config(tmp_path, dovecot, smtpd)
    env = _health(cfg, tmp_path, plugin_wasm, {"account_id": 1})
    assert env["ok"], env
    data = env["data"]
    assert data["ok"] is True and data["network_checked"] is True
    steps = _steps(env)
    for name in ("imap.credentials", "imap.tcp", "imap.tls", "imap.login", "smtp.login"):
        assert steps[name] == {"step": name, "status": "pass", "error_code": None}
    assert steps["mail-dns"]["status"] in ("pass", "warn")  # this machine has no DNS
    text = json.dumps(env)
    for leak in ("127.0.0.1", dovecot.password, PASSWORD, dovecot.user, USER, str(tmp_path)):
        assert leak not in text

    # A wrong password: the login step fails with its code, the steps before it still pass.
    monkeypatch.setenv(IMAP_ENV, "wrong-" + secrets.token_hex(4))
    env = _health(cfg, tmp_path, plugin_wasm, {})
    steps = _steps(env)
    assert env["data"]["ok"] is False
    assert steps["imap.login"] == {
        "step": "imap.login",
        "status": "fail",
        "error_code": "EMAIL_AUTH_FAILED",
    }
    assert steps["imap.tls"]["status"] == "pass" and steps["imap.folders"]["status"] == "skip"
    assert steps["smtp.login"]["status"] == "pass"


def test_health_with_the_network_off_runs_the_offline_checks(
    dovecot: DovecotServer,
    smtpd: SmtpSink,
    plugin_wasm: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    monkeypatch.delenv(IMAP_ENV, raising=False)  # a missing password is an offline finding
    cfg = _config(tmp_path, dovecot, smtpd)
    env = _health(cfg, tmp_path, plugin_wasm, {})
    data = env["data"]
    assert data["network_checked"] is False
    steps = _steps(env)
    assert list(steps) == ["imap.credentials", "smtp.credentials", "network"]
    assert steps["network"]["status"] == "skip"
    assert steps["imap.credentials"]["status"] == "fail"
    assert steps["imap.credentials"]["error_code"] == "EMAIL_AUTH_FAILED"
    assert steps["smtp.credentials"]["status"] == "pass"
    assert data["ok"] is False  # the failed credential, not the network flag

    unknown = _health(cfg, tmp_path, plugin_wasm, {"account_id": 9})
    assert unknown["error"]["code"] == "EMAIL_ACCOUNT_NOT_FOUND"
    assert _health(cfg, tmp_path, plugin_wasm, {"account_id": 0})["error"]["code"] == (
        "EMAIL_INVALID_ARGUMENT"
    )
