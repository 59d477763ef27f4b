"""The host's mode policy: which kinds of operation an account and the process allow.

::

    read_only  ⊂  draft_only  ⊂  send        (each mode allows what the one before it does)

    read_only   read the store and the server; no drafts, no mailbox changes, no sending
    draft_only  also write drafts and change the mailbox (mark, move, …); never send
    send        everything (the default)

The mode in force for an account is the stricter of its ``[accounts.policy] mode`` and the
process's mode (``open_plugin(mode=…)``, else ``PRX_EMAIL_MODE``, read at every check like
the network gate). The host functions check it before any argument is trusted; nothing that
crosses the WIT boundary can relax it. A later policy (per-tool rules, recipient lists) grows
from :class:`Action` and :func:`check`.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from ..config.model import Config, PolicyMode
from ..errors import ConfigError, PolicyDenied

MODE_ENV = "PRX_EMAIL_MODE"


class Action(enum.Enum):
    """What an operation does; :data:`NEEDS` gives the least strict mode that allows it."""

    WRITE_DRAFT = "write-draft"
    #: Folders, flags, labels, moves and deletes on the server (issue 11's mailbox actions).
    CHANGE_MAILBOX = "change-mailbox"
    SEND = "send"


#: read_only allows neither drafts nor mailbox changes; draft_only both, but never sending.
NEEDS: Final = {
    Action.WRITE_DRAFT: PolicyMode.DRAFT_ONLY,
    Action.CHANGE_MAILBOX: PolicyMode.DRAFT_ONLY,
    Action.SEND: PolicyMode.SEND,
}


_ORDER = {PolicyMode.READ_ONLY: 0, PolicyMode.DRAFT_ONLY: 1, PolicyMode.SEND: 2}


def parse_mode(value: str, where: str) -> PolicyMode:
    """:raises ConfigError: not one of read_only, draft_only, send."""
    try:
        return PolicyMode(value.strip().lower().replace("-", "_"))
    except ValueError:
        allowed = ", ".join(m.value for m in PolicyMode)
        raise ConfigError(
            f"{where}: unknown mode {value!r}", hint=f"use one of {allowed}"
        ) from None


def stricter(a: PolicyMode, b: PolicyMode) -> PolicyMode:
    return a if _ORDER[a] <= _ORDER[b] else b


def process_mode(fixed: PolicyMode | None, environ: Mapping[str, str] | None = None) -> PolicyMode:
    """The process's mode: ``fixed`` if given, else ``PRX_EMAIL_MODE``, else ``send``.

    An unparsable ``PRX_EMAIL_MODE`` counts as ``read_only``: a typo must not open sending.
    """
    if fixed is not None:
        return fixed
    raw = (os.environ if environ is None else environ).get(MODE_ENV, "").strip()
    if not raw:
        return PolicyMode.SEND
    try:
        return parse_mode(raw, MODE_ENV)
    except ConfigError:
        return PolicyMode.READ_ONLY


@dataclass(frozen=True, slots=True)
class Policy:
    """The checks the host functions make; ``config`` is read at each check (reloads count).

    ``outbox_account`` maps an outbox row to its account (for retry); None when unknown.
    """

    config: Callable[[], Config]
    mode: PolicyMode | None = None
    outbox_account: Callable[[int], int | None] | None = None

    def mode_for(self, account_id: int | None) -> PolicyMode:
        """The mode in force for an account (None: the strictest over every account)."""
        mode = process_mode(self.mode)
        accounts = self.config().accounts
        if account_id is None:
            for each in accounts:
                mode = stricter(mode, each.policy.mode)
            return mode
        found = self.config().account(account_id)
        return stricter(mode, found.policy.mode) if found is not None else mode

    def check(self, action: Action, operation: str, account_id: int | None) -> None:
        """:raises PolicyDenied: the mode in force does not allow ``action``."""
        mode = self.mode_for(account_id)
        if _ORDER[mode] >= _ORDER[NEEDS[action]]:
            return
        if action is Action.CHANGE_MAILBOX:
            hint = "This host is read-only: the mailbox on the server cannot be changed."
        elif action is Action.SEND:
            hint = (
                "This host runs in draft-only mode: write a draft (email.draft_create) for a "
                "person to send."
                if mode is PolicyMode.DRAFT_ONLY
                else "This host is read-only: nothing can be sent or drafted."
            )
        else:
            hint = "This host is read-only: drafts cannot be written."
        raise PolicyDenied(f"{operation} is refused: the host's mode is {mode.value}", hint=hint)

    def check_outbox(self, action: Action, operation: str, outbox_id: int) -> None:
        """``check`` for the account of an outbox row (all accounts when it is unknown)."""
        account_id = self.outbox_account(outbox_id) if self.outbox_account else None
        self.check(action, operation, account_id)


def allow_all() -> Policy:
    """A policy that only follows ``PRX_EMAIL_MODE`` (hosts without a config)."""
    return Policy(config=Config)
