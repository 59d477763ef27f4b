"""Recipient lists and send quotas (issue 16), on every path that queues a message.

Every path into the outbox (send, reply, and whatever composes a row later: forward,
draft_send) goes through :func:`admit` with the envelope recipients (to, cc and bcc):

1. ``[accounts.policy] deny`` then ``allow`` (addresses and ``*@domain``, lower-cased by the
   loader; deny wins; an empty allow list allows all): :class:`PolicyDenied` naming the rule
   and the address;
2. the quotas — ``sends_per_hour``, ``sends_per_day``, ``new_recipients_per_day`` over
   rolling windows — read, checked and counted in the store's transaction that inserts the
   row (``store.quota``): :class:`QuotaExceeded` saying when a slot frees;
3. ``first_contact = "approve"``: in that same transaction, a row to any address the account
   never exchanged mail with (``store.approvals``) is parked as ``awaiting_approval`` for
   ``approval_ttl_hours``, its ``last_error`` naming the new addresses; the caller answers
   the row as it stands (an ok result, nothing sent). ``services.approvals`` releases it.

A refusal stores nothing. This runs in the host's services, below the host functions, so a
guest that calls the host's ``send`` directly meets it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial

from ..config.model import AccountConfig, FirstContact, PolicySettings
from ..errors import PolicyDenied, QuotaExceeded
from ..store.approvals import Hold
from ..store.quota import DAY, HOUR, QuotaRepo, QuotaUsage
from .context import ServiceContext

__all__ = ["admit", "check_quota", "check_recipients", "hold_reason", "matches"]


def matches(address: str, pattern: str) -> bool:
    """``address`` is ``pattern`` (lower-case) or in the domain of ``*@domain``."""
    addr = address.lower()
    if pattern.startswith("*@"):
        return addr.rpartition("@")[2] == pattern[2:]
    return addr == pattern


def check_recipients(account: AccountConfig, recipients: Iterable[str]) -> None:
    """:raises PolicyDenied: a recipient matches ``deny``, or ``allow`` is set and it matches
    none of it (the first such recipient is named)."""
    policy = account.policy
    if not policy.deny and not policy.allow:
        return
    for addr in recipients:
        rule = next((p for p in policy.deny if matches(addr, p)), None)
        if rule is not None:
            raise PolicyDenied(
                f"sending to {addr} is refused: it matches the deny rule {rule!r} of account "
                f"{account.id} ([accounts.policy] deny); nothing was queued",
                hint="remove that recipient; only the operator can change the deny list",
            )
        if policy.allow and not any(matches(addr, p) for p in policy.allow):
            raise PolicyDenied(
                f"sending to {addr} is refused: it matches no allow rule of account "
                f"{account.id} ([accounts.policy] allow); nothing was queued",
                hint="send only to allowed recipients: " + ", ".join(policy.allow[:10]),
            )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exceeded(key: str, what: str, frees: float | None, now: float) -> QuotaExceeded:
    if frees is None:
        when = "it never fits this quota"
        hint = "split the message so each part has fewer new recipients"
    else:
        when = f"the next slot frees at {_iso(frees)} (in {max(1, int(frees - now + 0.999))}s)"
        hint = (
            f"wait until {_iso(frees)}, or write a draft (email.draft_create) for a person "
            "to send; only the operator can raise the quota"
        )
    return QuotaExceeded(f"{what} ([accounts.policy] {key}); {when}; nothing was queued", hint=hint)


def check_quota(account_id: int, policy: PolicySettings, usage: QuotaUsage) -> None:
    """:raises QuotaExceeded: queueing one more message would exceed a quota of ``policy``."""
    now = usage.now
    windows: Sequence[tuple[str, int | None, tuple[float, ...], float, str]] = (
        ("sends_per_hour", policy.sends_per_hour, usage.hour, HOUR, "the last hour"),
        ("sends_per_day", policy.sends_per_day, usage.day, DAY, "the last 24 hours"),
    )
    for key, limit, times, span, period in windows:
        if limit is not None and len(times) >= limit:
            what = (
                f"account {account_id} queued {len(times)} messages in {period}, "
                f"its quota is {limit}"
            )
            raise _exceeded(key, what, times[len(times) - limit] + span, now)
    limit = policy.new_recipients_per_day
    need = len(usage.new)
    if limit is not None and need and len(usage.new_day) + need > limit:
        used = len(usage.new_day)
        what = (
            f"account {account_id} added {used} new recipients in the last 24 hours and this "
            f"message adds {need}, its quota is {limit}"
        )
        frees = None if need > limit else usage.new_day[used + need - limit - 1] + DAY
        raise _exceeded("new_recipients_per_day", what, frees, now)


def hold_reason(account_id: int, new: Sequence[str]) -> str:
    """What a held row's ``last_error`` says (the agent reads it in the result)."""
    shown = ", ".join(new[:10]) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
    return (
        f"awaiting approval: first contact of account {account_id} with {shown}"
        ' ([accounts.policy] first_contact = "approve"); not sent until a person approves'
        " it (prx-email approve); do not send it again"
    )


def _first_contact(account: AccountConfig, now: float, unknown: tuple[str, ...]) -> Hold:
    expires = now + account.policy.approval_ttl_hours * 3600.0
    return Hold(expires_at=expires, reason=hold_reason(account.id, unknown))


def admit(
    ctx: ServiceContext,
    account: AccountConfig,
    recipients: Sequence[str],
    insert: Callable[[Hold | None], int],
) -> int:
    """Check ``recipients`` against the account's lists, then check the quotas, ``insert``
    the row (``insert(hold)``: a :class:`Hold` when first-contact approval holds it, else
    None) and count it, in one store transaction; returns the row id.

    :raises PolicyDenied: a recipient is denied or not allowed (nothing stored).
    :raises QuotaExceeded: a quota is used up (nothing stored).
    :raises StorageError:
    """
    check_recipients(account, recipients)
    now = ctx.clock()
    approve = account.policy.first_contact is FirstContact.APPROVE
    return QuotaRepo(ctx.db).admit(
        account.id,
        recipients,
        now=now,
        check=partial(check_quota, account.id, account.policy),
        insert=insert,
        screen=partial(_first_contact, account, now) if approve else None,
    )
