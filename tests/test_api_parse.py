"""``api._parse``: the guest's envelope text → the dict ``Plugin.execute`` returns (orjson
first, the stdlib where orjson refuses)."""

from __future__ import annotations

from prx_email import api


def test_an_envelope_parses_to_the_same_dict_as_json_would() -> None:
    text = '{"ok":true,"data":{"messages":[{"id":1,"subject":"Grüße \\u2028","to":[]}],"n":null}}'
    import json

    assert api._parse(text) == json.loads(text)


def test_an_escaped_lone_surrogate_is_read_as_json_reads_it() -> None:
    """orjson refuses it; the stdlib keeps it (the envelope stays the guest's answer)."""
    got = api._parse('{"ok":false,"error":{"code":"EMAIL_X","message":"\\ud800","hint":null}}')
    assert got["error"]["message"] == "\ud800"


def test_text_that_is_not_an_envelope_is_an_internal_error() -> None:
    for raw in ("", "not json", "[1]", '{"ok":"yes"}', '{"data":1}'):
        got = api._parse(raw)
        assert got["ok"] is False and got["error"]["code"] == "EMAIL_INTERNAL", raw
