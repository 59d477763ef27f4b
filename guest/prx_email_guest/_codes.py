"""Error codes the envelope can carry, with their meaning and a default hint.

Host codes are derived from the WIT ``email-error`` case names (``EMAIL_`` + the case name
upper-cased, ``-`` → ``_``); the guest-only codes describe failures that never reach the host.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = [
    "CODES",
    "GUEST_ONLY_CODES",
    "HOST_CASES",
    "GuestError",
    "envelope_code",
]


class CodeInfo(NamedTuple):
    """What a code means and what to suggest when the failure carries no hint of its own."""

    meaning: str
    hint: str


# The WIT `email-error` cases, in contract order.
HOST_CASES: Final = (
    "invalid-argument",
    "not-found",
    "account-not-found",
    "folder-not-found",
    "network-disabled",
    "config",
    "connection-failed",
    "tls-failed",
    "timeout",
    "auth-failed",
    "auth-refresh-failed",
    "protocol",
    "smtp-transient",
    "smtp-permanent",
    "circuit-open",
    "attachment-rejected",
    "invalid-state",
    "storage",
    "internal",
)


def envelope_code(case: str) -> str:
    """``network-disabled`` → ``EMAIL_NETWORK_DISABLED``."""
    return "EMAIL_" + case.upper().replace("-", "_")


INVALID_JSON: Final = "EMAIL_INVALID_JSON"
INVALID_ARGUMENT: Final = "EMAIL_INVALID_ARGUMENT"
UNSUPPORTED_TOOL: Final = "EMAIL_UNSUPPORTED_TOOL"
HOST_CAPABILITY_UNAVAILABLE: Final = "EMAIL_HOST_CAPABILITY_UNAVAILABLE"
INTERNAL: Final = "EMAIL_INTERNAL"
SANDBOX_MEMORY: Final = "EMAIL_SANDBOX_MEMORY"
NOT_FOUND: Final = "EMAIL_NOT_FOUND"

GUEST_ONLY_CODES: Final = (
    INVALID_JSON,
    UNSUPPORTED_TOOL,
    HOST_CAPABILITY_UNAVAILABLE,
    SANDBOX_MEMORY,
)

CODES: Final[dict[str, CodeInfo]] = {
    INVALID_JSON: CodeInfo(
        "args_json is not JSON (empty, malformed, NaN/Infinity).",
        'Pass the arguments as one JSON object, e.g. {"account_id": 1}.',
    ),
    UNSUPPORTED_TOOL: CodeInfo(
        "No tool of that name.",
        "Call describe() (`prx-email tools`) for the tool list.",
    ),
    HOST_CAPABILITY_UNAVAILABLE: CodeInfo(
        "The guest runs outside the wasm component (plain CPython), so no host functions exist.",
        "Run the tool through the prx-email host (`prx-email call TOOL ARGS`).",
    ),
    SANDBOX_MEMORY: CodeInfo(
        "The guest ran out of memory inside the sandbox.",
        "Ask for less at once: a smaller limit, fewer or smaller attachments, shorter bodies.",
    ),
    INVALID_ARGUMENT: CodeInfo(
        "An argument is missing, unknown, of the wrong type or out of range, or args_json "
        "is not an object or is over a limit (8 MiB, nesting 32).",
        "Check the arguments against the tool's input_schema (`prx-email tools`).",
    ),
    NOT_FOUND: CodeInfo(
        "No message or outbox row with that id.",
        "Use email.list, email.search or email.outbox to find valid ids.",
    ),
    envelope_code("account-not-found"): CodeInfo(
        "No configured account with that id.",
        "Call email.accounts to see the configured account ids.",
    ),
    envelope_code("folder-not-found"): CodeInfo(
        "The folder does not exist on the server or in the store.",
        "Check the folder name; email.accounts lists each account's folders.",
    ),
    envelope_code("network-disabled"): CodeInfo(
        "The tool needs the network and the host's network flag is off.",
        "The operator must set PRX_EMAIL_ENABLE_REAL_NETWORK=1 for the host; "
        "nothing the plugin sends can turn it on.",
    ),
    envelope_code("config"): CodeInfo(
        "The account configuration is missing or invalid for this operation.",
        "Fix the configuration file (the message names the key), e.g. add [accounts.smtp].",
    ),
    envelope_code("connection-failed"): CodeInfo(
        "The mail server could not be reached.",
        "Check the server host and port and that it is reachable, then retry.",
    ),
    envelope_code("tls-failed"): CodeInfo(
        "The TLS handshake or certificate check failed.",
        "Check the account's tls mode and the server certificate (ca_file for a private CA).",
    ),
    envelope_code("timeout"): CodeInfo(
        "The server or the operation did not finish in time.",
        "Retry later; for a large mailbox, sync with a smaller max_messages.",
    ),
    envelope_code("auth-failed"): CodeInfo(
        "The server refused the credentials.",
        "Check the account's username and credential (password_env / password_file).",
    ),
    envelope_code("auth-refresh-failed"): CodeInfo(
        "The OAuth2 access token could not be refreshed.",
        "Re-authorize the account to obtain a new refresh token.",
    ),
    envelope_code("protocol"): CodeInfo(
        "The server answered something unexpected.",
        "Retry; if it persists, report it with the server software and version.",
    ),
    envelope_code("smtp-transient"): CodeInfo(
        "The SMTP server refused temporarily (4xx); the message stays queued.",
        "Wait and call email.retry with the outbox_id, or let the host's retry schedule run.",
    ),
    envelope_code("smtp-permanent"): CodeInfo(
        "The SMTP server rejected the message permanently (5xx); the row is dead.",
        "Fix the recipients or the content and send a new message.",
    ),
    envelope_code("circuit-open"): CodeInfo(
        "Too many recent failures for this account's server; calls are paused.",
        "Wait for the pause to end (see the message), then retry.",
    ),
    envelope_code("attachment-rejected"): CodeInfo(
        "An attachment is outside the attachment root, too large or of a disallowed type.",
        "Use a file under the configured attachment root, an allowed type, within the size cap.",
    ),
    envelope_code("invalid-state"): CodeInfo(
        "The operation does not fit the current state (e.g. retrying a sent row).",
        "Check the row with email.outbox: only pending or failed rows that are due can be retried.",
    ),
    envelope_code("storage"): CodeInfo(
        "The host's local store failed.",
        "Check disk space and permissions of the store on the host, then retry.",
    ),
    INTERNAL: CodeInfo(
        "An unexpected failure in the plugin or the host; details are not exposed.",
        "This is a bug, not a problem with your arguments: retry once, then report it.",
    ),
}


class GuestError(Exception):
    """A failure the guest reports as an error envelope (never escapes ``execute``)."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint if hint else CODES[code].hint
