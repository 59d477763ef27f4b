"""Config TOML loader: presets, credential rules, and errors that name the line and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prx_email.config.loader import load_config, parse_config
from prx_email.config.model import OAuth2Auth, PasswordAuth, TlsMode
from prx_email.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def _error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, text))
    return exc.value


FULL = """\
[attachments]
root = "att"
max_bytes = 1000
allowed_types = ["text/*"]

[[accounts]]
id = 1
name = "Work"
address = "me@example.org"

[accounts.imap]
host = "imap.example.org"
port = 1993
tls = "implicit"
username = "me"
password_env = "WORK_PW"
ca_file = "ca.pem"

[accounts.smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
password_env = "WORK_PW"

[accounts.sync]
folders = ["INBOX", "Archive"]
batch_size = 200
max_body_bytes = 4096

[accounts.send]
sent_folder = "Sent Items"

[[accounts]]
id = 2
address = "someone@gmail.com"

[accounts.imap]
auth = "oauth2"

[accounts.imap.oauth2]
client_id = "abc"
refresh_token_env = "G_REFRESH"
scopes = ["https://mail.google.com/"]
"""


def test_full_config(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, FULL))
    a, b = cfg.accounts
    assert a.id == 1 and a.name == "Work"
    assert a.imap is not None and a.imap.port == 1993 and a.imap.tls is TlsMode.IMPLICIT
    assert a.imap.ca_file == tmp_path / "ca.pem"
    assert a.imap.auth == PasswordAuth(password_env="WORK_PW")
    assert a.smtp is not None and a.smtp.tls is TlsMode.NONE and a.smtp.username == a.address
    assert a.sync.folders == ("INBOX", "Archive") and a.sync.batch_size == 200
    assert a.send.sent_folder == "Sent Items"
    assert cfg.attachments.root == tmp_path / "att" and cfg.attachments.max_bytes == 1000
    # gmail preset fills the host, port and oauth2 provider
    assert b.name == b.address
    assert b.imap is not None and b.imap.host == "imap.gmail.com" and b.imap.port == 993
    assert isinstance(b.imap.auth, OAuth2Auth) and b.imap.auth.provider == "google"
    assert b.imap.auth.scopes == ("https://mail.google.com/",)
    assert b.smtp is None


@pytest.mark.parametrize(
    ("address", "imap_host", "smtp_host", "smtp_port"),
    [
        ("x@gmail.com", "imap.gmail.com", "smtp.gmail.com", 465),
        ("x@googlemail.com", "imap.gmail.com", "smtp.gmail.com", 465),
        ("x@outlook.com", "outlook.office365.com", "smtp.office365.com", 587),
        ("x@hotmail.com", "outlook.office365.com", "smtp.office365.com", 587),
        ("x@live.com", "outlook.office365.com", "smtp.office365.com", 587),
        ("x@yahoo.com", "imap.mail.yahoo.com", "smtp.mail.yahoo.com", 465),
        ("x@icloud.com", "imap.mail.me.com", "smtp.mail.me.com", 587),
        ("x@me.com", "imap.mail.me.com", "smtp.mail.me.com", 587),
    ],
)
def test_presets(address: str, imap_host: str, smtp_host: str, smtp_port: int) -> None:
    cfg = parse_config(
        f"""
[[accounts]]
id = 1
address = "{address}"
[accounts.imap]
password_env = "P"
[accounts.smtp]
password_env = "P"
"""
    )
    acc = cfg.accounts[0]
    assert acc.imap is not None and acc.imap.host == imap_host and acc.imap.port == 993
    assert acc.smtp is not None and acc.smtp.host == smtp_host and acc.smtp.port == smtp_port


def test_office365_provider_key_for_custom_domain() -> None:
    cfg = parse_config(
        """
[[accounts]]
id = 1
address = "me@company.example"
provider = "office365"
[accounts.imap]
password_env = "P"
"""
    )
    imap = cfg.accounts[0].imap
    assert imap is not None and imap.host == "outlook.office365.com"


def test_unknown_key_has_line_and_suggestion(tmp_path: Path) -> None:
    err = _error(
        tmp_path,
        """[[accounts]]
id = 1
address = "a@example.org"

[accounts.imap]
host = "imap.example.org"
pasword_env = "X"
""",
    )
    assert ":7:" in err.message
    assert "accounts[0].imap.pasword_env" in err.message
    assert err.hint is not None and "password_env" in err.hint


def test_error_in_second_account_points_at_its_line(tmp_path: Path) -> None:
    err = _error(
        tmp_path,
        """[[accounts]]
id = 1
address = "a@example.org"
[accounts.imap]
host = "h.example.org"
tls = "implicit"
password_env = "A"

[[accounts]]
id = 2
address = "b@example.org"
[accounts.imap]
host = "h.example.org"
tls = "ssl"
password_env = "B"
""",
    )
    assert ":14:" in err.message and "accounts[1].imap.tls" in err.message
    assert "implicit, starttls, none" in err.message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('password_env = "A"\npassword_file = "f"', "password_file"),
        ('password_env = "A"\nauth = "oauth2"', "both a password and oauth2"),
        ('auth = "oauth2"\npassword_env = "A"', "both a password and oauth2"),
        ("", "no authentication configured"),
        ('auth = "oauth2"', "no token source"),
    ],
)
def test_exactly_one_credential(tmp_path: Path, body: str, needle: str) -> None:
    err = _error(
        tmp_path,
        f"""[[accounts]]
id = 1
address = "a@example.org"
[accounts.imap]
host = "imap.example.org"
{body}
""",
    )
    assert needle in err.message
    assert "accounts[0].imap" in err.message
    assert any(f":{n}:" in err.message for n in (4, 6, 7))


def test_plain_refused_to_remote_host(tmp_path: Path) -> None:
    err = _error(
        tmp_path,
        """[[accounts]]
id = 1
address = "a@example.org"
[accounts.imap]
host = "imap.example.org"
tls = "none"
password_env = "A"
""",
    )
    assert "loopback" in err.message and ":6:" in err.message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_plain_allowed_to_loopback(host: str) -> None:
    cfg = parse_config(
        f"""[[accounts]]
id = 1
address = "a@example.org"
[accounts.imap]
host = "{host}"
tls = "none"
password_env = "A"
"""
    )
    assert cfg.accounts[0].imap is not None and cfg.accounts[0].imap.port == 143


def test_loose_password_file_refused(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("secret")
    os.chmod(pw, 0o644)
    text = f"""[[accounts]]
id = 1
address = "a@example.org"
[accounts.imap]
host = "imap.example.org"
password_file = "{pw}"
"""
    err = _error(tmp_path, text)
    assert "readable by group or others" in err.message and ":6:" in err.message
    assert "secret" not in err.message
    os.chmod(pw, 0o600)
    cfg = load_config(_write(tmp_path, text))
    assert cfg.accounts[0].imap is not None
    assert cfg.accounts[0].imap.auth == PasswordAuth(password_file=pw)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[[accounts]]\nname = 'x'\naddress = 'a@b.c'\n", "accounts[0].id: is required"),
        ("[[accounts]]\nid = 0\naddress = 'a@b.c'\n", "positive"),
        ("[[accounts]]\nid = true\naddress = 'a@b.c'\n", "must be an integer"),
        ("[[accounts]]\nid = 1\naddress = 'nope'\n", "not an email address"),
        (
            "[[accounts]]\nid = 1\naddress = 'a@b.c'\n[[accounts]]\nid = 1\naddress = 'd@b.c'\n",
            ":5: accounts[1].id: duplicates",
        ),
        ("[[accounts]]\nid = 1\naddress = 'a@b.c'\n[accounts.sync]\nbatch_size = 0\n", ":5:"),
        (
            "[[accounts]]\nid = 1\naddress = 'a@x.example'\n[accounts.imap]\npassword_env='A'\n",
            "host: is required",
        ),
        ("[atachments]\nroot = 'x'\n", "did you mean"),
        ("[[accounts]]\nid = \n", "invalid TOML"),
    ],
)
def test_semantic_errors(tmp_path: Path, text: str, needle: str) -> None:
    err = _error(tmp_path, text)
    assert needle in err.message or (err.hint and needle in err.hint), err.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_empty_config_is_valid() -> None:
    cfg = parse_config("")
    assert cfg.accounts == ()


def test_send_circuit_settings(tmp_path: Path) -> None:
    base = "[[accounts]]\nid = 1\naddress = 'a@example.org'\n[accounts.send]\n"
    cfg = load_config(
        _write(tmp_path, base + "circuit_failures = 3\ncircuit_cooldown_seconds = 15\n")
    )
    send = cfg.accounts[0].send
    assert send.circuit_failures == 3
    assert send.circuit_cooldown_seconds == 15.0 and isinstance(
        send.circuit_cooldown_seconds, float
    )
    # Defaults: the breaker's former constants (5 failures, 60 s).
    default = load_config(_write(tmp_path, base)).accounts[0].send
    assert (default.circuit_failures, default.circuit_cooldown_seconds) == (5, 60.0)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("circuit_failures = 0", ":6: accounts[0].send.circuit_failures: must be greater than"),
        ("circuit_failures = 2.5", ":6: accounts[0].send.circuit_failures: must be an integer"),
        ("circuit_cooldown_seconds = -1", ":6: accounts[0].send.circuit_cooldown_seconds: must"),
        ("circuit_cooldown_seconds = 'soon'", ":6: accounts[0].send.circuit_cooldown_seconds"),
        ("circuit_failure = 3", ":6: accounts[0].send.circuit_failure: unknown key"),
    ],
)
def test_send_circuit_settings_errors(tmp_path: Path, line: str, needle: str) -> None:
    text = "[[accounts]]\nid = 1\naddress = 'a@example.org'\n[accounts.send]\nmax_attempts = 3\n"
    text += line + "\n"
    err = _error(tmp_path, text)
    assert needle in err.message, err.message
    if "unknown key" in needle:
        assert err.hint is not None and "circuit_failures" in err.hint


# -- the loader calls auth/validate.py (issue 9 item 7) --------------------------------------

_OAUTH = """[[accounts]]
id = 1
address = "a@example.org"
[accounts.imap]
host = "imap.example.org"
auth = "oauth2"
[accounts.imap.oauth2]
"""


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        # Before, both were accepted: an http endpoint to a remote host, and no client_id.
        ('token_endpoint = "http://idp.example/t"\nclient_id = "c"', "must use https"),
        ('token_endpoint = "https://idp.example/t"', "token refresh needs client_id"),
        ('token_endpoint = "http://127.0.0.1:9/t"', "token refresh needs client_id"),
        ('provider = "yahoo"\nclient_id = "c"', "unknown OAuth2 provider"),
        ('client_id = "c"\nrefresh_token_env = "R"', "needs a provider or a token_endpoint"),
        ('scopes = ["x"]', "has no token source"),
    ],
)
def test_oauth2_validated_by_the_loader(tmp_path: Path, body: str, needle: str) -> None:
    err = _error(tmp_path, _OAUTH + body + "\n")
    assert needle in err.message, err.message
    assert ":7: accounts[0].imap.oauth2" in err.message
    assert err.hint


@pytest.mark.parametrize(
    "body",
    [
        'access_token_env = "T"',  # refreshed by someone else: no client_id needed
        'token_endpoint = "http://127.0.0.1:9/t"\nclient_id = "c"\nrefresh_token_env = "R"',
        'provider = "microsoft"\nclient_id = "c"',
    ],
)
def test_oauth2_accepted(tmp_path: Path, body: str) -> None:
    cfg = load_config(_write(tmp_path, _OAUTH + body + "\n"))
    imap = cfg.accounts[0].imap
    assert imap is not None and isinstance(imap.auth, OAuth2Auth)


# -- a loopback SMTP relay needs no credential (issue 10 item 18) ----------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_smtp_needs_no_credential(host: str) -> None:
    cfg = parse_config(
        f'[[accounts]]\nid = 1\naddress = "a@example.org"\n'
        f'[accounts.smtp]\nhost = "{host}"\nport = 25\ntls = "none"\n'
    )
    smtp = cfg.accounts[0].smtp
    assert smtp is not None and smtp.auth == PasswordAuth() and not smtp.logs_in


@pytest.mark.parametrize(
    "table",
    [
        '[accounts.smtp]\nhost = "smtp.example.org"\n',  # remote SMTP: still required
        '[accounts.imap]\nhost = "127.0.0.1"\ntls = "none"\n',  # IMAP always logs in
    ],
)
def test_credential_still_required(tmp_path: Path, table: str) -> None:
    err = _error(tmp_path, '[[accounts]]\nid = 1\naddress = "a@example.org"\n' + table)
    assert "no authentication configured" in err.message and ":4:" in err.message


def test_loopback_smtp_with_a_password_still_logs_in() -> None:
    cfg = parse_config(
        '[[accounts]]\nid = 1\naddress = "a@example.org"\n'
        '[accounts.smtp]\nhost = "127.0.0.1"\ntls = "none"\npassword_env = "P"\n'
    )
    smtp = cfg.accounts[0].smtp
    assert smtp is not None and smtp.logs_in


# -- sync interval -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "0.5", "-5"])
def test_interval_seconds_at_least_one(tmp_path: Path, value: str) -> None:
    text = "[[accounts]]\nid = 1\naddress = 'a@example.org'\n[accounts.sync]\n"
    err = _error(tmp_path, text + f"folders = ['INBOX']\ninterval_seconds = {value}\n")
    assert ":6: accounts[0].sync.interval_seconds: must be at least 1" in err.message


def test_interval_seconds_one_is_accepted() -> None:
    cfg = parse_config(
        "[[accounts]]\nid = 1\naddress = 'a@b.c'\n[accounts.sync]\ninterval_seconds = 1\n"
    )
    assert cfg.accounts[0].sync.interval_seconds == 1.0


# -- which config is in force: config.resolve.load_config (issue 10 items 16, 17) -------------


@pytest.fixture
def no_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG config home in tmp, no PRX_EMAIL_CONFIG: the default path is tmp/prx-email/…"""
    monkeypatch.delenv("PRX_EMAIL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "prx-email" / "config.toml"


def test_resolve_missing_default_is_the_local_account(no_env: Path) -> None:
    from prx_email.config import LOCAL_ACCOUNT
    from prx_email.config import load_config as resolve

    cfg = resolve(None)
    assert cfg.accounts == (LOCAL_ACCOUNT,) and cfg.source == no_env and cfg.source_missing
    assert cfg.describe_source() == f"{no_env} (default, not found)"


def test_resolve_default_file_is_loaded(no_env: Path) -> None:
    from prx_email.config import load_config as resolve

    no_env.parent.mkdir(parents=True)
    no_env.write_text("[[accounts]]\nid = 7\naddress = 'a@example.org'\n")
    cfg = resolve(None)
    assert [a.id for a in cfg.accounts] == [7] and not cfg.source_missing
    assert cfg.describe_source() == str(no_env.resolve())


@pytest.mark.parametrize("how", ["argument", "env"])
def test_resolve_missing_named_file_is_an_error(
    no_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from prx_email.config import load_config as resolve

    missing = tmp_path / "elsewhere.toml"
    if how == "env":
        monkeypatch.setenv("PRX_EMAIL_CONFIG", str(missing))
    with pytest.raises(ConfigError) as info:
        resolve(missing if how == "argument" else None)
    assert str(missing) in info.value.message and info.value.hint


def test_resolve_directory_at_default_path_is_an_error(no_env: Path) -> None:
    from prx_email.config import load_config as resolve

    no_env.mkdir(parents=True)  # not silently "no config"
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve(None)


def test_resolve_passes_a_config_through() -> None:
    from prx_email.config import Config
    from prx_email.config import load_config as resolve

    cfg = Config()
    assert resolve(cfg) is cfg
