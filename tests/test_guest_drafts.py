"""The draft tools in the guest, natively over the fake host: arguments → one typed host call."""

from __future__ import annotations

from helpers.guest import FakeHost, error_code, run
from prx_email_guest import Guest
from wit_world.imports import types


def _guest() -> tuple[Guest, FakeHost]:
    host = FakeHost()
    return Guest(host), host


def test_draft_create_maps_every_field_and_defaults() -> None:
    guest, host = _guest()
    env = run(
        guest,
        "email.draft_create",
        {"account_id": 1, "to": "bob@example.org", "body_html": "<p>x</p>", "in_reply_to": 9},
    )
    assert env == {
        "ok": True,
        "data": {"account_id": 1, "draft_id": "<d1@example.org>", "folder": "Drafts", "uid": 7},
    }
    ((name, (req,)),) = host.calls
    assert name == "draft_create"
    assert req == types.DraftRequest(
        account_id=1,
        to=["bob@example.org"],
        cc=[],
        bcc=[],
        subject="",
        body_text=None,
        body_html="<p>x</p>",
        attachments=[],
        reply_to=9,
        reply_to_message_id=None,
    )


def test_a_draft_needs_no_recipient_and_no_body() -> None:
    guest, host = _guest()
    assert run(guest, "email.draft_create", {"account_id": 1})["ok"] is True
    assert host.calls[0][1][0].to == []


def test_draft_refusals_happen_before_any_host_call() -> None:
    for args in [
        {"account_id": 1, "in_reply_to": 1, "in_reply_to_message_id": "<a@b>"},
        {"account_id": 1, "to": ["not an address"]},
        {"account_id": 1, "subject": "two\nlines"},
        {"account_id": 1, "to": [f"u{i}@example.org" for i in range(101)]},
        {"account_id": 1, "cc_all": True},
    ]:
        guest, host = _guest()
        env = run(guest, "email.draft_create", args)
        assert error_code(env) == "EMAIL_INVALID_ARGUMENT", args
        assert host.calls == [], args
    guest, host = _guest()
    assert error_code(run(guest, "email.draft_status", {"account_id": 1})) == (
        "EMAIL_INVALID_ARGUMENT"
    )
    assert host.calls == []


def test_status_update_and_delete_answer_plain_json() -> None:
    guest, host = _guest()
    ident = {"account_id": 1, "draft_id": "<d1@example.org>"}
    assert run(guest, "email.draft_status", ident)["data"] == {
        "account_id": 1,
        "draft_id": "<d1@example.org>",
        "state": "drafted",
        "folder": "Drafts",
        "reason": None,
    }
    assert run(guest, "email.draft_update", {**ident, "body_text": "v2"})["data"]["uid"] == 7
    assert run(guest, "email.draft_delete", ident)["data"] == {
        "draft_id": "<d1@example.org>",
        "removed": 1,
    }
    assert [c[0] for c in host.calls] == ["draft_status", "draft_update", "draft_delete"]
    assert host.calls[1][1][0] == "<d1@example.org>"
