"""In-process counters and histograms: plain dicts behind a lock, no import cost.

``prometheus_client``'s own metric classes would put its package import (~50-150 ms: it
pulls in ``http.server``) on every command that syncs or sends. Values are therefore kept
here, and rendered through ``prometheus_client`` only when something asks for them
(:mod:`._export`). One increment is a dict update under a lock (~0.3 µs), called per
folder, per delivery attempt and per sandbox call, never per message.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

__all__ = ["Counter", "Histogram", "Metric", "set_enabled"]

_state = {"enabled": True}


def set_enabled(on: bool) -> None:
    """Turn recording on or off (the benchmark compares both in one run)."""
    _state["enabled"] = on


@dataclass(eq=False)
class Metric:
    """One metric family: its name (without ``_total``), help text and label names."""

    name: str
    help: str
    labels: tuple[str, ...]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def clear(self) -> None:
        raise NotImplementedError


@dataclass(eq=False)
class Counter(Metric):
    values: dict[tuple[str, ...], float] = field(default_factory=dict)

    def inc(self, *labels: object, amount: float = 1.0) -> None:
        if not _state["enabled"]:
            return
        key = tuple(map(str, labels))
        with self._lock:
            self.values[key] = self.values.get(key, 0.0) + amount

    def samples(self) -> dict[tuple[str, ...], float]:
        with self._lock:
            return dict(self.values)

    def clear(self) -> None:
        with self._lock:
            self.values.clear()


@dataclass(slots=True)
class _Series:
    buckets: list[int]
    count: int = 0
    total: float = 0.0


@dataclass(eq=False)
class Histogram(Metric):
    #: Upper bounds in seconds (``+Inf`` is implied).
    bounds: tuple[float, ...] = ()
    series: dict[tuple[str, ...], _Series] = field(default_factory=dict)

    def observe(self, value: float, *labels: object) -> None:
        if not _state["enabled"]:
            return
        key = tuple(map(str, labels))
        i = bisect.bisect_left(self.bounds, value)
        with self._lock:
            s = self.series.get(key)
            if s is None:
                s = self.series[key] = _Series([0] * (len(self.bounds) + 1))
            s.buckets[i] += 1
            s.count += 1
            s.total += value

    def samples(self) -> dict[tuple[str, ...], tuple[list[int], int, float]]:
        """Per label set: cumulative bucket counts (``+Inf`` last), count, sum."""
        with self._lock:
            out = {}
            for key, s in self.series.items():
                running, cumulative = 0, []
                for n in s.buckets:
                    running += n
                    cumulative.append(running)
                out[key] = (cumulative, s.count, s.total)
            return out

    def clear(self) -> None:
        with self._lock:
            self.series.clear()
