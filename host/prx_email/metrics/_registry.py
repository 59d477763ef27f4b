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

__all__ = ["Counter", "Histogram", "Metric", "set_enabled"]

_state = {"enabled": True}


def set_enabled(on: bool) -> None:
    """Turn recording on or off (the benchmark compares both in one run)."""
    _state["enabled"] = on


# Plain classes, not dataclasses: this module is imported by every process that syncs,
# sends or runs the sandbox, and a dataclass costs ~1 ms to create at import.


class Metric:
    """One metric family: its name (without ``_total``), help text and label names."""

    __slots__ = ("_lock", "help", "labels", "name")

    def __init__(self, name: str, help: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.help = help
        self.labels = labels
        self._lock = threading.Lock()

    def clear(self) -> None:
        raise NotImplementedError


class Counter(Metric):
    __slots__ = ("values",)

    def __init__(self, name: str, help: str, labels: tuple[str, ...]) -> None:
        super().__init__(name, help, labels)
        self.values: dict[tuple[str, ...], float] = {}

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


class Histogram(Metric):
    """Per label set: a count per bucket (``bounds`` in seconds, ``+Inf`` implied), count, sum."""

    __slots__ = ("bounds", "series")

    def __init__(
        self, name: str, help: str, labels: tuple[str, ...], *, bounds: tuple[float, ...]
    ) -> None:
        super().__init__(name, help, labels)
        self.bounds = bounds
        #: label values -> [per-bucket counts..., count, sum]
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, value: float, *labels: object) -> None:
        if not _state["enabled"]:
            return
        key = tuple(map(str, labels))
        i = bisect.bisect_left(self.bounds, value)
        with self._lock:
            s = self.series.get(key)
            if s is None:
                s = self.series[key] = [0.0] * (len(self.bounds) + 3)
            s[i] += 1
            s[-2] += 1
            s[-1] += value

    def samples(self) -> dict[tuple[str, ...], tuple[list[float], float, float]]:
        """Per label set: cumulative bucket counts (``+Inf`` last), count, sum."""
        with self._lock:
            out = {}
            for key, s in self.series.items():
                running, cumulative = 0.0, []
                for n in s[:-2]:
                    running += n
                    cumulative.append(running)
                out[key] = (cumulative, s[-2], s[-1])
            return out

    def clear(self) -> None:
        with self._lock:
            self.series.clear()
