"""The WIT boundary: value conversion, the network gate, host-function error handling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prx_email.bridge import NETWORK_ENV, convert, network_enabled, require_network
from prx_email.errors import ErrorCode, InvalidArgument, NetworkDisabled, NotFound
from prx_email.types import (
    AttachmentBase64,
    AttachmentPath,
    FolderReport,
    ListQuery,
    MessagePage,
    MessageSummary,
    OutboxEntry,
    OutboxQuery,
    OutboxStatus,
    ReplyRequest,
    SearchQuery,
    SyncReport,
    SyncRequest,
)
from wasmtime.component import Record, Variant


def _record(**fields: object) -> Record:
    rec = Record()
    for name, value in fields.items():
        setattr(rec, name.replace("_", "-"), value)
    return rec


def _summary(subject: str = "hi") -> MessageSummary:
    return MessageSummary(
        id=7,
        account_id=1,
        folder="INBOX",
        uid=None,
        message_id="<a@b>",
        subject=subject,
        from_="Ann <ann@example.org>",
        to=("me@example.org",),
        cc=(),
        date=1_700_000_000,
        flags=("\\Seen",),
        snippet="…",
        has_attachments=False,
        size=123,
    )


# -- domain -> WIT ---------------------------------------------------------------------


def test_summary_fields_are_kebab_case_with_from_and_flags() -> None:
    rec = convert.to_wit(MessagePage((_summary(),), None))
    (msg,) = rec.messages
    assert getattr(msg, "account-id") == 1
    assert getattr(msg, "from") == "Ann <ann@example.org>"
    assert msg.flags == ["\\Seen"]
    assert msg.to == ["me@example.org"]
    assert msg.uid is None
    assert getattr(rec, "next-cursor") is None


def test_enum_becomes_its_case_name() -> None:
    entry = OutboxEntry(3, 1, OutboxStatus.DEAD, "<m@x>", "s", ("a@b",), 6, 1, 2)
    rec = convert.to_wit(entry)
    assert rec.status == "dead"
    assert getattr(rec, "next-attempt-at") is None


def test_nested_records_and_lists() -> None:
    report = SyncReport(1, (FolderReport("INBOX", fetched=2, more_pending=True),))
    rec = convert.to_wit(report)
    assert getattr(rec.folders[0], "more-pending") is True
    assert rec.folders[0].fetched == 2


@given(st.text(), st.text() | st.none())
def test_error_values_keep_code_message_and_hint(message: str, hint: str | None) -> None:
    value = convert.err(NotFound(message, hint=hint))
    assert isinstance(value, Variant)
    assert value.tag == "not-found"
    assert value.payload.message == message
    # No hint, or an empty one, becomes the code's default: the guest never sees none.
    assert value.payload.hint == (hint or ErrorCode.NOT_FOUND.default_hint)
    assert value.payload.hint


def test_unknown_type_is_refused() -> None:
    with pytest.raises(TypeError):
        convert.to_wit(object())


# -- WIT -> domain ---------------------------------------------------------------------


def test_search_query_from_wit() -> None:
    rec = _record(
        account_id=1,
        text="x",
        to=None,
        subject=None,
        body=None,
        since=None,
        before=None,
        unseen=True,
        folder=None,
        limit=5,
        cursor=None,
        remote=False,
        automated=False,
    )
    setattr(rec, "from", "ann")
    q = convert.search_query(rec)
    assert (q.account_id, q.text, q.from_, q.unseen, q.limit) == (1, "x", "ann", True, 5)
    assert q.automated is False


def test_outgoing_message_with_attachments() -> None:
    att = [
        _record(source=Variant("path", "a.pdf"), filename=None, content_type=None),
        _record(source=Variant("base64", "QUJD"), filename="x.txt", content_type="text/plain"),
    ]
    rec = _record(
        account_id=2,
        to=["a@b"],
        cc=[],
        bcc=["c@d"],
        subject="s",
        body_text="t",
        body_html=None,
        attachments=att,
        send_at="2099-01-01T00:00:00Z",
    )
    msg = convert.outgoing_message(rec)
    assert msg.to == ("a@b",) and msg.bcc == ("c@d",)
    assert msg.send_at == "2099-01-01T00:00:00Z"
    assert msg.attachments[0].source == AttachmentPath("a.pdf")
    assert msg.attachments[1].source == AttachmentBase64("QUJD")


def test_outbox_query_status() -> None:
    q = convert.outbox_query(_record(account_id=None, status="failed", limit=10, cursor=None))
    assert q.status is OutboxStatus.FAILED
    with pytest.raises(InvalidArgument):
        convert.outbox_query(_record(account_id=None, status="bogus", limit=10, cursor=None))


def test_missing_field_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        convert.list_query(_record(account_id=1))


# -- the gate --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "Yes", "on", "ON", " 1 "])
def test_flag_values_that_enable(value: str) -> None:
    assert network_enabled({NETWORK_ENV: value})


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2", "enabled", "y", "tru"])
def test_flag_values_that_do_not(value: str) -> None:
    assert not network_enabled({NETWORK_ENV: value})
    with pytest.raises(NetworkDisabled) as info:
        require_network("send", {NETWORK_ENV: value})
    assert NETWORK_ENV in (info.value.hint or "")


def test_flag_absent() -> None:
    assert not network_enabled({})


# -- host functions through a guest --------------------------------------------------------

pytest_component = pytest.mark.component


@pytest_component
@pytest.mark.parametrize("action", ["host-send", "host-sync"])
def test_gate_refuses_and_calls_nothing(hostile, fake_services, monkeypatch, action) -> None:
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    envelope = hostile.execute(action)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == "EmailError_NetworkDisabled"
    assert NETWORK_ENV in envelope["error"]["hint"]
    assert fake_services.calls == []


@pytest_component
@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "On"])
def test_gate_open_calls_the_service(hostile, fake_services, monkeypatch, value) -> None:
    monkeypatch.setenv(NETWORK_ENV, value)
    envelope = hostile.execute("host-send")
    assert envelope == {"ok": True, "data": "SENT"}
    assert [name for name, _ in fake_services.calls] == ["send"]


@pytest_component
def test_flag_is_read_at_call_time(hostile, fake_services, monkeypatch) -> None:
    monkeypatch.setenv(NETWORK_ENV, "0")
    assert hostile.execute("host-sync")["ok"] is False
    monkeypatch.setenv(NETWORK_ENV, "1")
    assert hostile.execute("host-sync") == {"ok": True, "data": 0}


@pytest_component
def test_get_message_none_and_errors(hostile, fake_services) -> None:
    assert hostile.execute("host-get", {"id": 5}) == {"ok": True, "data": None}
    # result<option<message>, email-error>: the err case needs the lowering workaround.
    gone = hostile.execute("host-get", {"id": 404_404})
    assert gone["error"] == {
        "code": "EmailError_NotFound",
        "message": "that message is gone",
        "hint": "list again",
    }
    unknown = hostile.execute("host-get", {"account_id": 9, "id": 1})
    assert unknown["error"]["code"] == "EmailError_AccountNotFound"
    assert hostile.sandbox.traps == 0


@pytest_component
def test_unexpected_host_failure_is_internal_without_details(
    hostile, fake_services, caplog
) -> None:
    fake_services.fail_with = RuntimeError("db password is hunter2")
    envelope = hostile.execute("host-list")
    assert envelope["error"]["code"] == "EmailError_Internal"
    assert "hunter2" not in str(envelope)
    assert "host function list-messages failed" in caplog.text
    assert hostile.sandbox.traps == 0
    fake_services.fail_with = None
    assert hostile.execute("host-list")["ok"] is True


@pytest_component
def test_accounts_never_fails(hostile, fake_services) -> None:
    assert hostile.execute("host-accounts") == {"ok": True, "data": ["me@example.org"]}
    fake_services.fail_with = RuntimeError("boom")
    assert hostile.execute("host-accounts") == {"ok": True, "data": []}


# -- round trips (property-based) ----------------------------------------------------------

_u32 = st.integers(0, 2**32 - 1)
_u64 = st.integers(0, 2**64 - 1)
_s64 = st.integers(-(2**63), 2**63 - 1)
_opt_text = st.none() | st.text(max_size=30)


@given(
    st.builds(
        SearchQuery,
        account_id=_u32,
        text=_opt_text,
        from_=_opt_text,
        to=_opt_text,
        subject=_opt_text,
        body=_opt_text,
        since=st.none() | _s64,
        before=st.none() | _s64,
        unseen=st.none() | st.booleans(),
        folder=_opt_text,
        limit=_u32,
        cursor=_opt_text,
        remote=st.booleans(),
    )
)
def test_search_query_round_trip(query: SearchQuery) -> None:
    assert convert.search_query(convert.to_wit(query)) == query


@given(
    st.builds(
        ListQuery,
        account_id=_u32,
        folder=_opt_text,
        unseen_only=st.booleans(),
        limit=_u32,
        cursor=_opt_text,
    )
)
def test_list_query_round_trip(query: ListQuery) -> None:
    assert convert.list_query(convert.to_wit(query)) == query


@given(st.builds(SyncRequest, account_id=_u32, folder=_opt_text, max_messages=st.none() | _u32))
def test_sync_request_round_trip(req: SyncRequest) -> None:
    assert convert.sync_request(convert.to_wit(req)) == req


@given(
    st.builds(
        ReplyRequest,
        account_id=_u32,
        message=_u64,
        body_text=_opt_text,
        body_html=_opt_text,
        reply_all=st.booleans(),
    )
)
def test_reply_request_round_trip(req: ReplyRequest) -> None:
    assert convert.reply_request(convert.to_wit(req)) == req


@given(
    st.builds(
        OutboxQuery,
        account_id=st.none() | _u32,
        status=st.none() | st.sampled_from(OutboxStatus),
        limit=_u32,
        cursor=_opt_text,
    )
)
def test_outbox_query_round_trip(query: OutboxQuery) -> None:
    assert convert.outbox_query(convert.to_wit(query)) == query


def test_outbox_status_is_the_same_set_in_wit_domain_and_guest() -> None:
    import re
    from pathlib import Path

    from prx_email.types import OutboxStatus
    from prx_email_guest._catalogue import OUTBOX_STATUS

    text = (Path(__file__).parents[1] / "wit" / "types.wit").read_text(encoding="utf-8")
    body = re.search(r"enum outbox-status \{(.*?)\}", text, re.S)
    assert body is not None
    wit = re.findall(r"^\s*([a-z-]+),", body.group(1), re.M)
    assert "held" in wit
    # WIT cases are kebab-case, the domain's and the guest's values snake_case.
    snake = [w.replace("-", "_") for w in wit]
    assert [s.value for s in OutboxStatus] == snake
    assert list(OUTBOX_STATUS.kind.values) == snake  # type: ignore[attr-defined]
    rec = convert.to_wit(OutboxStatus.HELD)
    assert rec == "held"
    assert convert.to_wit(OutboxStatus.AWAITING_APPROVAL) == "awaiting-approval"


def test_tool_limits_cross_as_a_record() -> None:
    from prx_email.types import ToolLimits

    rec = convert.to_wit(ToolLimits(list_page_max=77))
    assert getattr(rec, "list-page-max") == 77
    assert getattr(rec, "max-attachment-base64-chars") == ToolLimits().max_attachment_base64_chars
