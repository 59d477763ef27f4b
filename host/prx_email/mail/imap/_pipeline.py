"""Pipelined UID FETCH batches with bounded buffering.

A first sync fetches thousands of messages in batches. Waiting for batch N before asking
for N+1 leaves the server idle while N is parsed and stored, and the client idle while the
server works: a 10,000-message first sync took 1.7-1.8 s with one batch requested ahead,
1.0-1.3 s with eight (bench/bench_sync.py, same machine and hour). :class:`FetchPipeline`
keeps up to ``ahead`` batches requested beyond the one being consumed, so the server
streams continuously, and bounds memory by flow control: when the responses received for
batches after the oldest unconsumed one exceed ``max_buffered`` bytes, it stops reading the
socket (TCP then stops the server) until the consumer catches up.

Servers may run pipelined commands concurrently (RFC 3501 section 5.5; Dovecot does, for
FETCH), so their untagged responses interleave: each response goes to the batch that asked
for its UID, never to "the oldest command". A command's tagged OK still follows all of its
own responses. Reading is paused only while the batch the consumer waits for is complete,
so pausing can never withhold what it waits for.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence

from ._client import FetchResult, ImapClient
from ._response import Response, Tagged, fetch_items, format_uid_set

__all__ = ["FetchPipeline"]


def _retrieve(fut: asyncio.Future[Tagged]) -> None:
    if not fut.cancelled():
        fut.exception()


class _Batch:
    __slots__ = ("done", "nbytes", "result", "uids")

    def __init__(self, uids: Sequence[int]) -> None:
        self.uids = uids
        self.result = FetchResult()
        self.nbytes = 0  # bytes of the responses received for this batch so far
        self.done: asyncio.Future[Tagged] | None = None


class FetchPipeline:
    """UID FETCH of ``batches`` in order, ``ahead`` commands beyond the consumer's batch.

    Use as an async context manager; :meth:`next` returns each batch's result in order
    (raising ``CommandFailed`` for a NO/BAD). Leaving the block early drops what is still
    streaming in and resumes reading, so the connection can still be logged out.
    """

    def __init__(
        self,
        client: ImapClient,
        items: str,
        batches: Iterable[Sequence[int]],
        *,
        ahead: int,
        max_buffered: int,
    ) -> None:
        self._client = client
        self._items = items.encode("ascii")
        self._todo = deque(_Batch(uids) for uids in batches if uids)
        self._ahead = max(0, ahead)
        self._max = max(1, max_buffered)
        self._queue: deque[_Batch] = deque()  # sent, not yet returned, oldest first
        self._owner: dict[int, _Batch] = {}  # UID -> its batch, for the batches sent
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
        for uid in head.uids:
            self._owner.pop(uid, None)
        if self._queue:
            self._beyond_head -= self._queue[0].nbytes
        if self._paused and (self._beyond_head <= self._max // 2 or not self._head_complete()):
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
        self._owner.clear()
        if self._paused:
            self._paused = False
            self._client.resume_reading()

    def _head_complete(self) -> bool:
        done = self._queue[0].done if self._queue else None
        return done is not None and done.done()

    async def _fill(self) -> None:
        while self._todo and len(self._queue) <= self._ahead and not self._closed:
            batch = self._todo.popleft()
            for uid in batch.uids:
                self._owner[uid] = batch
            self._queue.append(batch)
            uid_set = format_uid_set(list(batch.uids)).encode("ascii")
            pieces = [b"UID", b"FETCH", uid_set, self._items]
            batch.done = await self._client.send(pieces, on_untagged=self._route)

    def _route(self, resp: Response) -> None:
        if self._closed:
            return
        parsed = fetch_items(resp)
        if parsed is None:
            return  # e.g. an EXISTS announcing new mail: the next sync gets it
        uid = parsed.get(b"UID")
        batch = self._owner.get(uid) if isinstance(uid, int) else None
        if batch is None:
            return  # an unsolicited update of a message not fetched here
        batch.result.items.append(parsed)  # type: ignore[arg-type]
        size = sum(map(len, resp.parts))
        batch.nbytes += size
        if self._queue and self._queue[0] is not batch:
            self._beyond_head += size
            if not self._paused and self._beyond_head > self._max and self._head_complete():
                self._paused = True
                self._client.pause_reading()
