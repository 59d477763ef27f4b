"""The watcher's config keys: ``[accounts.sync] idle`` and ``idle_reissue_minutes``."""

from __future__ import annotations

import pytest
from prx_email.config.loader import parse_config
from prx_email.config.model import IdleMode
from prx_email.errors import ConfigError

BASE = '[[accounts]]\nid = 1\nname = "A"\naddress = "a@example.org"\n[accounts.sync]\n'


def test_defaults_are_auto_and_28_minutes() -> None:
    sync = parse_config(BASE).accounts[0].sync
    assert sync.idle is IdleMode.AUTO and sync.idle_reissue_minutes == 28


@pytest.mark.parametrize("mode", ["auto", "required", "off"])
def test_each_mode_loads(mode: str) -> None:
    assert parse_config(BASE + f'idle = "{mode}"\n').accounts[0].sync.idle == mode


@pytest.mark.parametrize("value", ['"always"', '"Required"', "true", "1"])
def test_other_modes_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.sync\.idle"):
        parse_config(BASE + f"idle = {value}\n")


@pytest.mark.parametrize("value", ["0.5", "1", "29"])
def test_reissue_minutes_within_rfc_2177(value: str) -> None:
    sync = parse_config(BASE + f"idle_reissue_minutes = {value}\n").accounts[0].sync
    assert sync.idle_reissue_minutes == float(value)


@pytest.mark.parametrize("value", ["0", "-1", "29.5", "30", "nan", "inf", '"28"'])
def test_reissue_minutes_outside_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="idle_reissue_minutes"):
        parse_config(BASE + f"idle_reissue_minutes = {value}\n")
