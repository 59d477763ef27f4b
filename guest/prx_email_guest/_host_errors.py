"""Host ``email-error`` values → envelope errors (``EMAIL_`` + case name, ``-`` → ``_``)."""

from __future__ import annotations

from typing import Final

from wit_world.imports import types

from prx_email_guest import _codes
from prx_email_guest._codes import GuestError, envelope_code

__all__ = ["CASE_CLASSES", "from_host_error"]

# One generated class per WIT case, in contract order (see _codes.HOST_CASES).
CASE_CLASSES: Final[dict[type, str]] = {
    types.EmailError_InvalidArgument: "invalid-argument",
    types.EmailError_NotFound: "not-found",
    types.EmailError_AccountNotFound: "account-not-found",
    types.EmailError_FolderNotFound: "folder-not-found",
    types.EmailError_NetworkDisabled: "network-disabled",
    types.EmailError_Config: "config",
    types.EmailError_ConnectionFailed: "connection-failed",
    types.EmailError_TlsFailed: "tls-failed",
    types.EmailError_Timeout: "timeout",
    types.EmailError_AuthFailed: "auth-failed",
    types.EmailError_AuthRefreshFailed: "auth-refresh-failed",
    types.EmailError_Protocol: "protocol",
    types.EmailError_SmtpTransient: "smtp-transient",
    types.EmailError_SmtpPermanent: "smtp-permanent",
    types.EmailError_CircuitOpen: "circuit-open",
    types.EmailError_AttachmentRejected: "attachment-rejected",
    types.EmailError_InvalidState: "invalid-state",
    types.EmailError_Storage: "storage",
    types.EmailError_Internal: "internal",
}
_CODE_OF: Final = {cls: envelope_code(case) for cls, case in CASE_CLASSES.items()}


def from_host_error(value: object) -> GuestError:
    """The envelope error for the payload of a host ``Err``; anything unknown is internal."""
    code = _CODE_OF.get(type(value))
    info = getattr(value, "value", None)
    if code is None or not isinstance(info, types.ErrorInfo) or not isinstance(info.message, str):
        return GuestError(_codes.INTERNAL, "the host returned an unrecognised error")
    hint = info.hint if isinstance(info.hint, str) else None
    return GuestError(code, info.message, hint)
