"""The listings' one-pass JSON (``_results.summary_json`` / ``message_page``) is exactly what
the envelope's encoder writes for ``summary``'s dict: same keys, order, escapes and nulls."""

from __future__ import annotations

import json

from helpers.guest import SUMMARY
from hypothesis import given
from hypothesis import strategies as st
from prx_email_guest import _envelope
from prx_email_guest import _results as r
from wit_world.imports import types

U32 = st.integers(min_value=0, max_value=2**32 - 1)
U64 = st.integers(min_value=0, max_value=2**64 - 1)
S64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)  # WIT strings: no surrogates
TEXTS = st.lists(TEXT, max_size=3)

SUMMARIES = st.builds(
    types.MessageSummary,
    id=S64,
    account_id=S64,
    folder=TEXT,
    uid=st.none() | U32,
    message_id=st.none() | TEXT,
    subject=TEXT,
    from_=TEXT,
    to=TEXTS,
    cc=TEXTS,
    date=st.none() | S64,
    flags=TEXTS,
    snippet=TEXT,
    has_attachments=st.booleans(),
    size=U64,
    thread_id=TEXT,
)


@given(SUMMARIES)
def test_summary_json_is_the_encoded_summary(s: types.MessageSummary) -> None:
    assert r.summary_json(s) == _envelope._ENCODER.encode(r.summary(s))


@given(st.lists(SUMMARIES, max_size=4), st.none() | TEXT)
def test_page_envelope_is_the_encoded_dicts(
    summaries: list[types.MessageSummary], cursor: str | None
) -> None:
    page = types.MessagePage(messages=summaries, next_cursor=cursor)
    expected = {"messages": [r.summary(s) for s in summaries], "next_cursor": cursor}
    assert _envelope.ok(r.message_page(page)) == _envelope.ok(expected)
    assert json.loads(_envelope.ok(r.message_page(page)))["data"] == expected


def test_control_and_non_ascii_text() -> None:
    odd = types.MessageSummary(
        **{**SUMMARY.__dict__, "subject": 'Grüße "\\\n\t\u2028 世界', "to": [], "date": None}
    )
    text = r.summary_json(odd)
    assert text == _envelope._ENCODER.encode(r.summary(odd))
    assert json.loads(text)["subject"] == odd.subject
    assert json.loads(text)["date_iso"] is None


PLAIN = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_characters='"\\'))
PLAIN_SUMMARIES = st.builds(
    types.MessageSummary,
    id=S64,
    account_id=S64,
    folder=PLAIN,
    uid=st.none() | U32,
    message_id=st.none() | PLAIN,
    subject=PLAIN,
    from_=PLAIN,
    to=st.lists(PLAIN, max_size=3),
    cc=st.lists(PLAIN, max_size=3),
    date=st.none() | S64,
    flags=st.lists(PLAIN, max_size=3),
    snippet=PLAIN,
    has_attachments=st.booleans(),
    size=U64,
    thread_id=PLAIN,
)


@given(st.lists(PLAIN_SUMMARIES, min_size=1, max_size=4))
def test_pages_of_text_without_escapes_take_the_plain_path_and_agree(
    summaries: list[types.MessageSummary],
) -> None:
    """Most summaries need no escape: they are written with the quotes in the template."""
    page = types.MessagePage(messages=summaries, next_cursor=None)
    expected = {"messages": [r.summary(s) for s in summaries], "next_cursor": None}
    assert _envelope.ok(r.message_page(page)) == _envelope.ok(expected)
    for s in summaries:
        assert r._listed_json(s) == r.summary_json(s)
