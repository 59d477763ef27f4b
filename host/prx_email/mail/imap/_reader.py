"""A literal-aware IMAP response reader: linear in the response size, no recursion.

aioimaplib's protocol re-joins every line of a pending FETCH to count parentheses
(quadratic in the response size) and recurses once per line (it hits the recursion limit
near 1,000 lines per response). :class:`ResponseReader` replaces it on the same transport
once the greeting (and STARTTLS) are done: it keeps one buffer with a read position, looks
for CRLF only where a line can end, and slices literals out by their announced size.

Commands are pipelined: untagged responses belong to the oldest command still waiting
(servers answer in order), a tagged response completes the command with that tag.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ._response import Response, Tagged

_CHANGE = re.compile(rb"\* (?:\d+ (?:EXISTS|EXPUNGE)|VANISHED)\b")
_READ_SIZE = 256 * 1024  # room offered to the transport per read (asyncio's SSL reads this)


@dataclass(slots=True)
class Pending:
    """A command on the wire, waiting for its tagged response."""

    tag: bytes
    done: asyncio.Future[Tagged]
    untagged: list[Response] = field(default_factory=list)
    on_untagged: Callable[[Response], None] | None = None
    continuation: asyncio.Future[bytes] | None = None
    on_continuation: Callable[[bytes], None] | None = None
    selects: bool = False  # SELECT/EXAMINE: its EXISTS is the snapshot, not a change


class ResponseReader(asyncio.BufferedProtocol):
    """The protocol object driving the IMAP transport after the greeting.

    A buffered protocol: the transport (asyncio's TLS layer included) decrypts straight
    into our buffer, instead of handing over a new ``bytes`` per TLS record that we would
    join and copy again (two copies of every fetched byte saved).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray(_READ_SIZE)
        self._pos = 0  # parsed up to here
        self._end = 0  # received up to here
        self._parts: list[bytes] = []
        self._literal_need = -1  # size of the literal being read, -1 when reading a line
        self._pending: deque[Pending] = deque()
        self._lost: BaseException | None = None
        self.last_activity = time.monotonic()
        self.unsolicited: list[Response] = []
        # A change (EXISTS, EXPUNGE, VANISHED) the server reported inside another command's
        # answer: that command consumed it, and a later IDLE would not hear of it again.
        self.changed = False

    # -- asyncio.BufferedProtocol ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        want = max(sizehint, _READ_SIZE)
        if len(self._buf) - self._end < want:
            # A new buffer rather than resizing this one: the transport may still hold a
            # view of it, and a bytearray with exported views cannot be resized.
            kept = self._end - self._pos
            new = bytearray(max(2 * (kept + want), _READ_SIZE))
            new[:kept] = memoryview(self._buf)[self._pos : self._end]
            self._buf, self._pos, self._end = new, 0, kept
        # At most ``want``: one read never swallows more than that past a pause_reading().
        return memoryview(self._buf)[self._end : self._end + want]

    def buffer_updated(self, nbytes: int) -> None:
        self.last_activity = time.monotonic()
        self._end += nbytes
        try:
            self._consume()
        except Exception as exc:  # a parse failure poisons the connection, not the loop
            self._fail(exc)
            if self.transport is not None:
                self.transport.abort()

    def data_received(self, data: bytes) -> None:
        """Feed ``data`` as if the transport had read it (tests, unbuffered transports)."""
        size = len(data)
        with self.get_buffer(size) as view:
            view[:size] = data
        self.buffer_updated(size)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("the IMAP server closed the connection"))

    # -- parsing ---------------------------------------------------------------------------
    def _consume(self) -> None:
        buf = self._buf
        pos = self._pos
        size = self._end
        # Slices of a memoryview copy once (bytes(buf[a:b]) copies twice: bytearray, bytes).
        view = memoryview(buf)
        try:
            while True:
                if self._literal_need >= 0:
                    end = pos + self._literal_need
                    if end > size:
                        break
                    self._parts.append(bytes(view[pos:end]))
                    self._literal_need = -1
                    pos = end
                    continue
                eol = buf.find(b"\r\n", pos, size)
                if eol < 0:
                    break
                line = bytes(view[pos:eol])
                pos = eol + 2
                self._parts.append(line)
                if line.endswith(b"}"):
                    # ``{n}`` / ``{n+}`` at the end: rfind instead of a regex search, which
                    # tries every offset of the line (same as re.search(rb"\{(\d+)\+?\}$")).
                    brace = line.rfind(b"{")
                    digits = line[brace + 1 : -1] if brace >= 0 else b""
                    if digits.endswith(b"+"):
                        digits = digits[:-1]
                    if digits.isdigit():
                        need = int(digits)
                        end = pos + need
                        if end + 3 <= size and buf[end : end + 3] == b")\r\n":
                            # The usual FETCH response, literal and closing line already
                            # buffered: one pass instead of three (a third of the reader).
                            self._parts.append(bytes(view[pos:end]))
                            self._parts.append(b")")
                            pos = end + 3
                        else:
                            self._literal_need = need
                            continue
                parts = self._parts
                self._parts = []
                self._dispatch(parts)
        finally:
            view.release()
            # Keep the position even when a dispatch raised (the caller aborts anyway).
            self._pos = pos
        if pos == size:
            self._pos = self._end = 0  # all parsed: reuse the buffer from its start

    def _dispatch(self, parts: list[bytes]) -> None:
        first = parts[0]
        if first.startswith(b"* "):
            resp = Response(parts)
            if self._pending:
                head = self._pending[0]
                if not head.selects and _CHANGE.match(first):
                    self.changed = True
                if head.on_untagged is not None:
                    head.on_untagged(resp)
                else:
                    head.untagged.append(resp)
            else:
                self.unsolicited.append(resp)
            return
        if first.startswith(b"+"):
            for p in self._pending:
                if p.continuation is not None and not p.continuation.done():
                    p.continuation.set_result(first[2:])
                    return
                if p.on_continuation is not None:
                    p.on_continuation(first[2:])
                    return
            return
        tag, _, rest = first.partition(b" ")
        status, _, text = rest.partition(b" ")
        for p in self._pending:
            if p.tag == tag:
                self._pending.remove(p)
                if not p.done.done():
                    p.done.set_result(Tagged(status.decode("ascii", "replace"), text, p.untagged))
                return
        # A tagged response for nobody: ignore (e.g. the answer to a cancelled command).

    def _fail(self, exc: BaseException) -> None:
        self._lost = exc
        while self._pending:
            p = self._pending.popleft()
            if not p.done.done():
                p.done.set_exception(exc)
            if p.continuation is not None and not p.continuation.done():
                p.continuation.set_exception(exc)

    @property
    def is_open(self) -> bool:
        """Not lost, not closing, and no command waiting for its answer."""
        t = self.transport
        return self._lost is None and t is not None and not t.is_closing() and not self._pending

    # -- sending ---------------------------------------------------------------------------
    def register(self, tag: bytes) -> Pending:
        if self._lost is not None:
            raise ConnectionResetError("the IMAP connection is closed") from self._lost
        loop = asyncio.get_running_loop()
        p = Pending(tag, loop.create_future())
        self._pending.append(p)
        return p

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the IMAP connection is closed")
        self.transport.write(data)

    def pause_reading(self) -> None:
        """Stop reading the socket (flow control: the server blocks once TCP buffers fill)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def take_over(self, transport: asyncio.Transport) -> None:
        """Become the protocol of an open transport (after greeting/STARTTLS)."""
        transport.set_protocol(self)
        self.transport = transport
