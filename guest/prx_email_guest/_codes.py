"""Error codes the guest produces, and the table of the host's ones.

The host's codes are derived from the generated bindings: one ``EmailError_…`` class per WIT
``email-error`` case, ``EMAIL_`` + the case name upper-cased (``-`` → ``_``). Their meanings
and default hints live in the host (``prx_email.errors.CODES``), which fills every hint it
sends. Kept here: the codes only the guest produces, and the default hints of the codes the
guest raises itself.
"""

from __future__ import annotations

import re
import typing
from typing import Final

from wit_world.imports import types

__all__ = [
    "CASE_CLASSES",
    "DEFAULT_HINTS",
    "GUEST_ONLY_CODES",
    "HOST_CASES",
    "GuestError",
    "envelope_code",
]


def _kebab(camel: str) -> str:
    """``AccountNotFound`` → ``account-not-found``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", camel).lower()


#: Generated case class → WIT case name, in contract order.
CASE_CLASSES: Final[dict[type, str]] = {
    cls: _kebab(cls.__name__.removeprefix("EmailError_"))
    for cls in typing.get_args(types.EmailError)
}
#: The WIT ``email-error`` case names, in contract order.
HOST_CASES: Final = tuple(CASE_CLASSES.values())


def envelope_code(case: str) -> str:
    """``network-disabled`` → ``EMAIL_NETWORK_DISABLED``."""
    return "EMAIL_" + case.upper().replace("-", "_")


INVALID_JSON: Final = "EMAIL_INVALID_JSON"
UNSUPPORTED_TOOL: Final = "EMAIL_UNSUPPORTED_TOOL"
HOST_CAPABILITY_UNAVAILABLE: Final = "EMAIL_HOST_CAPABILITY_UNAVAILABLE"
SANDBOX_MEMORY: Final = "EMAIL_SANDBOX_MEMORY"
INVALID_ARGUMENT: Final = envelope_code("invalid-argument")
NOT_FOUND: Final = envelope_code("not-found")
INTERNAL: Final = envelope_code("internal")

#: Codes no host function returns (SANDBOX_MEMORY is shared with the host's runtime).
GUEST_ONLY_CODES: Final = (INVALID_JSON, UNSUPPORTED_TOOL, HOST_CAPABILITY_UNAVAILABLE)

#: Default hints of the codes the guest raises itself (the host's table has the same words).
DEFAULT_HINTS: Final[dict[str, str]] = {
    INVALID_JSON: 'Pass the arguments as one JSON object, e.g. {"account_id": 1}.',
    INVALID_ARGUMENT: "Check the arguments against the tool's input_schema (`prx-email tools`).",
    UNSUPPORTED_TOOL: "Call describe() (`prx-email tools`) for the tool list.",
    HOST_CAPABILITY_UNAVAILABLE: (
        "Run the tool through the prx-email host (`prx-email call TOOL ARGS`)."
    ),
    NOT_FOUND: "Use email.list, email.search or email.outbox to find valid ids.",
    SANDBOX_MEMORY: (
        "Ask for less at once: a smaller limit, fewer or smaller attachments, shorter bodies."
    ),
    INTERNAL: "This is a bug, not a problem with your arguments: retry once, then report it.",
}
# A host error whose hint was lost (the host always sends one).
_FALLBACK_HINT: Final = "See this code in the plugin's docs (docs/tools.md, Error codes)."


def default_hint(code: str) -> str:
    return DEFAULT_HINTS.get(code, _FALLBACK_HINT)


class GuestError(Exception):
    """A failure the guest reports as an error envelope (never escapes ``execute``)."""

    def __init__(
        self, code: str, message: str, hint: str | None = None, *, run_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint if hint else default_hint(code)
        #: The host's run id of a failed sync run or delivery attempt (``detail.run_id``).
        self.run_id = run_id
