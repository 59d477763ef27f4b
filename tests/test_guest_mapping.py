"""Each tool → the right typed host call; results → documented JSON; host errors → codes."""

from __future__ import annotations

from typing import Any

import pytest
from componentize_py_types import Err
from helpers.guest import ENTRY, MESSAGE, SUMMARY, FakeHost, error_code, run
from prx_email_guest import Guest
from prx_email_guest._host_errors import CASE_CLASSES
from wit_world.imports import types


def call(tool: str, args: dict[str, Any], host: FakeHost | None = None) -> tuple[Any, FakeHost]:
    host = host or FakeHost()
    env = run(Guest(host), tool, args)
    assert env["ok"] is True, env
    return env["data"], host


def only_call(host: FakeHost) -> tuple[str, tuple[Any, ...]]:
    assert len(host.calls) == 1, host.calls
    return host.calls[0]


SUMMARY_JSON = {
    "id": 7,
    "account_id": 1,
    "folder": "INBOX",
    "uid": 42,
    "message_id": "<abc@example.org>",
    "subject": "Invoice 2026-11",
    "from": "billing@example.org",
    "to": ["me@example.org"],
    "cc": [],
    "date": 1_763_800_000,
    "date_iso": "2025-11-22T08:26:40Z",
    "flags": ["\\Seen"],
    "snippet": "Your invoice",
    "has_attachments": True,
    "size": 3210,
    "thread_id": "<root@example.org>",
}

ENTRY_JSON = {
    "id": 9,
    "account_id": 1,
    "status": "failed",
    "message_id": "<out-9@example.org>",
    "subject": "Hi",
    "recipients": ["friend@example.net"],
    "attempts": 2,
    "created_at": 0,
    "created_at_iso": "1970-01-01T00:00:00Z",
    "updated_at": 60,
    "updated_at_iso": "1970-01-01T00:01:00Z",
    "next_attempt_at": 120,
    "next_attempt_at_iso": "1970-01-01T00:02:00Z",
    "sent_at": None,
    "sent_at_iso": None,
    "last_error": "451 try later",
    "send_at": None,
    "send_at_iso": None,
    "bounces": [],
}


def test_accounts() -> None:
    data, host = call("email.accounts", {})
    assert only_call(host) == ("accounts", ())
    assert data == [
        {
            "id": 1,
            "name": "Demo",
            "address": "me@example.org",
            "has_imap": True,
            "has_smtp": False,
            "folders": ["INBOX", "Archive"],
        }
    ]


def test_sync() -> None:
    data, host = call("email.sync", {"account_id": 3, "folder": "INBOX", "max_messages": 500})
    assert only_call(host) == ("sync", (types.SyncRequest(3, "INBOX", 500),))
    assert data == {
        "account_id": 1,
        "folders": [
            {
                "folder": "INBOX",
                "fetched": 3,
                "flags_updated": 1,
                "expunged": 0,
                "uidvalidity_reset": False,
                "more_pending": True,
            }
        ],
    }
    _, host = call("email.sync", {"account_id": 3})
    assert only_call(host) == ("sync", (types.SyncRequest(3, None, None),))


def test_list_defaults_and_values() -> None:
    data, host = call("email.list", {"account_id": 1})
    assert only_call(host) == ("list_messages", (types.ListQuery(1, None, False, 50, None, None),))
    assert data == {"messages": [SUMMARY_JSON], "next_cursor": "c2"}
    assert list(data["messages"][0]) == list(SUMMARY_JSON)  # key order is part of the shape

    _, host = call(
        "email.list",
        {"account_id": 2, "folder": "Archive", "unseen_only": True, "limit": 500, "cursor": "c2"},
    )
    assert only_call(host) == (
        "list_messages",
        (types.ListQuery(2, "Archive", True, 500, "c2", None),),
    )


def test_null_means_omitted() -> None:
    _, host = call("email.list", {"account_id": 1, "folder": None, "limit": None, "cursor": None})
    assert only_call(host) == ("list_messages", (types.ListQuery(1, None, False, 50, None, None),))


def test_get() -> None:
    data, host = call("email.get", {"account_id": 1, "id": 7})
    assert only_call(host) == ("get_message", (1, 7))
    assert list(data) == [
        "summary",
        "reply_to",
        "in_reply_to",
        "references",
        "headers",
        "body_text",
        "body_html",
        "body_truncated",
        "attachments",
        "untrusted",
        "removed",
    ]
    assert data["untrusted"] is True
    assert data["removed"] == [{"reason": "html-comment", "count": 1}]
    assert data["summary"] == SUMMARY_JSON
    assert data["headers"] == [{"name": "Subject", "value": "Invoice 2026-11"}]
    assert data["body_text"] == "Hello" and data["body_html"] == "<p>Hello</p>"
    assert data["attachments"] == [
        {
            "index": 0,
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "size": 1000,
            "sha256": "ab" * 32,
            "stored": True,
        }
    ]
    assert data["reply_to"] == ["billing-replies@example.org"]
    assert data["in_reply_to"] is None and data["references"] == ["<root@example.org>"]


