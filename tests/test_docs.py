"""The README documents every error code the envelope can carry."""

from __future__ import annotations

import re
from pathlib import Path

from prx_email.errors import ErrorCode
from prx_email_guest import _codes

ROOT = Path(__file__).resolve().parents[1]


def _readme_codes() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(EMAIL_[A-Z_]+)`", text))


def test_every_guest_code_is_documented() -> None:
    missing = set(_codes.CODES) - _readme_codes()
    assert not missing, f"README lacks: {sorted(missing)}"


def test_every_host_error_case_is_documented() -> None:
    missing = {code.envelope for code in ErrorCode} - _readme_codes()
    assert not missing, f"README lacks: {sorted(missing)}"


def test_every_sandbox_code_is_documented() -> None:
    source = (ROOT / "host/prx_email/runtime/_sandbox.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'"(EMAIL_SANDBOX_[A-Z_]+)"', source))
    assert codes, "no sandbox codes found: has the runtime moved?"
    missing = codes - _readme_codes()
    assert not missing, f"README lacks: {sorted(missing)}"
