"""``prx-email oauth bootstrap`` end to end against the loopback authorization server, plus
``prx-email auth status`` / ``auth reload`` and the config reload API."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import os
import stat
import sys
import urllib.parse
from pathlib import Path

import pytest
from fixtures.oauth import OAuthServer, assert_no_secrets
from prx_email.adapters.cli.main import main
from prx_email.auth import (
    ConfigHolder,
    CredentialManager,
    OAuthBearer,
    TokenSet,
    reload_config,
)
from prx_email.auth.bootstrap import (
    Pkce,
    authorization_url,
    code_from_callback,
    exchange_code,
    plan_bootstrap,
)
from prx_email.auth.secrets import SecretBox, secrets_dir
from prx_email.auth.tokens import TokenFile
from prx_email.config.loader import load_config
from prx_email.errors import AuthFailed, AuthRefreshFailed, ConfigError, InvalidArgument


class ConsentingStdin(io.StringIO):
    """Plays the user: reads the URL the command printed, consents, pastes the callback."""

    def __init__(self, server: OAuthServer, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__()
        self.server = server
        self.capsys = capsys
        self.seen = ""
        self.tamper = False

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        out = self.capsys.readouterr()
        self.seen += out.out + out.err
        url = next(line for line in out.out.splitlines() if line.startswith("http"))
        callback = self.server.consent(url)
        if self.tamper:
            callback = callback.replace("state=", "state=x")
        return str(callback) + "\n"


def boot_args(server: OAuthServer, *extra: str) -> list[str]:
    return [
        "oauth",
        "bootstrap",
        "--provider",
        "outlook",
        "--client-id",
        server.client_id,
        "--authorize-endpoint",
        server.authorize_url,
        "--token-endpoint",
        server.token_url,
        *extra,
    ]


def test_dry_run_prints_only_the_url(oauth_server: OAuthServer, secret_home: Path, capsys):
    assert main([*boot_args(oauth_server), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    (url,) = out.out.splitlines()
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
    assert q["scope"] == [
        "offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send"
    ]
    assert q["redirect_uri"] == ["http://localhost"] and q["state"][0]
    assert oauth_server.hits["token:authorization_code"] == 0
    assert not secrets_dir().exists()  # nothing stored


def test_default_endpoints_for_the_presets(secret_home: Path, capsys) -> None:
    main(["oauth", "bootstrap", "--provider", "outlook", "--client-id", "c", "--tenant",
          "contoso.example", "--dry-run"])  # fmt: skip
    assert capsys.readouterr().out.startswith(
        "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/authorize?"
    )
    main(["oauth", "bootstrap", "--provider", "google", "--client-id", "c", "--dry-run"])
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert q["scope"] == ["https://mail.google.com/"] and q["access_type"] == ["offline"]


def test_bootstrap_end_to_end_then_config_status_and_use(
    oauth_server: OAuthServer,
    secret_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    stdin = ConsentingStdin(oauth_server, capsys)
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main([*boot_args(oauth_server), "--account", "1"]) == 0
    out = capsys.readouterr()
    printed = stdin.seen + out.out + out.err
    assert oauth_server.hits["token:authorization_code"] == 1  # code + verifier accepted
    token_file = secrets_dir() / "tokens" / "account-1.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    tokens = TokenFile(token_file, SecretBox.from_environment()).load()
    assert tokens is not None and tokens.refresh_token in oauth_server.refresh
    assert b"rt-" not in token_file.read_bytes() and b"at-" not in token_file.read_bytes()
    assert "[accounts.imap.oauth2]" in out.out and "[accounts.smtp.oauth2]" in out.out

    # the printed lines make a config the loader accepts
    lines = out.out[out.out.index("# Add to the account") :]
    config = tmp_path / "config.toml"
    config.write_text(
        '[[accounts]]\nid = 1\nname = "work"\naddress = "alice@example.org"\n'
        + lines.replace("[accounts.imap]", '[accounts.imap]\nhost = "127.0.0.1"').replace(
            "[accounts.smtp]", '[accounts.smtp]\nhost = "127.0.0.1"'
        )
    )
    loaded = load_config(config)
    acc = loaded.accounts[0]

    # status: mechanism and expiry, never a token
    assert main(["--config", str(config), "auth", "status"]) == 0
    status = capsys.readouterr()
    assert "xoauth2" in status.out and "imap" in status.out and "smtp" in status.out
    assert "(in 0h59m)" in status.out or "(in 1h00m)" in status.out
    assert main(["--config", str(config), "auth", "status", "--json"]) == 0
    status_json = capsys.readouterr()

    # the stored tokens work for both protocols (shared file)
    mgr = CredentialManager()
    imap_cred = asyncio.run(mgr.credential(acc, "imap"))
    smtp_cred = asyncio.run(mgr.credential(acc, "smtp"))
    assert isinstance(imap_cred, OAuthBearer) and imap_cred == smtp_cred
    assert oauth_server.is_active(imap_cred.access_token)

    everything = printed + status.out + status.err + status_json.out + caplog.text
    assert_no_secrets(everything, [*oauth_server.issued])


def test_bootstrap_refuses_a_forged_state(
    oauth_server: OAuthServer, secret_home: Path, capsys, monkeypatch
) -> None:
    stdin = ConsentingStdin(oauth_server, capsys)
    stdin.tamper = True
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(boot_args(oauth_server)) == 1
    err = capsys.readouterr().err
    assert "state does not match" in err
    assert oauth_server.hits["token:authorization_code"] == 0
    assert not (secrets_dir() / "tokens").exists()


def test_bootstrap_to_an_explicit_output(
    oauth_server: OAuthServer, secret_home: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    out_dir = tmp_path / "private"
    monkeypatch.setattr(sys, "stdin", ConsentingStdin(oauth_server, capsys))
    target = out_dir / "outlook.token"
    assert main([*boot_args(oauth_server), "--output", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(out_dir.stat().st_mode) == 0o700
    assert f'token_file = "{target}"' in capsys.readouterr().out


async def test_pkce_verifier_is_checked(oauth_server: OAuthServer) -> None:
    plan = plan_bootstrap(
        "outlook",
        oauth_server.client_id,
        authorize_endpoint=oauth_server.authorize_url,
        token_endpoint=oauth_server.token_url,
    )
    code = code_from_callback(oauth_server.consent(authorization_url(plan)), plan)
    wrong = dataclasses.replace(plan, pkce=Pkce.new())
    with pytest.raises(AuthRefreshFailed, match="invalid_grant") as info:
        await exchange_code(wrong, code)
    assert plan.pkce.verifier not in str(info.value)
    # the code was single use: the right verifier no longer helps either
    with pytest.raises(AuthRefreshFailed):
        await exchange_code(plan, code)


def test_callback_parsing() -> None:
    plan = plan_bootstrap("google", "cid")
    state = plan.pkce.state
    assert code_from_callback(f"http://localhost/?code=abc&state={state}", plan) == "abc"
    assert code_from_callback("  bare-code \n", plan) == "bare-code"
    with pytest.raises(AuthFailed, match="refused consent: access_denied"):
        code_from_callback(f"http://localhost/?error=access_denied&state={state}", plan)
    with pytest.raises(AuthFailed, match="state"):
        code_from_callback("http://localhost/?code=abc&state=other", plan)
    with pytest.raises(InvalidArgument):
        code_from_callback("", plan)
    with pytest.raises(ConfigError, match="https"):
        plan_bootstrap("google", "cid", token_endpoint="http://example.org/token")
    assert "verifier" not in repr(plan.pkce) or plan.pkce.verifier not in repr(plan)


# -- reload ----------------------------------------------------------------------------------

GOOD = """
[[accounts]]
id = 1
name = "work"
address = "alice@example.org"
[accounts.imap]
host = "127.0.0.1"
password_env = "PW"
"""


def test_reload_config_applies_valid_and_keeps_old_on_invalid(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    holder = ConfigHolder(load_config(path), CredentialManager())
    path.write_text(GOOD.replace('name = "work"', 'name = "office"') + GOOD.replace("1", "2"))
    result = reload_config(holder)
    assert result.changed == (1,) and result.added == (2,) and result.removed == ()
    assert holder.config.accounts[0].name == "office"
    before = holder.config
    # both mechanisms at once: invalid → old config stays, the error says so
    path.write_text(GOOD + 'password_file = "/x"\n[accounts.imap.oauth2]\nclient_id = "c"\n')
    with pytest.raises(ConfigError, match="previous configuration stays in effect") as info:
        reload_config(holder)
    assert holder.config is before
    assert str(path) in info.value.message


def test_cli_auth_reload(tmp_path: Path, capsys, monkeypatch, secret_home: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("OPS_SMTP_OAUTH_TOKEN", "env-token-value")
    assert main(["--config", str(path), "auth", "reload", "--env-prefix", "OPS"]) == 0
    out = capsys.readouterr()
    assert "valid, 1 account" in out.out and "smtp: token from OPS_SMTP_OAUTH_TOKEN" in out.out
    assert_no_secrets(out.out + out.err, ["env-token-value"])
    path.write_text("[[accounts]]\nid = 0\n")
    assert main(["--config", str(path), "auth", "reload"]) == 1
    err = capsys.readouterr().err
    assert "not reloaded" in err and "previous configuration" in err


def test_status_reports_a_loose_token_file(tmp_path: Path, secret_home: Path, capsys) -> None:
    token = tmp_path / "t.token"
    TokenFile(token, SecretBox.from_environment()).save(TokenSet("a", None, "r"))
    os.chmod(token, 0o644)
    path = tmp_path / "config.toml"
    path.write_text(
        GOOD.replace('password_env = "PW"', 'auth = "oauth2"')
        + f'[accounts.imap.oauth2]\nclient_id = "c"\ntoken_endpoint = "https://idp.example/t"\n'
        f'token_file = "{token}"\n'
    )
    assert main(["--config", str(path), "auth", "status"]) == 1
    out = capsys.readouterr()
    assert "group or others" in out.err


def test_reload_config_on_a_service_context(tmp_path: Path, secret_home: Path) -> None:
    from prx_email.services.context import ServiceContext
    from prx_email.store.db import Database

    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    db = Database(tmp_path / "mail.db")
    try:
        ctx = ServiceContext(config=load_config(path), db=db, credentials=CredentialManager())
        path.write_text(GOOD.replace("127.0.0.1", "127.0.0.2"))
        result = reload_config(ctx)
        assert result.changed == (1,)
        acc = ctx.account(1)
        assert acc.imap is not None and acc.imap.host == "127.0.0.2"
    finally:
        db.close()
