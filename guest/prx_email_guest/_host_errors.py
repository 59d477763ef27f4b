"""Host ``email-error`` values → envelope errors (``EMAIL_`` + case name, ``-`` → ``_``)."""

from __future__ import annotations

from typing import Final

from wit_world.imports import types

from prx_email_guest import _codes
from prx_email_guest._codes import CASE_CLASSES, GuestError, envelope_code

__all__ = ["from_host_error"]

_CODE_OF: Final = {cls: envelope_code(case) for cls, case in CASE_CLASSES.items()}


def from_host_error(value: object) -> GuestError:
    """The envelope error for the payload of a host ``Err``; anything unknown is internal."""
    code = _CODE_OF.get(type(value))
    info = getattr(value, "value", None)
    if code is None or not isinstance(info, types.ErrorInfo) or not isinstance(info.message, str):
        return GuestError(_codes.INTERNAL, "the host returned an unrecognised error")
    hint = info.hint if isinstance(info.hint, str) else None
    run_id = info.run_id if isinstance(info.run_id, str) else None
    return GuestError(code, info.message, hint, run_id=run_id)
