"""The host's exception tree. Every class maps to one ``email-error`` case of the WIT contract.

::

    EmailError
     ├── InvalidArgument
     ├── NotFound
     │    ├── AccountNotFound
     │    ├── FolderNotFound
     │    └── AttachmentUnavailable
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
     │    ├── MoveIncomplete
     │    └── CancelTooLate
     ├── StorageError
     ├── InternalError
     └── PolicyDenied (PermissionError)
          └── QuotaExceeded

Host functions never let these escape into wasmtime (that would trap the instance);
``prx_email.bridge`` turns them into ``email-error`` values. Messages must never contain secrets.

``CODES`` is the one table of every code an envelope can carry: the WIT cases above, the
codes only the guest produces and the sandbox's own. Each has a meaning and a default hint,
used whenever a failure carries no hint of its own; README and docs/tools.md tables are
generated from it (``scripts/gen_docs.py``).
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple


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
    POLICY_DENIED = "policy-denied"
    MOVE_INCOMPLETE = "move-incomplete"
    CANCEL_TOO_LATE = "cancel-too-late"
    ATTACHMENT_UNAVAILABLE = "attachment-unavailable"
    QUOTA_EXCEEDED = "quota-exceeded"

    @property
    def envelope(self) -> str:
        """The code as it appears in the JSON envelope, e.g. ``EMAIL_NOT_FOUND``."""
        return "EMAIL_" + self.value.upper().replace("-", "_")

    @property
    def default_hint(self) -> str:
        return CODES[self.envelope].hint


class CodeInfo(NamedTuple):
    """One envelope code: what it means, what to do by default, and who produces it."""

    code: str
    meaning: str
    hint: str
    #: "guest", "host", "runtime", or several joined by ", ".
    source: str


# Codes that are not WIT cases: produced by the guest, or by the host's sandbox runtime.
INVALID_JSON: Final = "EMAIL_INVALID_JSON"
UNSUPPORTED_TOOL: Final = "EMAIL_UNSUPPORTED_TOOL"
HOST_CAPABILITY_UNAVAILABLE: Final = "EMAIL_HOST_CAPABILITY_UNAVAILABLE"
SANDBOX_TIMEOUT: Final = "EMAIL_SANDBOX_TIMEOUT"
SANDBOX_MEMORY: Final = "EMAIL_SANDBOX_MEMORY"
SANDBOX_TRAP: Final = "EMAIL_SANDBOX_TRAP"
SANDBOX_OUTPUT_TOO_LARGE: Final = "EMAIL_SANDBOX_OUTPUT_TOO_LARGE"
SANDBOX_CLOSED: Final = "EMAIL_SANDBOX_CLOSED"

GUEST_ONLY_CODES: Final = (INVALID_JSON, UNSUPPORTED_TOOL, HOST_CAPABILITY_UNAVAILABLE)
SANDBOX_CODES: Final = (
    SANDBOX_TIMEOUT,
    SANDBOX_MEMORY,
    SANDBOX_TRAP,
    SANDBOX_OUTPUT_TOO_LARGE,
    SANDBOX_CLOSED,
)

_FRESH = "The call was stopped; the next call runs in a fresh instance."

#: Every envelope code, in documentation order.
CODES: Final[dict[str, CodeInfo]] = {
    c.code: c
    for c in (
        CodeInfo(
            INVALID_JSON,
            "The arguments are not a JSON object that parses (empty, malformed, NaN/Infinity, "
            "invalid UTF-8), or not a dict/str/None on the Python API.",
            'Pass the arguments as one JSON object, e.g. {"account_id": 1}.',
            "guest, host",
        ),
        CodeInfo(
            "EMAIL_INVALID_ARGUMENT",
            "An argument is missing, unknown, of the wrong type or outside its bound (the "
            "bounds in force are in the tool's input_schema), or args_json is over a limit.",
            "Check the arguments against the tool's input_schema (`prx-email tools`).",
            "guest, host",
        ),
        CodeInfo(
            UNSUPPORTED_TOOL,
            "No tool of that name.",
            "Call describe() (`prx-email tools`) for the tool list.",
            "guest, host",
        ),
        CodeInfo(
            HOST_CAPABILITY_UNAVAILABLE,
            "The guest runs outside the wasm component (plain CPython), so no host exists.",
            "Run the tool through the prx-email host (`prx-email call TOOL ARGS`).",
            "guest",
        ),
        CodeInfo(
            "EMAIL_NOT_FOUND",
            "No message or outbox row with that id.",
            "Use email.list, email.search or email.outbox to find valid ids.",
            "guest, host",
        ),
        CodeInfo(
            "EMAIL_ACCOUNT_NOT_FOUND",
            "No configured account with that id.",
            "Call email.accounts to see the configured account ids.",
            "host",
        ),
        CodeInfo(
            "EMAIL_FOLDER_NOT_FOUND",
            "The folder does not exist on the server or in the store.",
            "Check the folder name; email.accounts lists each account's folders.",
            "host",
        ),
        CodeInfo(
            "EMAIL_NETWORK_DISABLED",
            "The tool needs the network and `PRX_EMAIL_ENABLE_REAL_NETWORK` is off; nothing "
            "was queued or sent.",
            "The operator must set PRX_EMAIL_ENABLE_REAL_NETWORK=1 for the host; nothing the "
            "plugin sends can turn it on.",
            "host",
        ),
        CodeInfo(
            "EMAIL_CONFIG",
            "The configuration is missing or invalid for this operation.",
            "Fix the configuration file (the message names the key), e.g. add [accounts.smtp].",
            "host",
        ),
        CodeInfo(
            "EMAIL_CONNECTION_FAILED",
            "The mail server could not be reached, or the connection broke.",
            "Check the server host and port and that it is reachable, then retry.",
            "host",
        ),
        CodeInfo(
            "EMAIL_TLS_FAILED",
            "The TLS handshake or certificate check failed.",
            "Check the account's tls mode and the server certificate (ca_file for a private CA).",
            "host",
        ),
        CodeInfo(
            "EMAIL_TIMEOUT",
            "The server or the operation did not finish in time; the message names the "
            "timeout that fired.",
            "Retry later; the message says which limit was reached.",
            "host",
        ),
        CodeInfo(
            "EMAIL_AUTH_FAILED",
            "The server refused the credentials.",
            "Check the account's username and credential (password_env / password_file).",
            "host",
        ),
        CodeInfo(
            "EMAIL_AUTH_REFRESH_FAILED",
            "The OAuth2 access token could not be refreshed.",
            "Re-authorize the account to obtain a new refresh token.",
            "host",
        ),
        CodeInfo(
            "EMAIL_PROTOCOL",
            "The server answered something unexpected.",
            "Retry; if it persists, report it with the server software and version.",
            "host",
        ),
        CodeInfo(
            "EMAIL_SMTP_TRANSIENT",
            "SMTP 4xx: refused for now; the message stays queued and is retried.",
            "Wait and call email.retry with the outbox_id, or let the host's retry schedule run.",
            "host",
        ),
        CodeInfo(
            "EMAIL_SMTP_PERMANENT",
            "SMTP 5xx: rejected; the outbox row is dead.",
            "Fix the recipients or the content and send a new message.",
            "host",
        ),
        CodeInfo(
            "EMAIL_CIRCUIT_OPEN",
            "Too many consecutive failures for this account's server; paused (the message "
            "says until when).",
            "Wait for the pause to end (see the message), then retry.",
            "host",
        ),
        CodeInfo(
            "EMAIL_ATTACHMENT_REJECTED",
            "An attachment is outside the attachment root, too large or of a disallowed type.",
            "Use a file under the configured attachment root, an allowed type, within the "
            "size cap.",
            "host",
        ),
        CodeInfo(
            "EMAIL_INVALID_STATE",
            "The operation does not fit the current state (e.g. retrying a sent row).",
            "Check the row with email.outbox: only pending, failed or held rows can be retried.",
            "host",
        ),
        CodeInfo(
            "EMAIL_STORAGE",
            "The host's local store failed.",
            "Check disk space and permissions of the store on the host, then retry.",
            "host",
        ),
        CodeInfo(
            "EMAIL_INTERNAL",
            "Unexpected failure in the plugin or the host; details are not exposed.",
            "This is a bug, not a problem with your arguments: retry once, then report it.",
            "guest, host",
        ),
        CodeInfo(
            "EMAIL_POLICY_DENIED",
            "The host's policy for the account or the process refuses the operation (e.g. "
            "sending in draft-only mode); nothing was queued or sent.",
            "Write a draft instead (email.draft_create) for a person to send; only the "
            "operator can change the mode ([accounts.policy] mode, PRX_EMAIL_MODE).",
            "host",
        ),
        CodeInfo(
            "EMAIL_MOVE_INCOMPLETE",
            "A move copied the messages to the destination, but the source folder kept them: "
            "they are now in both folders (the message names both).",
            "Delete them from the source folder (email.delete with permanent: true), or check "
            "the source folder's permissions.",
            "host",
        ),
        CodeInfo(
            "EMAIL_CANCEL_TOO_LATE",
            "email.cancel found the outbox row already sending, sent, held, dead or cancelled, "
            "or tried on the server: it can no longer be cancelled (the message says its state).",
            "Check the row with email.outbox; only scheduled rows and queued rows no attempt of "
            "which reached the server can be cancelled.",
            "host",
        ),
        CodeInfo(
            "EMAIL_ATTACHMENT_UNAVAILABLE",
            "A forward needs an attachment of the original that was not kept at sync time and "
            "could not be fetched from the server (gone, changed, or the message has no server "
            "copy); nothing was queued or sent.",
            "Sync the message's folder and forward again, forward without the attachments "
            "(include_attachments: false), or as an attachment (mode: attachment) when the "
            "original is still on the server.",
            "host",
        ),
        CodeInfo(
            "EMAIL_QUOTA_EXCEEDED",
            "A send quota of the account ([accounts.policy] sends_per_hour, sends_per_day, "
            "new_recipients_per_day) is used up; the message says when it resets. Nothing was "
            "queued or sent.",
            "Wait until the time the message names, or write a draft (email.draft_create) for "
            "a person to send; only the operator can raise the quota.",
            "host",
        ),
        CodeInfo(
            SANDBOX_TIMEOUT,
            "The guest exceeded its compute deadline and was stopped.",
            _FRESH,
            "runtime",
        ),
        CodeInfo(
            SANDBOX_MEMORY,
            "The guest ran out of memory (a MemoryError it caught, or the runtime's limit).",
            "Ask for less at once: a smaller limit, fewer or smaller attachments, shorter bodies.",
            "guest, runtime",
        ),
        CodeInfo(
            SANDBOX_TRAP,
            "The guest trapped (should not happen: the guest turns every failure into an "
            "envelope).",
            _FRESH,
            "runtime",
        ),
        CodeInfo(
            SANDBOX_OUTPUT_TOO_LARGE,
            "The guest's answer exceeded the host's size cap.",
            "Ask for fewer results (a smaller limit).",
            "runtime",
        ),
        CodeInfo(
            SANDBOX_CLOSED,
            "The plugin was closed.",
            "Open the plugin again.",
            "runtime",
        ),
    )
}


def default_hint(code: str) -> str:
    """The default hint of an envelope code (an unknown code gets EMAIL_INTERNAL's)."""
    info = CODES.get(code)
    return (info or CODES["EMAIL_INTERNAL"]).hint


class EmailError(Exception):
    """Base of every expected failure; carries a stable code and an optional hint."""

    code: ErrorCode = ErrorCode.INTERNAL
    #: The run (sync run, outbox delivery attempt) that failed, when one did: it ties the
    #: error to that run's log lines (``envelope.from_error`` puts it in ``detail``).
    run_id: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidArgument(EmailError, ValueError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(EmailError, LookupError):
    code = ErrorCode.NOT_FOUND


class AttachmentUnavailable(NotFound):
    """An attachment a forward must carry is neither kept nor fetchable (nothing queued)."""

    code = ErrorCode.ATTACHMENT_UNAVAILABLE


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


class PolicyDenied(EmailError, PermissionError):
    code = ErrorCode.POLICY_DENIED


class QuotaExceeded(PolicyDenied):
    """A send quota is used up; the message says which and when it resets.

    A ``PolicyDenied`` too (a refusal by the account's policy), with a code of its own.
    """

    code = ErrorCode.QUOTA_EXCEEDED


class MoveIncomplete(InvalidState):
    """Copied to the destination, but the source kept the messages: now in both folders.

    An ``InvalidState`` too, so callers that handled the state error before this code
    existed still catch it.
    """

    code = ErrorCode.MOVE_INCOMPLETE


class CancelTooLate(InvalidState):
    """``email.cancel`` came too late: the row has started sending (or ended).

    An ``InvalidState`` too, like :class:`MoveIncomplete`.
    """

    code = ErrorCode.CANCEL_TOO_LATE
