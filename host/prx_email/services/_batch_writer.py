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
import concurrent.futures
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
        # A concurrent future, not an asyncio one: done() is true the moment the worker
        # finishes, so the next put() hands over the next group without waiting for the
        # event loop to run (it may not, while the caller parses).
        self._running: concurrent.futures.Future[int] | None = None
        self._error: BaseException | None = None

    async def put(self, job: J) -> None:
        """Queue ``job``; the worker takes it with whatever else queued up as soon as it is
        free. Waits only while ``max_queued`` jobs are waiting."""
        self._raise_error()
        self._queued.append(job)
        self._reap()
        while self._running is not None and len(self._queued) >= self._max:
            await self._wait_running()
            self._reap()
        self._raise_error()

    async def close(self) -> None:
        """Write everything queued, then return (raising the first write error, if any)."""
        self._reap()
        while self._running is not None:
            await self._wait_running()
            self._reap()
        self._raise_error()

    def _reap(self) -> None:
        """Account for a finished write, then start the next one if jobs are waiting."""
        running = self._running
        if running is not None and running.done():
            self._running = None
            exc = running.exception()
            if exc is not None:
                self._error = exc
                self._queued.clear()  # never written out of order after a failure
            elif self._on_written is not None:
                self._on_written(running.result())
        if self._running is None and self._queued and self._error is None:
            jobs, self._queued = self._queued, []
            done: concurrent.futures.Future[int] = concurrent.futures.Future()

            def run() -> None:
                try:
                    done.set_result(self._write(jobs))
                except BaseException as exc:  # handed to the event loop side by _reap
                    done.set_exception(exc)

            asyncio.get_running_loop().run_in_executor(None, run)
            self._running = done

    async def _wait_running(self) -> None:
        running = self._running
        if running is None:
            return
        # Shielded: cancelling the caller must not cancel the write (close() waits for it).
        try:
            await asyncio.shield(asyncio.wrap_future(running))
        except asyncio.CancelledError:
            raise
        except BaseException:  # recorded and re-raised by _reap / _raise_error
            pass

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
