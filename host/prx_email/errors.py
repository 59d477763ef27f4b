"""The host's exception tree. Every class maps to one ``email-error`` case of the WIT contract.

::

    EmailError
     ├── InvalidArgument
     ├── NotFound
     │    ├── AccountNotFound
     │    └── FolderNotFound
     ├── NetworkDisabled
     ├── ConfigError
     ├── ConnectionFailed (ConnectionError)
     │    └── TlsFailed
     ├── OperationTimeout (TimeoutError)
     ├── AuthFailed (PermissionError)
     │    └── AuthRefreshFailed
     ├── ProtocolError
     ├── SmtpTransient
     ├── SmtpPermanent
     ├── CircuitOpen
     ├── AttachmentRejected
     ├── InvalidState
     ├── StorageError
     └── InternalError

Host functions never let these escape into wasmtime (that would trap the instance);
``prx_email.bridge`` turns them into ``email-error`` values. Messages must never contain secrets.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Stable error codes. The value is the WIT case name; the envelope code is ``envelope``."""

    INVALID_ARGUMENT = "invalid-argument"
    NOT_FOUND = "not-found"
    ACCOUNT_NOT_FOUND = "account-not-found"
    FOLDER_NOT_FOUND = "folder-not-found"
    NETWORK_DISABLED = "network-disabled"
    CONFIG = "config"
    CONNECTION_FAILED = "connection-failed"
    TLS_FAILED = "tls-failed"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth-failed"
    AUTH_REFRESH_FAILED = "auth-refresh-failed"
    PROTOCOL = "protocol"
    SMTP_TRANSIENT = "smtp-transient"
    SMTP_PERMANENT = "smtp-permanent"
    CIRCUIT_OPEN = "circuit-open"
    ATTACHMENT_REJECTED = "attachment-rejected"
    INVALID_STATE = "invalid-state"
    STORAGE = "storage"
    INTERNAL = "internal"

    @property
    def envelope(self) -> str:
        """The code as it appears in the JSON envelope, e.g. ``EMAIL_NOT_FOUND``."""
        return "EMAIL_" + self.value.upper().replace("-", "_")


class EmailError(Exception):
    """Base of every expected failure; carries a stable code and an optional hint."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidArgument(EmailError, ValueError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(EmailError, LookupError):
    code = ErrorCode.NOT_FOUND


class AccountNotFound(NotFound):
    code = ErrorCode.ACCOUNT_NOT_FOUND


class FolderNotFound(NotFound):
    code = ErrorCode.FOLDER_NOT_FOUND


class NetworkDisabled(EmailError):
    code = ErrorCode.NETWORK_DISABLED


class ConfigError(EmailError):
    code = ErrorCode.CONFIG


class ConnectionFailed(EmailError, ConnectionError):
    code = ErrorCode.CONNECTION_FAILED


class TlsFailed(ConnectionFailed):
    code = ErrorCode.TLS_FAILED


class OperationTimeout(EmailError, TimeoutError):
    code = ErrorCode.TIMEOUT


class AuthFailed(EmailError, PermissionError):
    code = ErrorCode.AUTH_FAILED


class AuthRefreshFailed(AuthFailed):
    code = ErrorCode.AUTH_REFRESH_FAILED


class ProtocolError(EmailError):
    code = ErrorCode.PROTOCOL


class SmtpTransient(EmailError):
    code = ErrorCode.SMTP_TRANSIENT


class SmtpPermanent(EmailError):
    code = ErrorCode.SMTP_PERMANENT


class CircuitOpen(EmailError):
    code = ErrorCode.CIRCUIT_OPEN


class AttachmentRejected(EmailError):
    code = ErrorCode.ATTACHMENT_REJECTED


class InvalidState(EmailError):
    code = ErrorCode.INVALID_STATE


class StorageError(EmailError):
    code = ErrorCode.STORAGE


class InternalError(EmailError):
    code = ErrorCode.INTERNAL
