"""email.forward's checks: the guest's validation (natively, fake host) and the ``forward``
host function called raw, as a guest that skipped validation would (no server involved)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.guest import FakeHost, error_code, run
from helpers.hostfns import CapturingLinker, record
from prx_email.bridge import NETWORK_ENV, define_host
from prx_email.bridge.policy import MODE_ENV
from prx_email.config import AccountConfig, Config
from prx_email.errors import InternalError
from prx_email.mail.forward import forward_subject
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.services.facade import Services
from prx_email.store.db import Database
from prx_email.types import ForwardMode, ForwardRequest
from prx_email_guest import Guest
from wasmtime.component import Variant
from wit_world.imports import types

BASE: dict[str, Any] = {"account_id": 1, "message_id": 7, "to": "dan@example.net"}


def test_guest_builds_the_request_with_defaults() -> None:
    host = FakeHost()
    env = run(Guest(host), "email.forward", BASE)
    assert env["ok"] is True, env
    ((name, (req,)),) = host.calls
    assert name == "forward"
    assert req == types.ForwardRequest(
        account_id=1,
        message=7,
        to=["dan@example.net"],
        cc=[],
        bcc=[],
        body_text=None,
        body_html=None,
        mode=types.ForwardMode.INLINE,
        include_attachments=True,
        send_at=None,
    )
    env = run(Guest(host), "email.forward", {**BASE, "mode": "attachment", "body_html": "<p>x"})
    assert env["ok"] is True, env
    assert host.calls[-1][1][0].mode == types.ForwardMode.ATTACHMENT


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ({"account_id": 1, "message_id": 7}, "to"),
        ({**BASE, "to": []}, "to"),
        ({**BASE, "message_id": "<abc@example.org>"}, "local id"),
        ({**BASE, "mode": "quoted"}, "mode"),
        ({**BASE, "mode": "attachment", "include_attachments": False}, "include_attachments"),
        ({**BASE, "include_attachments": "no"}, "include_attachments"),
        ({**BASE, "to": "a@b.example\r\nBcc: x@y.example"}, "to"),
        ({**BASE, "send_at": 5}, "send_at"),
        ({**BASE, "cc": [f"c{i}@example.net" for i in range(100)]}, "recipients"),
    ],
)
def test_guest_refuses_bad_arguments_before_the_host(args: dict[str, Any], word: str) -> None:
    host = FakeHost()
    env = run(Guest(host), "email.forward", args)
    assert error_code(env) == "EMAIL_INVALID_ARGUMENT", env
    assert word in env["error"]["message"] + env["error"]["hint"]
    assert host.calls == []


def test_forward_subject_does_not_stack() -> None:
    assert forward_subject("Fw: FWD: Re: hello") == "Fwd: Re: hello"
    assert forward_subject("WG: TR: report") == "Fwd: report"
    assert forward_subject("") == "Fwd:"
    assert forward_subject("Forward planning") == "Fwd: Forward planning"


# -- the host function, called raw ---------------------------------------------------------


class _Services(Services):
    """The real façade; ``forward`` records what reached it instead of sending."""

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        self.forwarded: list[ForwardRequest] = []

    def forward(self, req: ForwardRequest) -> Any:
        outbox.check_forward(self.check_forward(req), req)
        self.forwarded.append(req)
        raise InternalError("stop here")  # the sending path is the integration tests'


def _raw(**over: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "account_id": 1,
        "message": 7,
        "to": ["dan@example.net"],
        "cc": [],
        "bcc": [],
        "body_text": None,
        "body_html": None,
        "mode": "inline",
        "include_attachments": True,
        "send_at": None,
    }
    fields.update(over)
    return record(**fields)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[Any, _Services]]:
    db = Database(tmp_path / "db")
    cfg = Config(accounts=(AccountConfig(1, "One", "one@example.org"),))
    services = _Services(ServiceContext(config=cfg, db=db))
    linker = CapturingLinker()
    define_host(linker, services)  # type: ignore[arg-type]
    yield linker.functions["forward"], services
    services.close()
    db.close()


def _case(answer: Any) -> str:
    assert isinstance(answer, Variant), answer
    return str(answer.tag)


def test_host_function_gate_and_policy_come_before_the_arguments(
    host: tuple[Any, _Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    fn, services = host
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    assert _case(fn(None, _raw(mode="nonsense"))) == "network-disabled"
    monkeypatch.setenv(NETWORK_ENV, "1")
    for mode in ("draft_only", "read_only"):
        monkeypatch.setenv(MODE_ENV, mode)
        assert _case(fn(None, _raw())) == "policy-denied"
    assert services.forwarded == []


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "nonsense"},
        {"account_id": "1"},
        {"to": ["a@b.example\r\nBcc: evil@x.example"]},
        {"to": [f"r{i}@example.net" for i in range(101)]},
        {"body_text": "x" * (4 * 1024 * 1024 + 1)},
    ],
)
def test_host_function_refuses_what_the_guest_would_have(
    host: tuple[Any, _Services], monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any]
) -> None:
    fn, services = host
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.delenv(MODE_ENV, raising=False)
    answer = fn(None, _raw(**bad))
    assert _case(answer) == "invalid-argument", answer
    assert services.forwarded == []


def test_host_function_missing_fields_are_an_error_not_a_trap(
    host: tuple[Any, _Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    fn, _ = host
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.delenv(MODE_ENV, raising=False)
    assert _case(fn(None, record(account_id=1))) == "invalid-argument"
    assert _case(fn(None, _raw())) == "internal"  # reached the (stubbed) service
    assert ForwardMode("attachment") is ForwardMode.ATTACHMENT


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ("application/pdf; name=x.pdf", "application/pdf"),
        ("message/rfc822", "message/rfc822"),
        ("message/delivery-status", "application/octet-stream"),
        ("multipart/mixed", "application/octet-stream"),
        ("not a type", "application/octet-stream"),
    ],
)
def test_forwarded_attachment_types_the_composer_can_carry(stored: str, sent: str) -> None:
    from prx_email.mail.compose import AttachmentData, Mailbox, compose
    from prx_email.services.actions.forward_source import _content_type
    from prx_email.types import AttachmentMeta

    ctype = _content_type(AttachmentMeta(0, "a", stored, 3, "00" * 32, True))
    assert ctype == sent
    compose(
        sender="me@example.com",
        to=[Mailbox("dan@example.net")],
        subject="s",
        body_text="n",
        body_html=None,
        now=0,
        attachments=[AttachmentData("a", ctype, b"abc")],
    )
