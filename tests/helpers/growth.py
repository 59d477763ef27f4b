"""Telling linear from quadratic work by how its CPU time grows, not by a wall-clock limit.

A fixed time limit fails on a slower or busier machine (one did in CI at 3.05 s of 3). Four
times the input costs about four times the CPU when the work is linear and sixteen times when
it is quadratic (10-16 times while a linear part still weighs); :func:`assert_linear` allows
eight, and the linear paths tested measure 3.5-4.6. The larger input runs twice and the
faster run counts (a pause can only make a run slower).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def cpu_seconds(work: Callable[[], object]) -> float:
    """Process CPU time of one call of ``work``."""
    start = time.process_time()
    work()
    return time.process_time() - start


def assert_linear(run: Callable[[int], object], n: int, *, slack: float = 0.05) -> None:
    """``run(4 * n)`` costs at most eight times ``run(n)`` (plus ``slack`` seconds)."""
    run(n)  # warm: imports, regex compilation, caches
    small = cpu_seconds(lambda: run(n))
    large = min(cpu_seconds(lambda: run(4 * n)) for _ in range(2))
    assert large < 8 * small + slack, f"n={n}: {small:.3f} s, 4n: {large:.3f} s"
