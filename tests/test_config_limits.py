"""``[limits]`` in the config: parsed, checked, and turned into the tool limits in force."""

from __future__ import annotations

import pytest
from prx_email.config import ToolLimitSettings
from prx_email.config.loader import parse_config
from prx_email.errors import ConfigError
from prx_email.services.facade import tool_limits
from prx_email.types import ToolLimits

ACCOUNTS = """
[[accounts]]
id = 1
address = "a@example.org"
[accounts.send]
max_recipients = 150

[[accounts]]
id = 2
address = "b@example.org"
"""


def test_defaults_without_a_limits_table() -> None:
    config = parse_config(ACCOUNTS)
    assert config.limits == ToolLimitSettings()
    assert tool_limits(config) == ToolLimits(max_recipients=150)  # the largest account cap


def test_every_key() -> None:
    config = parse_config(
        ACCOUNTS + "\n[limits]\npage_max = 77\npage_default = 7\nmax_attachments = 3\n"
        "max_body_chars = 1000\nmax_attachment_base64_chars = 4000\n"
    )
    limits = tool_limits(config)
    assert (limits.list_page_max, limits.search_page_max, limits.outbox_page_max) == (77, 77, 77)
    assert (limits.list_page_default, limits.outbox_page_default) == (7, 7)
    assert (limits.max_attachments, limits.max_body_chars) == (3, 1000)
    assert limits.max_attachment_base64_chars == 4000


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("page_maxx = 5", "did you mean 'page_max'"),
        ("page_max = 0", "greater than zero"),
        ("page_max = -3", "greater than zero"),
        ("page_max = 10\npage_default = 11", "at most page_max (10)"),
        ("max_body_chars = 4294967296", "at most 4294967295"),
        ('page_max = "50"', "must be an integer"),
    ],
)
def test_bad_values_name_the_key_and_line(table: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[limits]\n" + table + "\n")
    assert words in caught.value.message + (caught.value.hint or "")
    assert "limits." in caught.value.message
    assert ":2:" in caught.value.message or ":3:" in caught.value.message
