"""Ordered writes from a worker thread, grouping whatever queued up into one call.

A first sync parses batch N+1 on the event loop thread while batch N is written to SQLite
from a worker thread (SQLite releases the GIL while it works). Each write takes the GIL
back a few times (after BEGIN, the INSERT, the cursor UPDATE, COMMIT), and each retake
waits up to a switch interval while the loop thread is parsing: written one batch at a
time, the writer fell behind and the loop thread waited for it. :class:`BatchWriter` lets
the loop thread queue batches without waiting and hands the worker everything queued since
its last write in one call (one transaction), so the retakes are paid per group, not per
batch, exactly when the writer is the bottleneck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["BatchWriter"]

J = TypeVar("J")


class BatchWriter(Generic[J]):
    """Calls ``write(jobs)`` in a worker thread, in order, for every job :meth:`put`.

    Jobs queued while a write runs go together into the next call. :meth:`put` waits only
    when ``max_queued`` jobs are waiting; after a failed write, :meth:`put` and
    :meth:`close` raise its error and later jobs are dropped (never written out of order).
    ``on_written(count)`` runs on the event loop after each successful write with the
    number returned by ``write``.
    """

    def __init__(
        self,
        write: Callable[[Sequence[J]], int],
        *,
        max_queued: int,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self._write = write
        self._max = max(1, max_queued)
        self._on_written = on_written
        self._queued: list[J] = []
        self._running: asyncio.Future[int] | None = None
        self._error: BaseException | None = None

    async def put(self, job: J) -> None:
        """Queue ``job``; start a write now if none runs, else wait only if the queue is full."""
        self._raise_error()
        self._queued.append(job)
        while self._queued and self._running is not None and len(self._queued) >= self._max:
            await self._finish_running()
            self._raise_error()
        if self._running is None:
            self._start()

    async def close(self) -> None:
        """Write everything queued, then return (raising the first write error, if any)."""
        while self._running is not None or (self._queued and self._error is None):
            if self._running is None:
                self._start()
            await self._finish_running()
        self._raise_error()

    def _start(self) -> None:
        if not self._queued or self._error is not None:
            return
        jobs, self._queued = self._queued, []
        loop = asyncio.get_running_loop()
        self._running = loop.run_in_executor(None, self._write, jobs)

    async def _finish_running(self) -> None:
        running = self._running
        if running is None:
            return
        try:
            count = await asyncio.shield(running)
        except asyncio.CancelledError:
            raise  # the caller was cancelled; the write goes on and close() waits for it
        except BaseException as exc:
            self._running = None
            self._error = exc
            self._queued.clear()
            return
        self._running = None
        if self._on_written is not None:
            self._on_written(count)
        self._start()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
