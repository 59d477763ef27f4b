"""``prx_email.types``: every public name importable, each concern loaded on first use."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import prx_email.types as types
import pytest


def test_every_public_name_resolves() -> None:
    for name in types.__all__:
        assert getattr(types, name) is not None, name
    assert dir(types) == sorted(types.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        types.Nope  # noqa: B018


def test_values_stay_frozen_slotted_dataclasses() -> None:
    for name in types.__all__:
        value = getattr(types, name)
        if dataclasses.is_dataclass(value):
            params = value.__dataclass_params__  # type: ignore[union-attr]
            assert params.frozen and params.eq, name
            assert "__slots__" in vars(value), name
    request = types.SyncRequest(1, "INBOX")
    assert request == types.SyncRequest(1, "INBOX")
    assert hash(request) == hash(types.SyncRequest(1, "INBOX"))
    assert repr(request) == "SyncRequest(account_id=1, folder='INBOX', max_messages=None)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.folder = "Sent"  # type: ignore[misc]


def test_sync_process_does_not_create_the_outbox_and_send_values() -> None:
    code = (
        "import sys, prx_email.services.sync\n"
        "print(' '.join(m for m in sys.modules if m.startswith('prx_email.types.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "prx_email.types._sync" in out
    assert not {"prx_email.types._outbox", "prx_email.types._send"} & set(out)
