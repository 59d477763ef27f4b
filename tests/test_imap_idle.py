"""IDLE (RFC 2177) on our client without a server: the exchange, its endings, its refusals.

The client's reader is fed the server's lines by hand; what the client wrote is read back
from a fake transport (the Dovecot tests in test_watch_dovecot.py cover the real thing).
"""

from __future__ import annotations

import asyncio

import pytest
from prx_email.mail.imap import CommandFailed, IdleEnd, IdleResult, ImapClient, idle, is_change
from prx_email.mail.imap._reader import ResponseReader


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True


def _client() -> tuple[ImapClient, ResponseReader, _Transport]:
    reader = ResponseReader()
    transport = _Transport()
    reader.connection_made(transport)
    return ImapClient(reader, frozenset({"IDLE"}), timeout=2.0), reader, transport


async def _idle(
    **kw: float,
) -> tuple[asyncio.Task[IdleResult], ResponseReader, _Transport]:
    """An ``idle()`` call running until the server's first answer (which the test feeds)."""
    client, reader, transport = _client()
    task = asyncio.create_task(idle(client, **kw))
    await _until_sent(transport, b"P1 IDLE\r\n")
    return task, reader, transport


async def _until_sent(transport: _Transport, data: bytes) -> None:
    for _ in range(200):
        if transport.sent.endswith(data):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{data!r} never sent; sent {bytes(transport.sent)!r}")


@pytest.mark.parametrize(
    ("line", "change"),
    [
        (b"* 4 EXISTS", True),
        (b"* 2 EXPUNGE", True),
        (b"* 1 FETCH (UID 7 FLAGS (\\Seen) MODSEQ (12))", True),
        (b"* VANISHED 3:5", True),
        (b"* 1 RECENT", False),
        (b"* OK Still here", False),
        (b"* BYE Server shutting down.", False),
        (b"* 4 EXISTSX", False),
    ],
)
def test_which_pushes_are_changes(line: bytes, change: bool) -> None:
    assert is_change(line) is change


async def test_a_push_ends_idle_with_done() -> None:
    task, reader, transport = await _idle(max_seconds=30, settle=0.01)
    reader.data_received(b"+ idling\r\n* OK Still here\r\n")
    await asyncio.sleep(0.05)
    assert not task.done() and b"DONE" not in transport.sent  # a keep-alive is no change
    reader.data_received(b"* 4 EXISTS\r\n* 1 RECENT\r\n")
    await _until_sent(transport, b"DONE\r\n")
    reader.data_received(b"* 5 EXISTS\r\nP1 OK Idle completed.\r\n")
    res = await task
    assert res.reason is IdleEnd.PUSH
    assert res.pushes == (b"* 4 EXISTS", b"* 5 EXISTS")  # what came before OK belongs too


async def test_the_limit_ends_idle_with_nothing_to_report() -> None:
    task, reader, transport = await _idle(max_seconds=0.05)
    reader.data_received(b"+ idling\r\n")
    await _until_sent(transport, b"DONE\r\n")
    reader.data_received(b"P1 OK Idle completed.\r\n")
    assert (await task).reason is IdleEnd.LIMIT


async def test_a_refused_idle_raises_and_sends_no_done() -> None:
    task, reader, transport = await _idle(max_seconds=30)
    reader.data_received(b"P1 BAD Unknown command\r\n")
    with pytest.raises(CommandFailed, match="IDLE failed: BAD"):
        await task
    assert b"DONE" not in transport.sent


async def test_a_change_reported_between_commands_wakes_at_once() -> None:
    client, reader, transport = _client()
    reader.data_received(b"* 9 EXISTS\r\n")  # no command pending: kept as unsolicited
    res = await idle(client, max_seconds=30)
    assert res.reason is IdleEnd.PUSH and res.pushes == (b"* 9 EXISTS",)
    assert transport.sent == b""  # no IDLE needed: the change is already known


async def test_a_dropped_connection_raises() -> None:
    task, reader, _ = await _idle(max_seconds=30)
    reader.data_received(b"+ idling\r\n")
    reader.connection_lost(None)
    with pytest.raises(ConnectionResetError):
        await task


async def test_cancelling_an_idle_still_sends_done() -> None:
    task, reader, transport = await _idle(max_seconds=30)
    reader.data_received(b"+ idling\r\n")
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transport.sent.endswith(b"DONE\r\n")  # so the LOGOUT that follows is understood


async def test_the_server_ending_idle_itself_is_no_push_and_gets_no_done() -> None:
    task, reader, transport = await _idle(max_seconds=30)
    reader.data_received(b"+ idling\r\nP1 OK Idle ended by the server\r\n")
    assert (await task).reason is IdleEnd.SERVER
    assert b"DONE" not in transport.sent  # a DONE now would be a stray command


async def test_a_push_then_the_server_ending_idle_sends_no_done() -> None:
    task, reader, transport = await _idle(max_seconds=30, settle=0.2)
    reader.data_received(b"+ idling\r\n* 3 EXPUNGE\r\n")
    await asyncio.sleep(0.02)
    reader.data_received(b"P1 OK Idle ended\r\n")  # within the settle time
    res = await task
    assert res.reason is IdleEnd.PUSH and res.pushes == (b"* 3 EXPUNGE",)
    assert b"DONE" not in transport.sent
