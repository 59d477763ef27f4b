"""prx_email._aio.cancel_and_wait: a task that loses its first cancellation still ends."""

from __future__ import annotations

import asyncio

from prx_email._aio import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                # What asyncio.wait_for on Python 3.11 can do when the reply lands at once.
                if swallowed < 2:
                    swallowed += 1
                    continue
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, every=0.05), 5)
    assert task.cancelled() and swallowed == 2


async def test_finished_tasks_keep_their_result_and_nothing_waits() -> None:
    async def quick() -> int:
        return 7

    done = asyncio.create_task(quick())
    await done
    await cancel_and_wait(done)
    assert done.result() == 7
