"""`prx-email doctor` against a real Dovecot and a real aiosmtpd: each failure in its own step."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import DovecotServer, capabilities_without, free_port, start_dovecot
from fixtures.smtpd import PASSWORD_ENV, USER, SmtpSink, TlsFiles
from prx_email import NETWORK_ENV
from prx_email.adapters.cli.main import main
from prx_email.auth import default_manager
from prx_email.config.model import Config
from prx_email.services.context import ServiceContext
from prx_email.services.doctor import (
    CAPABILITY_EFFECTS,
    DnsUnavailable,
    Status,
    diagnose,
    dns_txt_lookup,
)
from prx_email.store.db import Database

SPECIAL_USE_CONF = r"""
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \Sent
    auto = create
  }
  mailbox Drafts {
    special_use = \Drafts
    auto = create
  }
  mailbox Trash {
    special_use = \Trash
    auto = create
  }
  mailbox Archive {
    special_use = \Archive
    auto = create
  }
}
"""


@pytest.fixture(autouse=True)
def _network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")


def _stop(server: DovecotServer) -> None:
    server.stop()
    if server.root.name.startswith("prx-dovecot-"):
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="module")
def imap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    server = start_dovecot(tmp_path_factory.mktemp("doctor-imap"), SPECIAL_USE_CONF)
    yield server
    _stop(server)


@pytest.fixture(scope="module")
def imap_bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    server = start_dovecot(
        tmp_path_factory.mktemp("doctor-bare"),
        SPECIAL_USE_CONF + capabilities_without("IDLE", "MOVE"),
    )
    yield server
    _stop(server)


def _write_config(
    tmp: Path,
    imap: DovecotServer,
    smtpd: SmtpSink | None,
    tls: TlsFiles,
    *,
    imap_port: int | None = None,
    imap_ca: Path | None = None,
    password: str | None = None,
    mode: int = 0o600,
    imap_tls: str = "implicit",
    smtp_tls: str = "starttls",
    send: str = "",
) -> Path:
    pw = tmp / "imap.pass"
    pw.write_text((password if password is not None else imap.password) + "\n")
    os.chmod(pw, mode)
    text = f"""
[[accounts]]
id = 1
name = "Doc"
address = "alice@example.org"

[accounts.imap]
host = "127.0.0.1"
port = {imap_port or (imap.imaps_port if imap_tls == "implicit" else imap.imap_port)}
tls = "{imap_tls}"
username = "{imap.user}"
password_file = "{pw}"
ca_file = "{imap_ca or imap.ca_file}"
timeout = 5
"""
    if smtpd is not None:
        text += f"""
