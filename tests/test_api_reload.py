"""Plugin.reload_config and Plugin.reload_auth_from_env through the public API."""

from __future__ import annotations

import time
from pathlib import Path

import prx_email
import pytest
from prx_email.auth import OAuthBearer
from prx_email.errors import ConfigError

ONE = """
[[accounts]]
id = 1
name = "One"
address = "one@example.org"
"""

OAUTH = """
[[accounts]]
id = 3
name = "Bearer"
address = "me@example.org"
[accounts.imap]
host = "127.0.0.1"
port = 1993
tls = "implicit"
username = "me@example.org"
auth = "oauth2"
[accounts.imap.oauth2]
token_endpoint = "http://127.0.0.1:9/token"
client_id = "cid"
refresh_token_env = "PRX_TEST_UNUSED_REFRESH"
"""


def _ids(plugin: prx_email.Plugin) -> list[int]:
    env = plugin.execute("email.accounts", {})
    assert env["ok"], env
    return [a["id"] for a in env["data"]]


@pytest.mark.component
def test_reload_config_applies_valid_and_keeps_old_on_invalid(
    tmp_path: Path, plugin_wasm: Path
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(ONE)
    with prx_email.open_plugin(tmp_path / "m.db", cfg, component=plugin_wasm) as plugin:
        assert _ids(plugin) == [1]
        cfg.write_text(ONE + ONE.replace("id = 1", "id = 2").replace("one@", "two@"))
        report = plugin.reload_config()
        assert not report.unchanged
        assert _ids(plugin) == [1, 2]
        cfg.write_text(ONE + "\n[[accounts]]\nid = 0\n")
        with pytest.raises(ConfigError, match="previous configuration stays"):
            plugin.reload_config()
        assert _ids(plugin) == [1, 2]


@pytest.mark.component
async def test_reload_auth_from_env_reaches_next_connection(
    tmp_path: Path, plugin_wasm: Path, secret_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(OAUTH)
    with prx_email.open_plugin(tmp_path / "m.db", cfg, component=plugin_wasm) as plugin:
        monkeypatch.setenv("PRX_TEST_IMAP_OAUTH_TOKEN", "env-token-1")
        monkeypatch.setenv("PRX_TEST_IMAP_OAUTH_EXPIRES_AT", str(int(time.time()) + 3600))
        plugin.reload_auth_from_env("PRX_TEST")
        account = plugin.context.account(3)
        cred = await plugin.context.credentials.credential(account, "imap")
        assert isinstance(cred, OAuthBearer) and cred.access_token == "env-token-1"
        monkeypatch.setenv("PRX_TEST_IMAP_OAUTH_TOKEN", "env-token-2")
        plugin.reload_auth_from_env("PRX_TEST")
        cred = await plugin.context.credentials.credential(account, "imap")
        assert isinstance(cred, OAuthBearer) and cred.access_token == "env-token-2"
