"""The prx-email guest: tool catalogue, argument validation, host mapping, JSON envelope.

Pure Python; it runs inside the wasm component (via ``prx_email_plugin``) and natively in
tests with a fake host::

    from prx_email_guest import Guest
    Guest(fake_host).execute("email.list", '{"account_id": 1}')
"""

from prx_email_guest._catalogue import (
    ALL_GROUPS,
    DEFAULT_LIMITS,
    GROUP_OF,
    TOOL_NAMES,
    Catalogue,
    Effects,
    Field,
    ToolSpec,
)
from prx_email_guest._codes import (
    CASE_CLASSES,
    DEFAULT_HINTS,
    GUEST_ONLY_CODES,
    HOST_CASES,
    GuestError,
    envelope_code,
)
from prx_email_guest._guest import Guest, internal_error
from prx_email_guest._host import HostApi, default_host

__all__ = [
    "ALL_GROUPS",
    "CASE_CLASSES",
    "DEFAULT_HINTS",
    "DEFAULT_LIMITS",
    "GROUP_OF",
    "GUEST_ONLY_CODES",
    "HOST_CASES",
    "TOOL_NAMES",
    "Catalogue",
    "Effects",
    "Field",
    "Guest",
    "GuestError",
    "HostApi",
    "ToolSpec",
    "default_host",
    "envelope_code",
    "internal_error",
]
