"""The host's mode policy: which kinds of operation an account and the process allow.

::

    read_only  ⊂  draft_only  ⊂  send        (each mode allows what the one before it does)

    read_only   read the store and the server; no drafts, no mailbox changes, no sending
    draft_only  also write drafts and change the mailbox (mark, move, …); never send
    send        everything (the default)

The mode in force for an account is the stricter of its ``[accounts.policy] mode`` and the
process's mode (``open_plugin(mode=…)``, else ``PRX_EMAIL_MODE``, read at every check like
the network gate). The host functions check it before any argument is trusted; nothing that
crosses the WIT boundary can relax it.

Tool groups (``[accounts.policy] tools`` / ``deny_tools``: read, send, drafts, mark, move,
delete, label, folders) switch whole groups of host functions off per account
(:meth:`Policy.check_group`). :meth:`Policy.visible_groups` — the groups some account may
use under both its groups and its mode — is what the ``tool-groups`` host function hands
the guest, which then leaves the other tools out of ``describe``; a guest that calls them
anyway is refused here. Recipient lists and quotas apply to the composed envelope, in
``services.send_policy``, on every path into the outbox.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from ..config.model import ALL_TOOL_GROUPS, Config, PolicyMode, ToolGroup
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

#: The mode a group's tools need (read needs none): what ``describe`` hides under a mode.
GROUP_NEEDS: Final = {
    ToolGroup.READ: PolicyMode.READ_ONLY,
    ToolGroup.SEND: NEEDS[Action.SEND],
    ToolGroup.DRAFTS: NEEDS[Action.WRITE_DRAFT],
    **{
        g: NEEDS[Action.CHANGE_MAILBOX]
        for g in (
            ToolGroup.MARK,
            ToolGroup.MOVE,
            ToolGroup.DELETE,
            ToolGroup.LABEL,
            ToolGroup.FOLDERS,
        )
    },
}


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
        """``check`` (and the send group) for the account of an outbox row (all accounts
        when it is unknown)."""
        account_id = self.outbox_account(outbox_id) if self.outbox_account else None
        self.check_group(ToolGroup.SEND, operation, account_id)
        self.check(action, operation, account_id)

    def groups_for(self, account_id: int | None) -> frozenset[ToolGroup]:
        """The tool groups an account enables (None: those every account enables)."""
        config = self.config()
        if account_id is None:
            groups = ALL_TOOL_GROUPS
            for each in config.accounts:
                groups &= each.policy.tools
            return groups
        found = config.account(account_id)
        return found.policy.tools if found is not None else ALL_TOOL_GROUPS

    def check_group(self, group: ToolGroup, operation: str, account_id: int | None) -> None:
        """:raises PolicyDenied: the account's ``[accounts.policy]`` switches ``group`` off."""
        if group in self.groups_for(account_id):
            return
        whose = "every account" if account_id is None else f"account {account_id}"
        raise PolicyDenied(
            f"{operation} is refused: the tool group {group.value!r} is switched off for "
            f"{whose} ([accounts.policy] tools / deny_tools)",
            hint="call describe() for the tools this host enables; only the operator can "
            "switch a group on",
        )

    def visible_groups(self) -> list[ToolGroup]:
        """Groups some account may use under its groups and its mode (what describe shows)."""
        config = self.config()
        ids: list[int | None] = [a.id for a in config.accounts] or [None]
        out: set[ToolGroup] = set()
        for account_id in ids:
            rank = _ORDER[self.mode_for(account_id)]
            out |= {g for g in self.groups_for(account_id) if rank >= _ORDER[GROUP_NEEDS[g]]}
        return sorted(out, key=list(ToolGroup).index)


def allow_all() -> Policy:
    """A policy that only follows ``PRX_EMAIL_MODE`` (hosts without a config)."""
    return Policy(config=Config)