def test_get_unknown_id_is_not_found() -> None:
    env = run(Guest(FakeHost(message=None)), "email.get", {"account_id": 1, "id": 99})
    assert error_code(env) == "EMAIL_NOT_FOUND"
    assert "99" in env["error"]["message"]
    assert "email.list" in env["error"]["hint"]


def test_search_every_criterion() -> None:
    args = {
        "account_id": 1,
        "query": "invoice",
        "from": "billing",
        "to": "me@example.org",
        "subject": "Invoice",
        "body": "total",
        "since": "2026-01-01",
        "before": 1_800_000_000,
        "unseen": False,
        "folder": "INBOX",
        "limit": 10,
        "cursor": "abc",
        "remote": True,
    }
    data, host = call("email.search", args)
    assert only_call(host) == (
        "search",
        (
            types.SearchQuery(
                account_id=1,
                text="invoice",
                from_="billing",
                to="me@example.org",
                subject="Invoice",
                body="total",
                since=1_767_225_600,
                before=1_800_000_000,
                unseen=False,
                folder="INBOX",
                limit=10,
                cursor="abc",
                remote=True,
                automated=None,
            ),
        ),
    )
    assert data == {"messages": [SUMMARY_JSON], "next_cursor": "c2"}


def test_search_defaults() -> None:
    _, host = call("email.search", {"account_id": 1, "query": "x"})
    (_, (query,)) = only_call(host)
    assert query == types.SearchQuery(
        1, "x", None, None, None, None, None, None, None, None, 50, None, False, None
    )


def test_send_full() -> None:
    data, host = call(
        "email.send",
        {
            "account_id": 1,
            "to": "a@example.com",
            "cc": ["b@example.com", "c@example.com"],
            "bcc": "d@example.com",
            "subject": "Hello",
            "body_text": "hi",
            "body_html": "<b>hi</b>",
            "attachments": [
                {"path": "docs/a.pdf"},
                {
                    "content_base64": "aGVs\nbG8=",
                    "filename": "h.txt",
                    "content_type": "text/plain",
                },
            ],
        },
    )
    assert only_call(host) == (
        "send",
        (
            types.OutgoingMessage(
                account_id=1,
                to=["a@example.com"],
                cc=["b@example.com", "c@example.com"],
                bcc=["d@example.com"],
                subject="Hello",
                body_text="hi",
                body_html="<b>hi</b>",
                attachments=[
                    types.OutgoingAttachment(types.AttachmentSource_Path("docs/a.pdf"), None, None),
                    types.OutgoingAttachment(
                        types.AttachmentSource_Base64("aGVsbG8="), "h.txt", "text/plain"
                    ),
                ],
                send_at=None,
            ),
        ),
    )
    assert data == ENTRY_JSON
    assert list(data) == list(ENTRY_JSON)


def test_send_minimal() -> None:
    _, host = call(
        "email.send", {"account_id": 1, "to": ["a@example.com"], "subject": "", "body_html": "x"}
    )
    (_, (msg,)) = only_call(host)
    assert msg == types.OutgoingMessage(1, ["a@example.com"], [], [], "", None, "x", [], None)


def test_reply() -> None:
    data, host = call("email.reply", {"account_id": 1, "message_id": 7, "body_text": "ok"})
    assert only_call(host) == ("reply", (types.ReplyRequest(1, 7, "ok", None, False, None),))
    assert data == ENTRY_JSON
    _, host = call(
        "email.reply", {"account_id": 1, "message_id": 7, "body_html": "ok", "reply_all": True}
    )
    assert only_call(host) == ("reply", (types.ReplyRequest(1, 7, None, "ok", True, None),))


def test_send_at_draft_send_and_cancel() -> None:
    at = "2027-01-15T09:00:00+01:00"
    _, host = call(
        "email.send",
        {"account_id": 1, "to": ["a@example.com"], "subject": "", "body_text": "x", "send_at": at},
    )
    (_, (msg,)) = only_call(host)
    assert msg.send_at == at
    _, host = call(
        "email.reply", {"account_id": 1, "message_id": 7, "body_text": "ok", "send_at": at}
    )
    assert only_call(host) == ("reply", (types.ReplyRequest(1, 7, "ok", None, False, at),))
    data, host = call("email.draft_send", {"account_id": 2, "draft_id": "<d@x.org>"})
    assert only_call(host) == ("draft_send", (2, "<d@x.org>", None))
    assert data == ENTRY_JSON
    _, host = call("email.draft_send", {"account_id": 2, "draft_id": "<d@x.org>", "send_at": at})
    assert only_call(host) == ("draft_send", (2, "<d@x.org>", at))
    data, host = call("email.cancel", {"outbox_id": 5})
    assert only_call(host) == ("cancel", (5,))
    assert data == ENTRY_JSON