[accounts.smtp]
host = "127.0.0.1"
port = {smtpd.port}
tls = "{smtp_tls}"
username = "{USER}"
password_env = "{PASSWORD_ENV}"
ca_file = "{tls.ca_file}"
timeout = 5
"""
    if send:
        text += f"\n[accounts.send]\n{send}\n"
    cfg = tmp / "config.toml"
    cfg.write_text(text)
    return cfg


def _doctor(cfg: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any]:
    code = main(["--config", str(cfg), "doctor", "--json", "--dns-timeout", "1", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _steps(doc: Any) -> dict[str, dict[str, Any]]:
    return {c["step"]: c for c in doc["accounts"][0]["checks"]}


def test_all_steps_pass_against_dovecot_and_aiosmtpd(
    imap: DovecotServer,
    smtpd: SmtpSink,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _write_config(tmp_path, imap, smtpd, smtp_tls)
    code, doc = _doctor(cfg, capsys)
    steps = _steps(doc)
    assert code == 0 and doc["ok"] is True
    assert doc["config"]["status"] == "pass"
    for step in (
        "imap.credentials",
        "imap.dns",
        "imap.tcp",
        "imap.tls",
        "imap.login",
        "imap.capabilities",
        "imap.folders",
        "smtp.credentials",
        "smtp.dns",
        "smtp.tcp",
        "smtp.tls",
        "smtp.ehlo",
        "smtp.login",
    ):
        assert steps[step]["status"] == "pass", (step, steps[step])
    assert "certificate verified for 127.0.0.1" in steps["imap.tls"]["detail"]
    assert "days)" in steps["imap.tls"]["detail"]
    assert "STARTTLS" in steps["smtp.tls"]["detail"]
    for cap in CAPABILITY_EFFECTS:
        assert cap in steps["imap.capabilities"]["detail"]
    folders = steps["imap.folders"]["detail"]
    for role in (
        "Sent = Sent",  # sent_folder unset: found by its SPECIAL-USE \\Sent role
        "Drafts = Drafts",
        "Trash = Trash",
        "Archive = Archive",
    ):
        assert role in folders
    assert "PLAIN" in steps["smtp.ehlo"]["detail"] and "SIZE 64 MiB" in steps["smtp.ehlo"]["detail"]
    # This machine has no working DNS: one warning, never a failure.
    mail_dns = [s for s in steps if s.startswith("mail-dns")]
    assert mail_dns == ["mail-dns"] and steps["mail-dns"]["status"] == "warn"
    assert steps["mail-dns"]["hint"]


def test_text_output_and_no_secret(
    imap: DovecotServer,
    smtpd: SmtpSink,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _write_config(tmp_path, imap, smtpd, smtp_tls)
    code = main(["--config", str(cfg), "doctor", "--dns-timeout", "1"])
    captured = capsys.readouterr()
    assert code == 0
    assert "pass  imap.login" in captured.out and "account 1 (Doc)" in captured.out
    for secret in (imap.password, os.environ[PASSWORD_ENV]):
        assert secret not in captured.out and secret not in captured.err


def test_wrong_password_fails_the_login_step(
    imap: DovecotServer,
    smtpd: SmtpSink,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _write_config(tmp_path, imap, smtpd, smtp_tls, password="not-the-password")
    code, doc = _doctor(cfg, capsys)
    steps = _steps(doc)
    assert code == 1 and doc["ok"] is False
    assert steps["imap.tls"]["status"] == "pass"
    login = steps["imap.login"]
    assert login["status"] == "fail" and login["error_code"] == "EMAIL_AUTH_FAILED"
    assert "password" in login["hint"]
    assert steps["imap.capabilities"]["status"] == "skip"
    assert steps["smtp.login"]["status"] == "pass"  # the other server is checked all the same
    assert "not-the-password" not in json.dumps(doc)


def test_wrong_ca_fails_the_tls_step(
    imap: DovecotServer,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _write_config(tmp_path, imap, None, smtp_tls, imap_ca=smtp_tls.ca_file)
    code, doc = _doctor(cfg, capsys)
    steps = _steps(doc)
    assert code == 1
    assert steps["imap.tcp"]["status"] == "pass"
    tls = steps["imap.tls"]
    assert tls["status"] == "fail" and tls["error_code"] == "EMAIL_TLS_FAILED"
    assert "ca_file" in tls["hint"]
    assert steps["imap.login"]["status"] == "skip"


def test_closed_port_fails_the_tcp_step(
    imap: DovecotServer,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _write_config(tmp_path, imap, None, smtp_tls, imap_port=free_port())
    code, doc = _doctor(cfg, capsys)
    steps = _steps(doc)
    assert code == 1
    assert steps["imap.dns"]["status"] == "pass"
    tcp = steps["imap.tcp"]
    assert tcp["status"] == "fail" and tcp["error_code"] == "EMAIL_CONNECTION_FAILED"
    assert "refused" in tcp["detail"] and "port" in tcp["hint"]
    assert {steps[s]["status"] for s in ("imap.tls", "imap.login", "imap.folders")} == {"skip"}


def test_world_readable_password_file_fails_with_the_chmod_hint(
    imap: DovecotServer,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The credentials step fails with the chmod hint; the config step passes and the network
    # steps still run (only the login, which would read the file, is skipped).
    cfg = _write_config(tmp_path, imap, None, smtp_tls, mode=0o644)
    code, doc = _doctor(cfg, capsys)
    assert code == 1 and doc["config"]["status"] == "pass"
    steps = _steps(doc)
    cred = steps["imap.credentials"]
    assert cred["status"] == "fail" and cred["error_code"] == "EMAIL_CONFIG"
    assert "mode 644" in cred["detail"]
    assert cred["hint"] == f"run: chmod 600 {tmp_path / 'imap.pass'}"
    assert steps["imap.tcp"]["status"] == "pass" and steps["imap.tls"]["status"] == "pass"
    assert steps["imap.login"]["status"] == "skip"
    assert imap.password not in json.dumps(doc)


def test_password_file_loosened_after_loading_fails_the_credentials_step(
    imap: DovecotServer, smtp_tls: TlsFiles, tmp_path: Path
) -> None:
    import asyncio

    from prx_email.config.loader import load_config

    cfg = _write_config(tmp_path, imap, None, smtp_tls)
    config = load_config(cfg)
    os.chmod(tmp_path / "imap.pass", 0o644)  # e.g. under a running `sync --watch`
    ctx = ServiceContext(config=config, db=Database(":memory:"), credentials=default_manager())

    async def no_dns(name: str) -> list[str]:
        raise DnsUnavailable("test")

    report = asyncio.run(diagnose(ctx, txt_lookup=no_dns))
    steps = {c.step: c for c in report.accounts[0].checks}
    cred = steps["imap.credentials"]
    assert cred.status is Status.FAIL and cred.error_code == "EMAIL_CONFIG"
    assert "mode 644" in cred.detail and cred.hint and "chmod 600" in cred.hint
    assert steps["imap.tls"].status is Status.PASS  # the network is still checked
    assert steps["imap.login"].status is Status.SKIP
    assert not report.ok


def test_server_without_idle_and_move_warns_with_what_the_plugin_does(
    imap_bare: DovecotServer,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _write_config(tmp_path, imap_bare, None, smtp_tls)
    code, doc = _doctor(cfg, capsys)
    caps = _steps(doc)["imap.capabilities"]
    assert caps["status"] == "warn"
    assert "missing IDLE MOVE" in caps["detail"]
    assert CAPABILITY_EFFECTS["IDLE"] in caps["hint"] and CAPABILITY_EFFECTS["MOVE"] in caps["hint"]
    assert "without UIDPLUS" not in caps["hint"] and "without IDLE" in caps["hint"]
    assert code == 0  # a warning is not a failure


def test_network_off_runs_the_offline_checks_and_fails_the_network_step(
    imap: DovecotServer,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(NETWORK_ENV)
    cfg = _write_config(tmp_path, imap, None, smtp_tls)
    code, doc = _doctor(cfg, capsys)
    steps = _steps(doc)
    assert code == 1 and list(steps) == ["imap.credentials", "network"]
    assert steps["imap.credentials"]["status"] == "pass"
    net = steps["network"]
    assert net["status"] == "fail" and net["error_code"] == "EMAIL_NETWORK_DISABLED"
    assert NETWORK_ENV in net["hint"]


def test_starttls_imap_and_a_missing_sent_folder(
    imap: DovecotServer,
    smtpd: SmtpSink,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _write_config(
        tmp_path, imap, smtpd, smtp_tls, imap_tls="starttls", send='sent_folder = "Sent Items"'
    )
    code, doc = _doctor(cfg, capsys)
    steps = _steps(doc)
    assert code == 0
    assert steps["imap.tls"]["status"] == "pass" and "STARTTLS" in steps["imap.tls"]["detail"]
    folders = steps["imap.folders"]
    assert folders["status"] == "warn"
    assert "sent_folder 'Sent Items' does not exist" in folders["detail"]
    assert "the server marks 'Sent' as Sent" in folders["hint"]


def test_folders_without_roles_name_the_config_keys(
    dovecot: DovecotServer,
    smtp_tls: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The session Dovecot announces no roles; a configured trash_folder that exists passes.
    dovecot.create_folder("Bin")
    cfg = _write_config(tmp_path, dovecot, None, smtp_tls)
    with cfg.open("a") as f:
        f.write('\n[accounts.actions]\ntrash_folder = "Bin"\n')
    code, doc = _doctor(cfg, capsys)
    folders = _steps(doc)["imap.folders"]
    assert code == 0 and folders["status"] == "warn"
    assert "Trash = Bin (trash_folder)" in folders["detail"]
    assert "no folder has the \\Archive role" in folders["detail"]
    assert "set archive_folder in [accounts.actions]" in folders["hint"]
    assert "trash_folder" not in folders["hint"]


def test_certificate_close_to_expiry_warns(
    imap: DovecotServer,
    smtp_password: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import datetime as dt
    import ssl

    import trustme

    ca = trustme.CA()
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=5, hours=1)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=soon).configure_cert(ctx)
    ca_file = tmp_path / "soon-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    files = TlsFiles(ca, ca_file, ctx)
    sink = SmtpSink(tls="implicit", tls_files=files).start()
    try:
        cfg = _write_config(tmp_path, imap, sink, files, smtp_tls="implicit")
        code, doc = _doctor(cfg, capsys)
    finally:
        sink.stop()
    tls = _steps(doc)["smtp.tls"]
    assert tls["status"] == "warn" and "(5 days)" in tls["detail"] and "renew" in tls["hint"]
    assert _steps(doc)["smtp.login"]["status"] == "pass"
    assert code == 0


def test_invalid_config_is_the_config_step_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[[accounts]]\nid = 0\n")
    code, doc = _doctor(cfg, capsys)
    assert code == 1 and doc["config"]["status"] == "fail"
    assert doc["config"]["error_code"] == "EMAIL_CONFIG" and doc["config"]["hint"]
    assert doc["accounts"] == []


def test_unknown_account_is_an_error(
    imap: DovecotServer, smtp_tls: TlsFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write_config(tmp_path, imap, None, smtp_tls)
    code = main(["--config", str(cfg), "doctor", "--account", "9"])
    err = capsys.readouterr().err
    assert code == 1 and "no account with id 9" in err


# -- the mail-DNS checks with a resolver that answers (no network: a fake lookup) ---------


async def _diagnose_dns(records: dict[str, list[str]]) -> dict[str, Any]:
    from prx_email.config.model import AccountConfig, PasswordAuth, ServerConfig, TlsMode

    acc = AccountConfig(
        id=1,
        name="x",
        address="me@mail.example",
        smtp=ServerConfig("127.0.0.1", free_port(), TlsMode.NONE, "me", PasswordAuth()),
    )
    ctx = ServiceContext(
        config=Config(accounts=(acc,)), db=Database(":memory:"), credentials=default_manager()
    )

    async def lookup(name: str) -> list[str]:
        return records.get(name, [])

    report = await diagnose(ctx, txt_lookup=lookup)
    return {c.step: c for c in report.accounts[0].checks}


async def test_spf_and_dkim_found() -> None:
    steps = await _diagnose_dns(
        {
            "mail.example": ["v=spf1 include:_spf.mail.example -all", "other"],
            "selector1._domainkey.mail.example": ["v=DKIM1; k=rsa; p=MIIB"],
        }
    )
    assert steps["mail-dns.spf"].status is Status.PASS
    assert "v=spf1" in steps["mail-dns.spf"].detail
    assert steps["mail-dns.dkim"].status is Status.PASS
    assert "selector1" in steps["mail-dns.dkim"].detail


async def test_missing_spf_and_dkim_are_warnings() -> None:
    steps = await _diagnose_dns({})
    assert steps["mail-dns.spf"].status is Status.WARN and steps["mail-dns.spf"].hint
    assert steps["mail-dns.dkim"].status is Status.WARN and steps["mail-dns.dkim"].hint
    assert steps["smtp.tcp"].status is Status.FAIL  # nothing listens there


async def test_dead_nameserver_is_dns_unavailable() -> None:
    lookup = dns_txt_lookup(timeout=0.5, nameservers=["127.0.0.1"])
    with pytest.raises(DnsUnavailable):
        await lookup("example.org")


def test_xoauth2_login_shows_the_token_expiry_and_never_the_token(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    import asyncio
    import time

    from fixtures.smtpd import TOKEN
    from prx_email.auth import CredentialManager, TokenSet
    from prx_email.auth.secrets import SecretBox, decode_key, generate_key
    from prx_email.auth.tokens import TokenFile
    from prx_email.config.model import AccountConfig, OAuth2Auth, ServerConfig, TlsMode

    box = SecretBox(decode_key(generate_key()))
    token_file = tmp_path / "smtp.token"
    TokenFile(token_file, box).save(TokenSet(access_token=TOKEN, expires_at=time.time() + 3600))
    assert smtpd.tls_files is not None
    acc = AccountConfig(
        id=1,
        name="OAuth",
        address="sender@localhost",
        smtp=ServerConfig(
            smtpd.host,
            smtpd.port,
            TlsMode.STARTTLS,
            USER,
            OAuth2Auth(
                client_id="doctor-test",
                token_endpoint="http://127.0.0.1:9/token",
                token_file=token_file,
            ),
            ca_file=smtpd.tls_files.ca_file,
            timeout=5,
        ),
    )
    ctx = ServiceContext(
        config=Config(accounts=(acc,)),
        db=Database(":memory:"),
        credentials=CredentialManager(box=box),
    )
    report = asyncio.run(diagnose(ctx))
    steps = {c.step: c for c in report.accounts[0].checks}
    cred = steps["smtp.credentials"]
    assert cred.status is Status.PASS and "xoauth2 from token file" in cred.detail
    assert "token expires in 59 min" in cred.detail or "token expires in 60 min" in cred.detail
    assert "XOAUTH2" in steps["smtp.ehlo"].detail
    assert steps["smtp.login"].status is Status.PASS
    assert steps["mail-dns"].status is Status.PASS  # a local domain: nothing to look up
    assert report.ok and TOKEN not in json.dumps(report.to_json())
    assert smtpd.handler.xoauth2_attempts == 1
