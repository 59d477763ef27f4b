"""BatchWriter: ordered writes from a worker thread, grouping what queued up meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from prx_email.services._batch_writer import BatchWriter


class _Slow:
    """A write that blocks until released, recording the groups it was given."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.groups: list[list[int]] = []
        self.gate = threading.Event()
        self.fail_on = fail_on
        self.threads: set[str] = set()
        # Released separately: holds the failing write until the test has queued behind it.
        self.fail_gate = threading.Event()
        self.fail_gate.set()

    def __call__(self, jobs: Sequence[int]) -> int:
        self.threads.add(threading.current_thread().name)
        self.gate.wait(5)
        if self.fail_on is not None and self.fail_on in jobs:
            self.fail_gate.wait(5)
            raise OSError("disk full")
        self.groups.append(list(jobs))
        return len(jobs)


async def test_groups_what_queued_while_a_write_ran_and_keeps_order() -> None:
    write = _Slow()
    written: list[int] = []
    writer = BatchWriter(write, max_queued=10, on_written=written.append)
    await writer.put(1)  # starts a write at once
    for job in range(2, 6):
        await writer.put(job)  # queued behind the running write, no waiting
    write.gate.set()
    await writer.close()
    assert write.groups == [[1], [2, 3, 4, 5]]
    assert written == [1, 4]
    assert threading.main_thread().name not in write.threads


async def test_put_waits_when_the_queue_is_full() -> None:
    write = _Slow()
    writer = BatchWriter(write, max_queued=2)
    await writer.put(1)
    await writer.put(2)
    blocked = asyncio.ensure_future(writer.put(3))  # 2 queued: must wait for the write
    await asyncio.sleep(0.05)
    assert not blocked.done()
    write.gate.set()
    await asyncio.wait_for(blocked, 5)
    await writer.close()
    assert [j for g in write.groups for j in g] == [1, 2, 3]


async def test_a_failed_write_stops_later_writes_and_is_raised() -> None:
    write = _Slow(fail_on=2)
    write.fail_gate.clear()
    writer = BatchWriter(write, max_queued=2)
    await writer.put(1)
    await writer.put(2)  # queued behind the running write
    write.gate.set()
    await writer.put(3)  # full: waits for [1], then [2, 3] is written (and will fail)
    await writer.put(4)  # queued: the failure is not known yet
    write.fail_gate.set()
    with pytest.raises(OSError, match="disk full"):
        await writer.close()
    with pytest.raises(OSError):
        await writer.put(5)  # once known, every later call raises it
    assert write.groups == [[1]]  # 4 and 5 were never written after [2, 3] failed


async def test_close_writes_everything_queued() -> None:
    write = _Slow()
    write.gate.set()
    writer = BatchWriter(write, max_queued=3)
    for job in range(10):
        await writer.put(job)
    await writer.close()
    assert [j for g in write.groups for j in g] == list(range(10))
    await writer.close()  # idempotent


async def test_the_next_job_starts_as_soon_as_the_worker_is_free() -> None:
    # Not only when the queue fills up or at close: a finished write is noticed by the
    # next put, which hands over what is queued at once.
    write = _Slow()
    write.gate.set()
    writer = BatchWriter(write, max_queued=10)
    await writer.put(1)
    for _ in range(200):
        if write.groups == [[1]]:
            break
        await asyncio.sleep(0.005)
    await writer.put(2)
    for _ in range(200):
        if write.groups == [[1], [2]]:
            break
        await asyncio.sleep(0.005)
    assert write.groups == [[1], [2]]
    await writer.close()
