"""`prx-email import` with no config, and into an unconfigured account (issue 10 item 16).

The real CLI in a subprocess over the real component: no config file means the local
account, whose imported mail every tool can read at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prx_email.config import LOCAL_ACCOUNT, load_config

pytestmark = pytest.mark.component

MBOX = (
    "From ann@example.org Mon Jan  1 00:00:00 2024\n"
    "From: Ann <ann@example.org>\nSubject: Quarterly invoice\nMessage-ID: <inv-1@example.org>\n"
    "Date: Mon, 01 Jan 2024 00:00:00 +0000\nStatus: RO\n\nPlease find the invoice.\n\n"
    "From bob@example.org Mon Jan  1 00:00:00 2024\n"
    "From: Bob <bob@example.org>\nSubject: Lunch?\nMessage-ID: <lunch-1@example.org>\n"
    "Date: Tue, 02 Jan 2024 00:00:00 +0000\n\nNoon?\n"
)


@pytest.fixture
def cli(plugin_wasm: Path, component_cache_dir: Path, tmp_path: Path):
    env = {
        **os.environ,
        "PRX_EMAIL_COMPONENT": str(plugin_wasm),
        "PRX_EMAIL_CACHE_DIR": str(component_cache_dir),
        "PRX_EMAIL_DB": str(tmp_path / "mail.db"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    env.pop("PRX_EMAIL_CONFIG", None)
    env.pop("PRX_EMAIL_ENABLE_REAL_NETWORK", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "prx_email.adapters.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    return run


def _data(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stdout + result.stderr
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is True, envelope
    return envelope["data"]


def test_import_without_config_is_queryable_at_once(cli, tmp_path: Path) -> None:
    box = tmp_path / "mail.mbox"
    box.write_text(MBOX)
    done = cli("import", str(box))
    assert done.returncode == 0, done.stderr
    assert "imported: 2" in done.stdout and "account 1 'local'" in done.stdout
    config = tmp_path / "xdg" / "prx-email" / "config.toml"
    assert f"no config file at {config}" in done.stderr  # says which path it looked at

    accounts = _data(cli("call", "email.accounts"))
    assert isinstance(accounts, list) and len(accounts) == 1
    assert accounts[0]["id"] == LOCAL_ACCOUNT.id and accounts[0]["address"] == "local@localhost"
    assert accounts[0]["has_imap"] is False and accounts[0]["has_smtp"] is False

    page = _data(cli("call", "email.list", '{"account_id": 1}'))
    assert isinstance(page, dict)
    seen = {m["subject"]: "\\Seen" in m["flags"] for m in page["messages"]}
    assert seen == {"Quarterly invoice": True, "Lunch?": False}  # Status: RO = read
    found = _data(cli("call", "email.search", '{"account_id": 1, "query": "invoice"}'))
    assert isinstance(found, dict) and len(found["messages"]) == 1


def test_import_into_unconfigured_account_is_refused_with_the_block(cli, tmp_path: Path) -> None:
    box = tmp_path / "mail.mbox"
    box.write_text(MBOX)
    config = tmp_path / "xdg" / "prx-email" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[[accounts]]\nid = 3\nname = "Work"\naddress = "me@example.org"\n')

    refused = cli("import", str(box), "--account", "1")
    assert refused.returncode == 1
    assert "no account with id 1" in refused.stderr and str(config) in refused.stderr
    assert "configured ids: 3" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "mail.db").exists()  # refused before the store was touched

    # The block in the hint is exactly what makes the import work.
    hint = refused.stderr.split("hint: ", 1)[1]
    block = hint[hint.index("[[accounts]]") :]
    config.write_text(config.read_text() + "\n" + block)
    assert load_config(config).account(1) is not None
    done = cli("import", str(box), "--account", "1")
    assert done.returncode == 0, done.stderr
    assert "imported: 2" in done.stdout and done.stderr == ""
    page = _data(cli("call", "email.list", '{"account_id": 1}'))
    assert isinstance(page, dict) and len(page["messages"]) == 2


def test_local_account_is_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRX_EMAIL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    first, second = load_config(None), load_config(None)
    assert first == second and first.accounts == (LOCAL_ACCOUNT,)
    assert first.source == tmp_path / "prx-email" / "config.toml" and first.source_missing
    assert first.describe_source().endswith("config.toml (default, not found)")


def test_refusal_without_config_keeps_the_local_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prx_email.config.loader import parse_config
    from prx_email.errors import AccountNotFound
    from prx_email.services.importer import import_account

    monkeypatch.delenv("PRX_EMAIL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = load_config(None)
    assert import_account(config, 1) == LOCAL_ACCOUNT
    with pytest.raises(AccountNotFound) as info:
        import_account(config, 4)
    hint = info.value.hint or ""
    assert f"create {config.source} with" in hint
    written = parse_config(hint[hint.index("[[accounts]]") :])
    assert [a.id for a in written.accounts] == [1, 4]
    assert written.accounts[0] == LOCAL_ACCOUNT
