"""End to end through the sandbox and the CLI: email.sync, then list/search/get from the store.

Separate from test_sync_dovecot.py: these go through the wasm component (guest validation,
bridge, network gate) rather than calling the sync service directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.dovecot import DovecotServer
from helpers.imap import make_msg, new_folder

pytestmark = [pytest.mark.integration, pytest.mark.component]

PW_ENV = "PRX_E2E_IMAP_PW"


def write_config(tmp_path: Path, dovecot: DovecotServer, folder: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[[accounts]]
id = 1
name = "Dovecot"
address = "alice@example.org"

[accounts.imap]
host = "127.0.0.1"
port = {dovecot.imaps_port}
tls = "implicit"
username = "{dovecot.user}"
password_env = "{PW_ENV}"
ca_file = "{dovecot.ca_file}"

[accounts.sync]
folders = ["{folder}"]
batch_size = 10
"""
    )
    return cfg


def test_plugin_sync_then_list_search_get(dovecot, tmp_path, monkeypatch) -> None:
    import prx_email

    folder = new_folder("E2E")
    dovecot.add_messages([make_msg(i) for i in range(12)], folder)
    dovecot.add_messages([make_msg(99, subject="Quarterly invoice 2024")], folder)
    monkeypatch.setenv(PW_ENV, dovecot.password)
    cfg = write_config(tmp_path, dovecot, folder)

    monkeypatch.delenv("PRX_EMAIL_ENABLE_REAL_NETWORK", raising=False)
    with prx_email.open_plugin(db=tmp_path / "mail.db", config=cfg) as plugin:
        denied = plugin.execute("email.sync", {"account_id": 1, "folder": folder})
        assert not denied["ok"] and denied["error"]["code"] == "EMAIL_NETWORK_DISABLED"
        listed = plugin.execute("email.list", {"account_id": 1})
        assert listed["ok"] and listed["data"]["messages"] == []  # nothing fetched

    monkeypatch.setenv("PRX_EMAIL_ENABLE_REAL_NETWORK", "1")
    with prx_email.open_plugin(db=tmp_path / "mail.db", config=cfg) as plugin:
        res = plugin.execute("email.sync", {"account_id": 1, "folder": folder})
        assert res["ok"], res
        assert res["data"]["folders"][0]["fetched"] == 13
        listed = plugin.execute("email.list", {"account_id": 1, "folder": folder, "limit": 50})
        assert len(listed["data"]["messages"]) == 13
        found = plugin.execute("email.search", {"account_id": 1, "query": "invoice"})
        (hit,) = found["data"]["messages"]
        assert hit["subject"] == "Quarterly invoice 2024"
        got = plugin.execute("email.get", {"account_id": 1, "id": hit["id"]})
        assert got["ok"] and "message 99" in got["data"]["body_text"]
        remote = plugin.execute(
            "email.search",
            {"account_id": 1, "subject": "Quarterly", "folder": folder, "remote": True},
        )
        assert remote["ok"], remote
        assert [m["id"] for m in remote["data"]["messages"]] == [hit["id"]]
        again = plugin.execute("email.sync", {"account_id": 1, "folder": folder})
        assert again["data"]["folders"][0]["fetched"] == 0

        bad = plugin.execute("email.sync", {"account_id": 1, "folder": "Missing"})
        assert not bad["ok"] and bad["error"]["code"] == "EMAIL_FOLDER_NOT_FOUND"
        assert dovecot.password not in json.dumps(bad)


def _cli(tmp_path: Path, cfg: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "prx_email.adapters.cli",
            "--db",
            str(tmp_path / "cli.db"),
            "--config",
            str(cfg),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_call_sync_and_sync_command(dovecot, tmp_path) -> None:
    folder = new_folder("Cli")
    dovecot.add_messages([make_msg(i) for i in range(5)], folder)
    cfg = write_config(tmp_path, dovecot, folder)
    env = dict(os.environ, PRX_EMAIL_ENABLE_REAL_NETWORK="1", **{PW_ENV: dovecot.password})
    r = _cli(
        tmp_path,
        cfg,
        "call",
        "email.sync",
        json.dumps({"account_id": 1, "folder": folder}),
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["folders"][0]["fetched"] == 5
    r = _cli(tmp_path, cfg, "call", "email.list", '{"account_id": 1}', env=env)
    assert len(json.loads(r.stdout)["data"]["messages"]) == 5

    dovecot.add_messages([make_msg(50)], folder)
    r = _cli(tmp_path, cfg, "sync", env=env)
    assert r.returncode == 0, r.stderr
    assert f"account 1 {folder}: 1 new, 0 flag changes, 0 expunged" in r.stdout
    assert dovecot.password not in r.stdout + r.stderr

    bad_env = dict(env, **{PW_ENV: "not-the-password"})
    r = _cli(tmp_path, cfg, "sync", env=bad_env)
    assert r.returncode == 1
    assert "EMAIL_AUTH_FAILED" in r.stdout and "not-the-password" not in r.stdout + r.stderr
    # an explicit run always tries again (the backoff is for --watch): still a failure
    r = _cli(tmp_path, cfg, "sync", env=bad_env)
    assert r.returncode == 1 and "EMAIL_AUTH_FAILED" in r.stdout
    assert "backing off" not in r.stdout

    no_net = {k: v for k, v in env.items() if k != "PRX_EMAIL_ENABLE_REAL_NETWORK"}
    r = _cli(tmp_path, cfg, "sync", env=no_net)
    assert r.returncode == 1 and "network" in r.stderr


def test_fetched_flags_decoded_once_per_distinct_set() -> None:
    from prx_email.services import sync as sync_mod

    sync_mod._FLAG_SETS.clear()
    first = sync_mod._flags([b"\\Seen", b"\\Recent", b"$Label\xc3\xa9"])
    assert first == ("\\Seen", "$Labelé")  # \Recent is session state, never stored
    assert sync_mod._flags([b"\\Seen", b"\\Recent", b"$Label\xc3\xa9"]) is first  # cached
    assert sync_mod._flags([b"\\Seen", [b"nested"]]) == ("\\Seen",)  # unhashable: no cache
    assert sync_mod._flags(None) == () and sync_mod._flags([]) == ()