def test_retry() -> None:
    data, host = call("email.retry", {"outbox_id": 2**64 - 1})
    assert only_call(host) == ("retry", (2**64 - 1, False))
    assert data == ENTRY_JSON
    _, host = call("email.retry", {"outbox_id": 3, "now": True})
    assert only_call(host) == ("retry", (3, True))


@pytest.mark.parametrize(
    "status", ["pending", "scheduled", "sending", "sent", "failed", "dead", "held", "cancelled"]
)
def test_outbox_status(status: str) -> None:
    data, host = call("email.outbox", {"status": status, "account_id": 4, "limit": 5})
    expected = types.OutboxQuery(4, types.OutboxStatus[status.upper()], 5, None)
    assert only_call(host) == ("list_outbox", (expected,))
    assert data == {"entries": [ENTRY_JSON], "next_cursor": None}


def test_outbox_entry_carries_its_bounces() -> None:
    host = FakeHost()
    bounce = types.OutboxBounce("friend@example.net", "5.1.1", "failed", "permanent", "550", 60)
    entry = types.OutboxEntry(**{**ENTRY.__dict__, "bounces": [bounce]})
    host.retry = lambda id, now: entry  # type: ignore[method-assign]
    data, _ = call("email.retry", {"outbox_id": 9}, host)
    assert data["bounces"] == [
        {
            "recipient": "friend@example.net",
            "status": "5.1.1",
            "action": "failed",
            "kind": "permanent",
            "reason": "550",
            "at": 60,
            "at_iso": "1970-01-01T00:01:00Z",
        }
    ]


def test_outbox_defaults() -> None:
    _, host = call("email.outbox", {})
    assert only_call(host) == ("list_outbox", (types.OutboxQuery(None, None, 50, None),))


def test_every_status_renders_as_its_name() -> None:
    for status in types.OutboxStatus:
        host = FakeHost()
        entry = types.OutboxEntry(**{**ENTRY.__dict__, "status": status})
        host.retry = lambda id, now, e=entry: e  # type: ignore[method-assign]
        data, _ = call("email.retry", {"outbox_id": 1}, host)
        assert data["status"] == status.name.lower()


def test_absent_date_renders_null() -> None:
    host = FakeHost()
    page = types.MessagePage([types.MessageSummary(**{**SUMMARY.__dict__, "date": None})], None)
    host.list_messages = lambda q: page  # type: ignore[method-assign]
    data, _ = call("email.list", {"account_id": 1}, host)
    assert data["messages"][0]["date"] is None
    assert data["messages"][0]["date_iso"] is None
    assert data["next_cursor"] is None


def test_invalid_arguments_never_reach_the_host() -> None:
    host = FakeHost()
    for tool, args in [
        ("email.list", {"account_id": -1}),
        ("email.send", {"account_id": 1, "to": "x", "subject": "s", "body_text": "b"}),
        ("email.reply", {"account_id": 1, "message_id": 7}),
        ("email.retry", {"outbox_id": "1"}),
    ]:
        assert error_code(run(Guest(host), tool, args)) == "EMAIL_INVALID_ARGUMENT"
    assert host.calls == []


@pytest.mark.parametrize("cls", list(CASE_CLASSES))
def test_host_errors_map_to_codes(cls: type) -> None:
    case = CASE_CLASSES[cls]
    host = FakeHost(error=cls(types.ErrorInfo(message=f"boom {case}", hint="do this", run_id=None)))
    env = run(
        Guest(host),
        "email.send",
        {"account_id": 1, "to": "a@b.c", "subject": "s", "body_text": "b"},
    )
    assert env["error"] == {
        "code": "EMAIL_" + case.upper().replace("-", "_"),
        "message": f"boom {case}",
        "hint": "do this",
    }


def test_every_wit_error_case_is_mapped() -> None:
    import typing

    assert set(typing.get_args(types.EmailError)) == set(CASE_CLASSES)


def test_host_error_without_hint_still_gets_a_hint() -> None:
    # The host always sends one (bridge.convert.err); a lost one points at the code's docs.
    host = FakeHost(
        error=types.EmailError_NetworkDisabled(types.ErrorInfo("network is off", None, None))
    )
    env = run(Guest(host), "email.sync", {"account_id": 1})
    assert env["error"]["code"] == "EMAIL_NETWORK_DISABLED"
    assert "docs/tools.md" in env["error"]["hint"]


def test_unrecognised_err_payload_is_internal() -> None:
    host = FakeHost(error=Err("not an email-error"))
    host.error = None
    host.list_messages = lambda q: (_ for _ in ()).throw(Err("weird"))  # type: ignore[method-assign]
    env = run(Guest(host), "email.list", {"account_id": 1})
    assert error_code(env) == "EMAIL_INTERNAL"


def test_wasm_host_is_the_generated_module_only_in_wasi(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from prx_email_guest import default_host
    from wit_world.imports import host as wit_host

    assert default_host() is None
    monkeypatch.setattr(sys, "platform", "wasi")
    assert default_host() is wit_host


def test_summary_fixture_is_consistent() -> None:
    assert MESSAGE.summary is SUMMARY
