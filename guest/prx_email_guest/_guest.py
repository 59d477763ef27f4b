"""The dispatcher behind the component's ``execute`` and ``describe`` exports.

Order of checks, each answering with the first failure:
1. the tool name (``EMAIL_UNSUPPORTED_TOOL``);
2. ``args_json``: size, JSON, an object (``EMAIL_INVALID_ARGUMENT`` / ``EMAIL_INVALID_JSON``);
3. the arguments against the catalogue (``EMAIL_INVALID_ARGUMENT``);
4. a host to call (``EMAIL_HOST_CAPABILITY_UNAVAILABLE`` in plain CPython);
5. the host call; its ``email-error`` becomes ``EMAIL_<CASE>``.
The bounds of step 3 come from the host's ``limits`` function, and the tool groups ``describe``
lists from its ``tool-groups`` function, both asked once per instance on the first ``execute``
or ``describe``; without a host they are ``DEFAULT_LIMITS`` and every group. A tool of a
group left out is still dispatched: the host refuses it with the rule that matched.
Nothing escapes: ``MemoryError`` → ``EMAIL_SANDBOX_MEMORY``, anything else → ``EMAIL_INTERNAL``.
"""

from __future__ import annotations

import difflib
from typing import Final

from componentize_py_types import Err

from prx_email_guest import _codes, _envelope
from prx_email_guest._catalogue import (
    ALL_GROUPS,
    DEFAULT_CATALOGUE,
    DEFAULT_LIMITS,
    TOOL_NAMES,
    Catalogue,
    validate,
)
from prx_email_guest._codes import GuestError
from prx_email_guest._envelope import show
from prx_email_guest._host import HostApi
from prx_email_guest._host_errors import from_host_error
from prx_email_guest._parse import parse_args
from prx_email_guest._tools import HANDLERS

__all__ = ["Guest"]

_TOOL_LIST: Final = ", ".join(TOOL_NAMES)


class Guest:
    """Runs tools against ``host``; ``None`` means no host (plain CPython)."""

    __slots__ = ("_catalogue", "_host")

    def __init__(self, host: HostApi | None) -> None:
        self._host = host
        self._catalogue: Catalogue | None = None

    def catalogue(self) -> Catalogue:
        """The tools with the host's bounds (asked for once, then kept)."""
        cat = self._catalogue
        if cat is None:
            host = self._host
            limits = DEFAULT_LIMITS if host is None else host.limits()
            groups = ALL_GROUPS if host is None else frozenset(host.tool_groups())
            if limits == DEFAULT_LIMITS and groups >= ALL_GROUPS:
                cat = DEFAULT_CATALOGUE
            else:
                cat = Catalogue(limits, groups)
            self._catalogue = cat
        return cat

    def describe(self) -> str:
        """The catalogue: a JSON list of {name, description, input_schema, effects}."""
        return self.catalogue().json()

    def execute(self, tool: str, args_json: str) -> str:
        """One tool call → the JSON envelope. Never raises an ``Exception``."""
        try:
            return _envelope.ok(self._run(tool, args_json))
        except GuestError as exc:
            return _envelope.from_guest_error(exc)
        except MemoryError:
            return _envelope.memory_error()
        except Exception:
            return internal_error(tool)

    def _run(self, tool: str, args_json: str) -> object:
        if not isinstance(tool, str) or tool not in TOOL_NAMES:
            raise _unsupported(tool)
        if not isinstance(args_json, str):
            raise GuestError(_codes.INVALID_JSON, "args_json must be a string of JSON")
        parsed = parse_args(args_json)
        args = validate(self.catalogue().tools[tool], parsed)
        if self._host is None:
            raise GuestError(
                _codes.HOST_CAPABILITY_UNAVAILABLE,
                f"{tool} needs the prx-email host, and this guest runs outside the component",
            )
        try:
            return HANDLERS[tool](self._host, args)
        except Err as err:
            raise from_host_error(err.value) from None


def _unsupported(tool: object) -> GuestError:
    name = tool if isinstance(tool, str) else repr(tool)
    message = f"unknown tool {show(name)}"
    close = difflib.get_close_matches(name[:64], TOOL_NAMES, n=1)
    if close:
        message += f" (did you mean {close[0]}?)"
    return GuestError(_codes.UNSUPPORTED_TOOL, message, f"Known tools: {_TOOL_LIST}.")


def internal_error(tool: object) -> str:
    """The generic internal-error envelope: no exception text, no traceback."""
    name = tool if isinstance(tool, str) and tool in TOOL_NAMES else "the tool"
    return _envelope.error(_codes.INTERNAL, f"internal error in the plugin while running {name}")
