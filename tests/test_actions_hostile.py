"""A hostile guest calling issue 11's host functions directly, skipping the guest's checks.

The host applies the gate before looking at any argument, and the same bounds as the guest
(bulk limit, get_many maximum) with the same words; raw ids out of range find nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.component import PluginFactory
from prx_email import Plugin
from prx_email.auth import default_manager
from prx_email.bridge import NETWORK_ENV
from prx_email.config import AccountConfig, Config
from prx_email.services.context import ServiceContext
from prx_email.services.facade import Services
from prx_email.store.db import Database

pytestmark = pytest.mark.component

CONFIG = Config(accounts=(AccountConfig(1, "One", "one@example.org"),))


class Recording:
    """The real façade, recording which service methods the host functions reached."""

    def __init__(self, real: Services) -> None:
        self.real = real
        self.calls: list[str] = []

    def limits(self) -> Any:
        return self.real.limits()

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.real, name)


@pytest.fixture
def setup(
    hostile_wasm: Path, make_plugin: PluginFactory, tmp_path: Path
) -> Iterator[tuple[Plugin, Recording]]:
    db = Database(tmp_path / "hostile-actions.db")
    real = Services(ServiceContext(config=CONFIG, db=db, credentials=default_manager()))
    rec = Recording(real)
    yield make_plugin(hostile_wasm, services=rec, config=CONFIG, db=db), rec
    real.close()
    db.close()


def _error(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"] is False, envelope
    error: dict[str, Any] = envelope["error"]
    return error


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("host-mark", {"count": 3}),
        ("host-delete", {"count": 3}),
        ("host-folder-delete", {"name": "INBOX"}),
    ],
)
def test_network_off_refused_before_any_service_call(
    setup: tuple[Plugin, Recording], monkeypatch: pytest.MonkeyPatch, action: str, args: Any
) -> None:
    plugin, rec = setup
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    error = _error(plugin.execute(action, args))
    assert error["code"] == "EmailError_NetworkDisabled" and error["hint"]
    assert rec.calls == []


def test_too_many_ids_are_refused_by_the_host(
    setup: tuple[Plugin, Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin, _rec = setup
    monkeypatch.setenv(NETWORK_ENV, "1")
    error = _error(plugin.execute("host-mark", {"count": 10_000}))
    assert error["code"] == "EmailError_InvalidArgument"
    assert error["message"] == "10000 ids given, over the limit of 100"
    error = _error(plugin.execute("host-get-many", {"count": 21}))
    assert error["message"] == "21 ids given, over the limit of 20"
    assert "email.get_many's maximum" in error["hint"]
    assert _error(plugin.execute("host-mark", {"ids": []}))["message"] == "no ids given"


def test_out_of_range_ids_and_indexes_find_nothing(
    setup: tuple[Plugin, Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin, rec = setup
    monkeypatch.setenv(NETWORK_ENV, "1")
    ids = [0, 2**64 - 1, 2**63]
    marked = plugin.execute("host-mark", {"ids": ids})
    assert marked == {"ok": True, "data": ["NOT_FOUND"] * 3}
    many = plugin.execute("host-get-many", {"ids": ids})
    assert many == {"ok": True, "data": [None] * 3}
    for message, index in ((0, 0), (2**64 - 1, 2**32 - 1)):
        error = _error(plugin.execute("host-attachment", {"message": message, "index": index}))
        assert error["code"] == "EmailError_NotFound", error
    # Past u64 the guest's own bindings cannot lower the value (componentize-py traps):
    # the host is never called, and the sandbox recovers.
    rec.calls.clear()
    beyond = _error(plugin.execute("host-get-many", {"ids": [2**64]}))
    assert beyond["code"] == "EMAIL_SANDBOX_TRAP" and rec.calls == []
    assert plugin.execute("ok") == {"ok": True, "data": "pong"}
