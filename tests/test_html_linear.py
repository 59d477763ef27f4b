"""Hostile HTML costs time in proportion to its size on every path that reads it.

The standard library's ``HTMLParser`` (3.11) re-reads an unterminated construct at the end
from every later ``<``, the sanitiser's HTML5 tree builder checks scopes along the open
elements, and it is quadratic in the ``&`` of one text node or attribute value. Each input
here took seconds to minutes at these sizes before :mod:`prx_email.mail.visible` bounded them;
each path is checked by how its time grows (``helpers.growth``), not against a clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from helpers.growth import assert_linear
from prx_email.mail.htmltext import html_to_text
from prx_email.mail.parse import parse_message
from prx_email.services.untrusted import clean_html

STORMS: dict[str, Callable[[int], str]] = {
    "unterminated-end-tags": lambda n: "</" * (4 * n),
    "unterminated-tags": lambda n: "<a " * n,
    "unterminated-attributes": lambda n: "<a b='" * n,
    "unterminated-comments": lambda n: "<!--" * n,
    "unterminated-instructions": lambda n: "<?x" * (4 * n),
    "nested-divs": lambda n: "<div>" * n,
    "stray-end-tags-under-nesting": lambda n: "<div></span>" * n,
    "end-tags-behind-a-table": lambda n: "<b><table>" + "<i>" * n + "</b>" * n,
    "self-closing-divs": lambda n: "<div/>" * n,
    "svg-breakout": lambda n: "<svg><div/>" * n,
    "ampersand-text": lambda n: "&amp;" * (40 * n),
    "ampersand-attribute": lambda n: '<a href="https://x/?' + "a=1&amp;" * (20 * n) + '">x</a>',
}
PATHS: dict[str, Callable[[str], object]] = {
    "store": lambda markup: parse_message(
        b"Content-Type: text/html; charset=utf-8\r\n\r\n" + markup.encode()
    ),
    "agent": lambda markup: clean_html(markup, Counter()),
    "plain-text": html_to_text,
}


# html2text spends ~5 µs on each entity: 800,000 of them would make this the slowest test of
# the suite, and it is the sanitiser (the agent path) that was quadratic in them.
CASES = [(s, p) for s in STORMS for p in PATHS if (s, p) != ("ampersand-text", "plain-text")]


@pytest.mark.parametrize(("storm", "path"), CASES)
def test_hostile_html_costs_linear_time(storm: str, path: str) -> None:
    make, read = STORMS[storm], PATHS[path]
    assert_linear(lambda n: read(make(n)), 5_000)
