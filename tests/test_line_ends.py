"""A value that passes a validator never carries a line break out with it.

Python's ``$`` also matches before a final ``\\n``, so ``re.match(r"^...$")`` accepted
``"x\\n"``: a keyword ``"x\\n"`` went to the IMAP server as ``+FLAGS (x\\n)``, ending the
command line early (hypothesis found it). Every anchored validator now ends with ``\\Z``; these
are the ones a caller (or a hostile guest) reaches with raw text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from prx_email.adapters.mcp._resources import is_known
from prx_email.errors import InvalidArgument
from prx_email.mail.compose import check_content_type, parse_addr_spec
from prx_email.mail.imap._mailbox import fetch_part, keyword_flag

REFUSING: dict[str, tuple[Callable[[str], object], str]] = {
    "keyword": (keyword_flag, "Work"),
    "mime-section": (lambda s: asyncio.run(fetch_part(None, 1, s)), "1.2"),  # type: ignore[arg-type]
    "address": (parse_addr_spec, "ann@example.com"),
    "content-type": (check_content_type, "text/plain"),
}


@pytest.mark.parametrize("name", REFUSING)
@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_line_break_at_the_end_is_refused_or_removed(name: str, end: str) -> None:
    check, good = REFUSING[name]
    if name != "mime-section":
        assert check(good) is not None  # the value itself passes
    try:
        out = check(good + end)
    except InvalidArgument:
        return
    assert name == "address" and out == good  # an address is stripped first


def test_a_resource_uri_with_a_line_break_is_unknown() -> None:
    assert is_known("email://accounts/1/folders")
    assert not is_known("email://accounts/1/folders\n")
