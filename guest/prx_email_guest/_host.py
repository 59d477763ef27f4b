"""Access to the host functions.

Inside the component (``sys.platform == "wasi"``) the host is the generated
``wit_world.imports.host`` module. Natively there is no host: ``default_host()`` returns None
and every tool that needs one answers ``EMAIL_HOST_CAPABILITY_UNAVAILABLE`` (after argument
validation). Tests pass any object with the same functions instead; errors are raised as
``componentize_py_types.Err(EmailError_…)`` exactly as the bindings do.
"""

from __future__ import annotations

import sys
from typing import Protocol

from wit_world.imports import host as _wit_host
from wit_world.imports import types

__all__ = ["HostApi", "default_host"]


class HostApi(Protocol):
    """The functions of the WIT ``host`` interface, as the generated bindings expose them."""

    def limits(self, /) -> types.ToolLimits: ...
    def accounts(self, /) -> list[types.Account]: ...
    def sync(self, req: types.SyncRequest, /) -> types.SyncReport: ...
    def list_messages(self, query: types.ListQuery, /) -> types.MessagePage: ...
    def get_message(self, account: int, id: int, /) -> types.Message | None: ...
    def search(self, query: types.SearchQuery, /) -> types.MessagePage: ...
    def send(self, msg: types.OutgoingMessage, /) -> types.OutboxEntry: ...
    def reply(self, req: types.ReplyRequest, /) -> types.OutboxEntry: ...
    def retry(self, id: int, now: bool, /) -> types.OutboxEntry: ...
    def list_outbox(self, query: types.OutboxQuery, /) -> types.OutboxPage: ...


def default_host() -> HostApi | None:
    """The real host inside the component; None in plain CPython."""
    if sys.platform == "wasi":
        return _wit_host
    return None
