"""Argument validation: types, ranges, lengths, addresses, timestamps, cross-field rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers.guest import FakeHost, error_code, run
from hypothesis import example, given
from hypothesis import strategies as st
from prx_email_guest import Guest, GuestError
from prx_email_guest._timefmt import format_iso, parse_iso

SEND = {"account_id": 1, "to": "a@example.com", "subject": "s", "body_text": "b"}


def ok(tool: str, args: Any) -> FakeHost:
    host = FakeHost()
    env = run(Guest(host), tool, args)
    assert env["ok"] is True, env
    return host


def refused(tool: str, args: Any, *fragments: str) -> dict[str, Any]:
    host = FakeHost()
    env = run(Guest(host), tool, args)
    assert error_code(env) == "EMAIL_INVALID_ARGUMENT", env
    for fragment in fragments:
        assert fragment in env["error"]["message"], env
    assert host.calls == []
    return env


@pytest.mark.parametrize("value", [0, -1, 2**32, True, False, 1.0, 1.5, "1", None, [], {}])
def test_account_id_must_be_a_positive_u32(value: object) -> None:
    refused("email.list", {"account_id": value}, "account_id")


@pytest.mark.parametrize("value", [1, 2**32 - 1])
def test_account_id_bounds(value: int) -> None:
    ok("email.list", {"account_id": value})


@pytest.mark.parametrize("value", [0, 501, -5, 2.0, "50", True])
def test_limit_range(value: object) -> None:
    refused("email.list", {"account_id": 1, "limit": value}, "limit")
    refused("email.search", {"account_id": 1, "limit": value}, "limit")
    refused("email.outbox", {"limit": value}, "limit")


@pytest.mark.parametrize("value", [1, 500])
def test_limit_bounds(value: int) -> None:
    ok("email.list", {"account_id": 1, "limit": value})


@pytest.mark.parametrize("value", [0, 2**64, -1, "7", 7.0])
def test_u64_ids(value: object) -> None:
    refused("email.get", {"account_id": 1, "id": value}, "id")
    refused("email.retry", {"outbox_id": value}, "outbox_id")
    refused("email.reply", {"account_id": 1, "message_id": value, "body_text": "x"}, "message_id")


def test_unknown_arguments_are_named() -> None:
    env = refused("email.list", {"account_id": 1, "limt": 5, "foo": 1}, '"limt"', '"foo"')
    assert "did you mean limit" in env["error"]["message"]
    assert "account_id" in env["error"]["hint"]
    refused("email.accounts", {"x": 1}, '"x"')


def test_missing_required_argument() -> None:
    env = refused("email.get", {"account_id": 1}, "missing required argument id")
    assert "account_id, id" in env["error"]["hint"]
    refused("email.get", {"account_id": 1, "id": None}, "missing required argument id")


def test_duplicate_keys_are_refused() -> None:
    refused("email.list", '{"account_id": 1, "account_id": 2}', "twice")


@pytest.mark.parametrize("field", ["folder", "cursor"])
@pytest.mark.parametrize("bad", ["a\r\nb", "a\nb", "a\x00b", "", "x\x07"])
def test_header_ish_text_is_one_line(field: str, bad: str) -> None:
    refused("email.list", {"account_id": 1, field: bad}, field)


def test_subject_rules() -> None:
    refused("email.send", {**SEND, "subject": "a\r\nBcc: x@y.z"}, "subject")
    refused("email.send", {**SEND, "subject": "x" * 999}, "subject", "999")
    ok("email.send", {**SEND, "subject": "x" * 998})
    ok("email.send", {**SEND, "subject": "tab\tand ünïcödé 📧"})


def test_body_rules() -> None:
    refused("email.send", {**SEND, "body_text": "a\x00"}, "body_text")
    refused("email.send", {**SEND, "body_text": "\ud800"}, "body_text")
    ok("email.send", {**SEND, "body_text": "line 1\r\nline 2\n"})
    refused("email.send", {**SEND, "body_html": "x" * (4 * 1024 * 1024 + 1)}, "body_html")


def test_lone_surrogate_escapes_are_refused_everywhere() -> None:
    raw = '{"account_id": 1, "folder": "\\ud800"}'
    refused("email.list", raw, "folder")
    raw = '{"account_id": 1, "query": "\\udfff"}'
    refused("email.search", raw, "query")


@pytest.mark.parametrize(
    "address",
    [
        "alice@example.com",
        "a.b+tag@sub.example.co.uk",
        "o'hara@example.ie",
        "user@localhost",
        "jürgen@bücher.example",
        "x_y@a-b.example",
        "Alice <alice@example.com>",
        "Alice Smith  <alice@example.com> ",
        "<alice@example.com>",
        "O'Hara <o'hara@example.ie>",
    ],
)
def test_plausible_addresses(address: str) -> None:
    ok("email.send", {**SEND, "to": address})
    ok("email.send", {**SEND, "to": [address], "cc": address, "bcc": [address]})


@pytest.mark.parametrize(
    "address",
    [
        "",
        "alice",
        "@example.com",
        "alice@",
        "alice@example.com, bob@example.com",
        "Alice <alice@example.com>, Bob <bob@example.com>",
        "Alice <alice@example.com> <bob@example.com>",
        "Alice <alice@example.com>\r\nBcc: eve@example.com",
        "Alice\r\n <alice@example.com>",
        '"Smith, Alice" <alice@example.com>',
        "Alice@Home <alice@example.com>",
        "Alice <alice@example.com",
        "Alice <>",
        "Alice <not an address>",
        "alice@example.com\r\nBcc: eve@example.com",
        "al ice@example.com",
        "alice@exa mple.com",
        "alice@@example.com",
        "a..b@example.com",
        ".a@example.com",
        "a@-example.com",
        "a@example.com.",
        '"a b"@example.com',
        "a@[127.0.0.1]",
        "a@example.com\x00",
        "x" * 65 + "@example.com",
        "a@" + "b" * 320,
    ],
)
def test_implausible_addresses(address: str) -> None:
    refused("email.send", {**SEND, "to": address}, "to")
    refused("email.send", {**SEND, "cc": [address]}, "cc")


@pytest.mark.parametrize("value", [[], None, 5, {"a": 1}, [1]])
def test_to_needs_addresses(value: object) -> None:
    refused("email.send", {**SEND, "to": value}, "to")


def test_recipient_cap_counts_all_fields() -> None:
    many = [f"u{i}@example.com" for i in range(50)]
    ok("email.send", {**SEND, "to": many, "cc": many})
    refused("email.send", {**SEND, "to": many, "cc": many, "bcc": "x@example.com"}, "101")
    refused("email.send", {**SEND, "to": [*many, *many, "x@example.com"]}, "to")


def test_send_needs_a_body() -> None:
    no_body = {k: v for k, v in SEND.items() if k != "body_text"}
    refused("email.send", no_body, "body")
    refused("email.send", {**no_body, "body_text": None, "body_html": None}, "body")
    ok("email.send", {**no_body, "body_html": "<p>x</p>"})
    ok("email.send", {**no_body, "body_text": ""})


def test_reply_needs_a_body() -> None:
    refused("email.reply", {"account_id": 1, "message_id": 3}, "body")
    refused("email.reply", {"account_id": 1, "message_id": 3, "reply_all": "yes", "body_text": "x"})


@pytest.mark.parametrize(
    "attachment",
    [
        {},
        {"path": "a", "content_base64": "aGk="},
        {"path": ""},
        {"path": "a\nb"},
        {"path": 5},
        {"content_base64": "not base64!"},
        {"content_base64": "abc"},
        {"content_base64": ""},
        {"path": "a", "filename": "x\r\ny"},
        {"path": "a", "content_type": "text/plain; charset=utf-8"},
        {"path": "a", "content_type": "nonsense"},
        {"path": "a", "name": "typo"},
        "a.pdf",
    ],
)
def test_bad_attachments(attachment: object) -> None:
    refused("email.send", {**SEND, "attachments": [attachment]}, "attachments[0]")


def test_attachment_list_rules() -> None:
    refused("email.send", {**SEND, "attachments": {"path": "a"}}, "attachments")
    refused("email.send", {**SEND, "attachments": [{"path": "a"}] * 21}, "attachments")
    ok("email.send", {**SEND, "attachments": [{"path": "a"}] * 20})
    ok(
        "email.send",
        {**SEND, "attachments": [{"content_base64": "aGk=", "content_type": "image/svg+xml"}]},
    )


@pytest.mark.parametrize("field", ["unseen_only"])
@pytest.mark.parametrize("value", [0, 1, "true", "false", []])
def test_booleans_are_strict(field: str, value: object) -> None:
    refused("email.list", {"account_id": 1, field: value}, field)
    refused("email.search", {"account_id": 1, "remote": value}, "remote")
    refused("email.search", {"account_id": 1, "unseen": value}, "unseen")


@pytest.mark.parametrize("status", ["PENDING", "queued", "", 1])
def test_outbox_status_is_a_known_name(status: object) -> None:
    env = refused("email.outbox", {"status": status}, "status")
    assert "pending" in env["error"]["hint"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1970-01-01", 0),
        ("2026-11-22", 1_795_305_600),
        ("2026-11-22T10:30", 1_795_305_600 + 10 * 3600 + 30 * 60),
        ("2026-11-22T10:30:05", 1_795_305_600 + 37805),
        ("2026-11-22 10:30:05.999", 1_795_305_600 + 37805),
        ("2026-11-22T10:30:05Z", 1_795_305_600 + 37805),
        ("2026-11-22T10:30:05+02:00", 1_795_305_600 + 37805 - 7200),
        ("2026-11-22T10:30:05-0130", 1_795_305_600 + 37805 + 5400),
        ("0001-01-01", -62_135_596_800),
        ("2024-02-29", 1_709_164_800),
    ],
)
def test_iso_timestamps(text: str, seconds: int) -> None:
    assert parse_iso(text) == seconds
    host = ok("email.search", {"account_id": 1, "since": text})
    assert host.calls[0][1][0].since == seconds


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01",
        "2025-02-29",
        "2026-11-22T24:00",
        "2026-11-22T10:60",
        "2026-11-22T10:30:61",
        "2026-11-22Z",
        "22/11/2026",
        "yesterday",
        "2026-11-22T10:30+25:00",
        "1795305600",
        "",
    ],
)
def test_bad_timestamps(text: str) -> None:
    assert parse_iso(text) is None
    env = refused("email.search", {"account_id": 1, "before": text}, "before")
    assert "ISO-8601" in env["error"]["hint"]


@pytest.mark.parametrize("value", [1.5, True, [], 2**63])
def test_timestamp_types(value: object) -> None:
    refused("email.search", {"account_id": 1, "since": value}, "since")


def test_since_must_precede_before() -> None:
    refused(
        "email.search", {"account_id": 1, "since": "2026-01-02", "before": "2026-01-01"}, "since"
    )
    refused("email.search", {"account_id": 1, "since": 5, "before": 5}, "since")
    ok("email.search", {"account_id": 1, "since": 4, "before": 5})


@given(st.integers(min_value=-62_135_596_800, max_value=253_402_300_799))
def test_format_and_parse_round_trip(seconds: int) -> None:
    text = format_iso(seconds)
    assert text is not None and text.endswith("Z")
    assert parse_iso(text) == seconds


def test_format_out_of_range_is_null() -> None:
    assert format_iso(253_402_300_800) is None
    assert format_iso(-62_135_596_801) is None
    assert format_iso(None) is None


@given(st.text(max_size=400))
def test_any_address_string_is_checked_without_error(text: str) -> None:
    env = run(Guest(FakeHost()), "email.send", {**SEND, "to": text})
    if env["ok"]:
        assert "@" in text and "<" not in text and " " not in text and "," not in text
        assert "\n" not in text and "\r" not in text


def test_search_criteria_refuse_line_breaks() -> None:
    for field in ["query", "from", "to", "subject", "body"]:
        refused("email.search", {"account_id": 1, field: "x\r\nA001 LOGOUT"}, field)
        refused("email.search", {"account_id": 1, field: ""}, field)


def test_arguments_are_json_not_python() -> None:
    assert json.loads(Guest(None).describe())


def test_reply_message_id_hint_explains_the_local_id() -> None:
    env = refused(
        "email.reply", {"account_id": 1, "message_id": "<a@b.c>", "body_text": "x"}, "message_id"
    )
    assert "local id" in env["error"]["hint"]


_NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@given(
    name=st.text(_NAME_CHARS, max_size=30),
    local=st.from_regex(r"[a-z0-9.+_'-]{1,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z]{2,5}){0,2}", fullmatch=True),
)
@example(name="\t", local="0", domain="0")  # a TAB around the name: the host refuses controls
def test_what_the_guest_accepts_the_host_parses_as_one_address(
    name: str, local: str, domain: str
) -> None:
    from prx_email.errors import InvalidArgument
    from prx_email.mail.compose import parse_mailbox
    from prx_email_guest._kinds import check_address

    for value in (f"{name} <{local}@{domain}>", f"{local}@{domain}"):
        try:
            check_address("to", value)
        except GuestError:
            continue
        try:
            box = parse_mailbox(value)
        except InvalidArgument as exc:
            raise AssertionError(f"guest accepted {value!r}, host refused: {exc}") from None
        assert "\r" not in str(box) and "\n" not in str(box)


def test_a_too_short_text_says_so_not_that_it_is_empty() -> None:
    args = {"account_id": 1, "draft_id": "<a@b.example>"}
    env = refused("email.draft_send", {**args, "send_at": "yesterday"}, "send_at")
    assert "too short: 9 characters, at least 10" in env["error"]["message"]
    env = refused("email.draft_send", {**args, "send_at": ""}, "send_at")
    assert "must not be empty" in env["error"]["message"]
