"""Pipelined UID FETCH batches with bounded buffering.

A first sync fetches thousands of messages in batches. Waiting for batch N before asking
for N+1 leaves the server idle while N is parsed and stored, and the client idle while the
server works: a 10,000-message first sync took 1.7-1.8 s with one batch requested ahead,
1.0-1.3 s with eight (bench/bench_sync.py, same machine and hour).
:class:`FetchPipeline` keeps up to ``ahead`` batches requested beyond the one being
consumed, so the server streams continuously, and bounds memory by flow control instead of
by request count: when the responses received for batches after the oldest unconsumed one
exceed ``max_buffered`` bytes, it stops reading the socket (TCP then stops the server)
until the consumer catches up.

No deadlock: servers answer pipelined commands in order, so bytes of a later batch arrive
only after the oldest batch's tagged response; whenever reading is paused, the batch the
consumer waits for next is already complete.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable

from ._client import FetchResult, ImapClient
from ._response import Response, Tagged, fetch_items

__all__ = ["FetchPipeline"]


def _retrieve(fut: asyncio.Future[Tagged]) -> None:
    if not fut.cancelled():
        fut.exception()


class _Batch:
    __slots__ = ("done", "nbytes", "result")

    def __init__(self, result: FetchResult) -> None:
        self.result = result
        self.nbytes = 0  # bytes of the responses received for this batch so far
        self.done: asyncio.Future[Tagged] | None = None


class FetchPipeline:
    """UID FETCH of ``uid_sets`` in order, ``ahead`` commands beyond the consumer's batch.

    Use as an async context manager; :meth:`next` returns each batch's result in order
    (raising ``CommandFailed`` for a NO/BAD). Leaving the block early drops what is still
    streaming in and resumes reading, so the connection can still be logged out.
    """

    def __init__(
        self,
        client: ImapClient,
        items: str,
        uid_sets: Iterable[str],
        *,
        ahead: int,
        max_buffered: int,
    ) -> None:
        self._client = client
        self._items = items.encode("ascii")
        self._todo = deque(uid_sets)
        self._ahead = max(0, ahead)
        self._max = max(1, max_buffered)
        self._queue: deque[_Batch] = deque()
        self._beyond_head = 0  # bytes received for the batches after the oldest queued one
        self._paused = False
        self._closed = False

    async def __aenter__(self) -> FetchPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def paused(self) -> bool:
        """Whether reading is paused because too much is buffered."""
        return self._paused

    @property
    def buffered_bytes(self) -> int:
        """Bytes received for the batches after the oldest one not yet returned."""
        return self._beyond_head

    async def next(self) -> FetchResult:
        """The next batch's result, once its tagged OK arrived.

        :raises IndexError: every batch was already returned.
        """
        await self._fill()
        if not self._queue:
            raise IndexError("no batch left")
        head = self._queue[0]
        assert head.done is not None
        await self._client.wait_ok(head.done, "UID FETCH")
        self._queue.popleft()
        if self._queue:
            self._beyond_head -= self._queue[0].nbytes
        if self._paused and self._beyond_head <= self._max // 2:
            self._paused = False
            self._client.resume_reading()
        await self._fill()  # keep the server busy while the caller works on this batch
        return head.result

    def close(self) -> None:
        """Drop whatever is still streaming in and make sure the socket is read again."""
        self._closed = True
        self._todo.clear()
        for batch in self._queue:
            batch.result.items.clear()
            if batch.done is not None:
                # Nobody awaits these any more: a lost connection must not log
                # "Future exception was never retrieved".
                batch.done.add_done_callback(_retrieve)
        self._queue.clear()
        if self._paused:
            self._paused = False
            self._client.resume_reading()

    async def _fill(self) -> None:
        while self._todo and len(self._queue) <= self._ahead and not self._closed:
            batch = _Batch(FetchResult())
            pieces = [b"UID", b"FETCH", self._todo.popleft().encode("ascii"), self._items]
            self._queue.append(batch)
            batch.done = await self._client.send(pieces, on_untagged=self._receiver(batch))

    def _receiver(self, batch: _Batch) -> Callable[[Response], None]:
        def on_untagged(resp: Response) -> None:
            if self._closed:
                return
            parsed = fetch_items(resp)
            if parsed is None:
                return  # e.g. an EXISTS announcing new mail: the next sync gets it
            batch.result.items.append(parsed)  # type: ignore[arg-type]
            size = 0
            for part in resp.parts:
                size += len(part)
            batch.nbytes += size
            if self._queue and self._queue[0] is not batch:
                self._beyond_head += size
                if not self._paused and self._beyond_head > self._max:
                    self._paused = True
                    self._client.pause_reading()

        return on_untagged
