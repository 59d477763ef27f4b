"""email.send / email.outbox end to end through the sandboxed guest and the bridge gate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fixtures.smtpd import SmtpSink
from helpers.outbox import account
from prx_email import NETWORK_ENV, open_plugin
from prx_email.config import Config
from prx_email.store.db import Database
from prx_email.store.outbox import OutboxRepo
from wasmtime.component import Variant

pytestmark = [pytest.mark.integration, pytest.mark.component]

SEND = {
    "account_id": 1,
    "to": ["bob@example.org"],
    "bcc": ["audit@example.net"],
    "subject": "From the agent",
    "body_text": "Hello from the sandbox",
}


def test_network_flag_off_queues_nothing_and_sends_nothing(
    smtpd: SmtpSink, tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    db = Database(tmp_path / "db")
    cfg = Config(accounts=(account(smtpd),))
    with open_plugin(db=db, config=cfg, component=plugin_wasm) as plugin:
        for tool, args in [
            ("email.send", SEND),
            ("email.retry", {"outbox_id": 1}),
            ("email.reply", {"account_id": 1, "message_id": 1, "body_text": "x"}),
        ]:
            envelope = plugin.execute(tool, args)
            assert envelope["ok"] is False
            assert envelope["error"]["code"] == "EMAIL_NETWORK_DISABLED", envelope
    assert OutboxRepo(db).counts() == {}
    assert smtpd.received == [] and smtpd.handler.connections == 0


def test_send_through_the_plugin_then_list_outbox(
    smtpd: SmtpSink, tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(NETWORK_ENV, "1")
    db = Database(tmp_path / "db")
    cfg = Config(accounts=(account(smtpd),))
    with open_plugin(db=db, config=cfg, component=plugin_wasm, deadline=30.0) as plugin:
        envelope = plugin.execute("email.send", SEND)
        assert envelope["ok"] is True, envelope
        sent = envelope["data"]
        assert sent["status"] == "sent"
        listing = plugin.execute("email.outbox", {"status": "sent"})
    assert listing["ok"] is True, listing
    assert [e["id"] for e in listing["data"]["entries"]] == [sent["id"]]
    (rec,) = smtpd.received
    assert rec.rcpt_tos == ["bob@example.org", "audit@example.net"]
    assert rec.message["Bcc"] is None and rec.message["From"] == "me@example.com"
    assert rec.message_id == sent["message_id"]


class _CapturingLinker:
    """Stands in for wasmtime's Linker: keeps the host functions ``define_host`` adds."""

    def __init__(self) -> None:
        self.functions: dict[str, Any] = {}

    @contextmanager
    def root(self) -> Iterator[_CapturingLinker]:
        yield self

    @contextmanager
    def add_instance(self, _name: str) -> Iterator[_CapturingLinker]:
        yield self

    def add_func(self, name: str, fn: Any) -> None:
        self.functions[name] = fn


def _record(**fields: Any) -> SimpleNamespace:
    rec = SimpleNamespace()
    for key, value in fields.items():
        setattr(rec, key.replace("_", "-"), value)
    return rec


@pytest.mark.parametrize("body_bound", [None, 100 * 1024 * 1024])
def test_a_hostile_60_mb_body_through_the_host_function_is_refused(
    smtpd: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body_bound: int | None
):
    """A guest that skipped validation calls the ``send`` host function directly.

    With the default ``[limits] max_body_chars`` (4 Mi) the host refuses the body itself; with
    that bound raised past 60 MB, ``max_message_bytes`` (25 MiB) still refuses the message.
    """
    from prx_email.bridge import define_host
    from prx_email.config import ToolLimitSettings
    from prx_email.services.context import ServiceContext
    from prx_email.services.facade import Services

    monkeypatch.setenv(NETWORK_ENV, "1")
    db = Database(tmp_path / "db")
    limits = (
        ToolLimitSettings() if body_bound is None else ToolLimitSettings(max_body_chars=body_bound)
    )
    config = Config(accounts=(account(smtpd),), limits=limits)
    services = Services(ServiceContext(config=config, db=db))
    linker = _CapturingLinker()
    try:
        define_host(linker, services)  # type: ignore[arg-type]
        answer = linker.functions["send"](
            None,
            _record(
                account_id=1, to=["bob@example.org"], cc=[], bcc=[], subject="big",
                body_text="x" * (60 * 1024 * 1024), body_html=None, attachments=[], send_at=None,
            ),
        )  # fmt: skip
    finally:
        services.close()
    assert isinstance(answer, Variant) and answer.tag == "invalid-argument", answer
    if body_bound is None:
        assert "body_text is too long" in answer.payload.message, answer.payload.message
    else:
        assert (
            "max_message_bytes" in answer.payload.hint
            and "nothing was queued" in answer.payload.message
        )
    assert OutboxRepo(db).counts() == {}
    assert smtpd.handler.connections == 0 and smtpd.received == []


def test_an_undelivered_send_is_an_error_envelope_naming_the_queued_row(
    tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch, smtp_password: str
):
    monkeypatch.setenv(NETWORK_ENV, "1")
    sink = SmtpSink(tls="none").start()
    sink.stop()  # connection refused
    db = Database(tmp_path / "db")
    cfg = Config(accounts=(account(sink),))
    with open_plugin(db=db, config=cfg, component=plugin_wasm, deadline=30.0) as plugin:
        envelope = plugin.execute("email.send", SEND)
        listing = plugin.execute("email.outbox", {})
    assert envelope["ok"] is False, envelope
    error = envelope["error"]
    assert error["code"] == "EMAIL_CONNECTION_FAILED"
    assert "queued as outbox row 1" in error["message"] and error["hint"]
    (entry,) = listing["data"]["entries"]
    assert entry["status"] == "failed" and entry["attempts"] == 0
