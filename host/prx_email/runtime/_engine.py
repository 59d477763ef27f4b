"""The wasmtime engine shared by every plugin in this process, and its epoch ticker.

The engine config is fixed (epoch interruption on, nothing else changed from the
defaults); ``ENGINE_FINGERPRINT`` names it in the compiled-artifact cache key, because
a compiled artifact only loads into an engine configured the same way.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import wasmtime

#: Epoch tick period: the granularity of the guest deadline.
TICK_SECONDS = 0.01
ENGINE_FINGERPRINT = "epoch-interruption=1;opt=default"


@functools.cache
def wasmtime_version() -> str:
    """The installed wasmtime-py version, e.g. ``"50.0.1"`` (``"unknown"`` if not found).

    Read from the ``wasmtime-<version>.dist-info`` directory beside the package: the same
    answer as ``importlib.metadata.version``, without its ~10-30 ms of imports at start-up.
    """
    site = Path(wasmtime.__file__).resolve().parent.parent
    try:
        found = sorted(p.name for p in site.glob("wasmtime-*.dist-info"))
    except OSError:  # pragma: no cover - an unreadable site-packages
        found = []
    if len(found) == 1:
        return found[0][len("wasmtime-") : -len(".dist-info")]
    from importlib import metadata  # several or none: let the packaging metadata decide

    try:
        return metadata.version("wasmtime")
    except metadata.PackageNotFoundError:  # pragma: no cover - vendored wasmtime
        return "unknown"


class EpochTicker:
    """One daemon thread per engine that advances the epoch every ``TICK_SECONDS``."""

    def __init__(self, engine: wasmtime.Engine, period: float = TICK_SECONDS) -> None:
        self._engine = engine
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prx-email-epoch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._engine.increment_epoch()

    def stop(self) -> None:
        self._stop.set()


def _new_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    return wasmtime.Engine(config)


_lock = threading.Lock()
_engine: wasmtime.Engine | None = None
_ticker: EpochTicker | None = None


def shared_engine() -> wasmtime.Engine:
    """The process-wide engine; its ticker starts with it and runs until exit."""
    global _engine, _ticker
    with _lock:
        if _engine is None:
            _engine = _new_engine()
            _ticker = EpochTicker(_engine)
        return _engine


def deadline_ticks(seconds: float) -> int:
    """Epoch ticks for ``seconds`` of guest compute (at least one)."""
    return max(1, round(seconds / TICK_SECONDS))
