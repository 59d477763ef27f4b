"""The SMTP circuit breaker counts consecutive failures only (issue 10 item 4)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from prx_email.errors import CircuitOpen
from prx_email.services.circuit import CircuitBreaker, CircuitSettings
from prx_email.store.db import Database


@pytest.fixture
def breaker(tmp_path: Path) -> CircuitBreaker:
    return CircuitBreaker(Database(tmp_path / "mail.db"), CircuitSettings(threshold=3))


def _scattered(n: int, failures: int, max_run: int, seed: int) -> list[bool]:
    """``n`` outcomes (True: sent) with ``failures`` failures, never ``max_run + 1`` in a row."""
    rng = random.Random(seed)
    while True:
        fails = set(rng.sample(range(n), failures))
        outcomes = [i not in fails for i in range(n)]
        runs = "".join("x" if not ok else "." for ok in outcomes).split(".")
        if max(len(r) for r in runs) <= max_run:
            return outcomes


@pytest.mark.parametrize("seed", range(5))
def test_scattered_failures_never_open_the_circuit(breaker: CircuitBreaker, seed: int) -> None:
    outcomes = _scattered(100, 8, 2, seed)
    highest = 0
    for now, ok in enumerate(outcomes):
        breaker.acquire(1, float(now))  # raises CircuitOpen if it ever opened
        if ok:
            breaker.success(1, float(now))
        else:
            highest = max(highest, breaker.failure(1, float(now), "451 try later"))
    assert 1 <= highest <= 2
    assert breaker.open_until(1, 100.0) is None


def test_consecutive_failures_open_it_and_a_success_closes_it(breaker: CircuitBreaker) -> None:
    assert [breaker.failure(1, 0.0, "451") for _ in range(3)] == [1, 2, 3]
    assert breaker.open_until(1, 1.0) == 60.0
    with pytest.raises(CircuitOpen) as err:
        breaker.acquire(1, 1.0)
    assert "3 consecutive failures (last: 451)" in err.value.message and err.value.hint
    assert breaker.open_until(2, 1.0) is None  # per account
    # After the cooldown one probe is let through; its success resets the count.
    assert breaker.acquire(1, 61.0) == 3
    with pytest.raises(CircuitOpen):
        breaker.acquire(1, 61.5)  # the probe is taken
    breaker.success(1, 62.0)
    assert breaker.acquire(1, 62.0) == 0
    assert breaker.failure(1, 63.0, "451") == 1


def test_failures_after_opening_double_the_cooldown(breaker: CircuitBreaker) -> None:
    for _ in range(4):
        breaker.failure(1, 0.0, "connection refused")
    assert breaker.open_until(1, 0.0) == 120.0
