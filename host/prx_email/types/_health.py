"""The agent's view of the doctor's checks (``email.health``): statuses and codes only."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import AccountId


class HealthStatus(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class HealthStep:
    """One check step: its name (``imap.login``), status and, when it failed, the code."""

    step: str
    status: HealthStatus
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class AccountHealth:
    account_id: AccountId
    steps: tuple[HealthStep, ...]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """``network_checked`` False: the network flag is off and only offline checks ran."""

    ok: bool
    network_checked: bool
    accounts: tuple[AccountHealth, ...]
