"""IMAP wire pieces without a server: quoting, mailbox names, response parsing, the reader."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prx_email.errors import InvalidArgument
from prx_email.mail.imap import (
    Literal,
    astring,
    decode_mailbox,
    encode_mailbox,
    format_uid_set,
    mailbox,
    parse_uid_set,
    quoted,
)
from prx_email.mail.imap._reader import ResponseReader
from prx_email.mail.imap._response import Response, fetch_items, parse_values

_UNQUOTE = re.compile(rb'^"((?:[^"\\]|\\["\\])*)"$')


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_quoted_round_trip_and_stays_one_token(text: str) -> None:
    q = quoted(text)
    m = _UNQUOTE.match(q)
    assert m is not None, q  # one quoted string: no bare quote can end it early
    assert m.group(1).replace(b'\\"', b'"').replace(b"\\\\", b"\\").decode() == text


@given(st.text())
def test_astring_never_lets_line_breaks_through(text: str) -> None:
    if any(c in text for c in "\r\n\x00"):
        with pytest.raises(InvalidArgument):
            astring(text)
        return
    out = astring(text)
    if isinstance(out, Literal):
        assert out.data == text.encode("utf-8")
        assert not text.isascii() or any(not 0x20 <= ord(c) <= 0x7E for c in text)
    else:
        assert b"\r" not in out and b"\n" not in out


@pytest.mark.parametrize("bad", ['x"\r\nA1 DELETE INBOX', "a\nb", "nul\x00", "cr\r"])
def test_control_characters_rejected(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        astring(bad)
    with pytest.raises(InvalidArgument):
        mailbox(bad)


def test_injection_attempt_is_one_quoted_string() -> None:
    assert astring('foo" OR ALL') == b'"foo\\" OR ALL"'
    assert astring("back\\slash") == b'"back\\\\slash"'


@given(st.text(min_size=1).filter(lambda s: not any(c in s for c in "\r\n\x00")))
def test_mailbox_utf7_round_trip(name: str) -> None:
    enc = encode_mailbox(name)
    assert enc.isascii()
    assert decode_mailbox(enc) == name


def test_mailbox_utf7_known_values() -> None:
    assert encode_mailbox("Entwürfe") == "Entw&APw-rfe"
    assert encode_mailbox("A&B") == "A&-B"
    assert encode_mailbox("日本語") == "&ZeVnLIqe-"


@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=200))
def test_uid_set_round_trip(uids: list[int]) -> None:
    assert parse_uid_set(format_uid_set(uids).encode()) == sorted(set(uids))


def test_fetch_items_with_literal_quoted_nil_and_sections() -> None:
    body = b'Subject: x\r\n\r\n(unbalanced ( parens " quote\r\n'
    parts = [
        b"* 12 FETCH (UID 7 FLAGS (\\Seen $Label) RFC822.SIZE 55 MODSEQ (9) "
        b'X-GM "q\\"uoted" NIL-ISH NIL BODY[HEADER.FIELDS (FROM TO)] {3}',
        b"abc",
        b" BODY[] {%d}" % len(body),
        body,
        b")",
    ]
    items = fetch_items(Response(parts))
    assert items is not None
    assert items[b"UID"] == 7 and items[b"FLAGS"] == [b"\\Seen", b"$Label"]
    assert items[b"RFC822.SIZE"] == 55 and items[b"MODSEQ"] == [9]
    assert items[b"X-GM"] == b'q"uoted' and items[b"NIL-ISH"] is None
    assert items[b"BODY[HEADER.FIELDS (FROM TO)]"] == b"abc"
    assert items[b"BODY[]"] == body


def test_parse_values_non_fetch() -> None:
    assert parse_values([b'* LIST (\\HasNoChildren) "." "INBOX"'], 7) == [
        [b"\\HasNoChildren"],
        b".",
        b"INBOX",
    ]


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False


def _fetch_stream(n: int, size: int = 300) -> bytes:
    out = bytearray()
    for i in range(1, n + 1):
        body = (b"line %d\r\n" % i) * (size // 10)
        out += b"* %d FETCH (UID %d FLAGS () BODY[] {%d}\r\n" % (i, i, len(body))
        out += body + b")\r\n"
    out += b"P1 OK done\r\n"
    return bytes(out)


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
async def test_reader_handles_any_chunking(chunk: int) -> None:
    reader = ResponseReader()
    reader.connection_made(_Transport())
    pending = reader.register(b"P1")
    got: list[Response] = []
    pending.on_untagged = got.append
    data = _fetch_stream(50)
    for i in range(0, len(data), chunk):
        reader.data_received(data[i : i + chunk])
    tagged = await pending.done
    assert tagged.status == "OK" and len(got) == 50
    items = [fetch_items(r) for r in got]
    assert [it[b"UID"] for it in items if it] == list(range(1, 51))
    assert all(it and it[b"BODY[]"].startswith(b"line ") for it in items)


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
async def test_reader_literal_forms(chunk: int) -> None:
    """``{n+}`` is a literal; ``{x}``, ``{}`` and a brace mid-line are not; empty literals."""
    reader = ResponseReader()
    reader.connection_made(_Transport())
    pending = reader.register(b"P1")
    got: list[Response] = []
    pending.on_untagged = got.append
    data = (
        b"* 1 FETCH (UID 1 BODY[] {3+}\r\nabc)\r\n"
        b"* 2 FETCH (UID 2 BODY[] {0}\r\n)\r\n"
        b"* OK weird {x}\r\n"
        b"* OK empty {}\r\n"
        b"* OK {5} not at the end\r\n"
        b"P1 OK done\r\n"
    )
    for i in range(0, len(data), chunk):
        reader.data_received(data[i : i + chunk])
    await pending.done
    assert [r.parts for r in got] == [
        [b"* 1 FETCH (UID 1 BODY[] {3+}", b"abc", b")"],
        [b"* 2 FETCH (UID 2 BODY[] {0}", b"", b")"],
        [b"* OK weird {x}"],
        [b"* OK empty {}"],
        [b"* OK {5} not at the end"],
    ]


async def test_reader_many_lines_per_response_no_recursion() -> None:
    """aioimaplib recurses once per line; the reader is a loop (10,000 lines, low limit)."""
    reader = ResponseReader()
    reader.connection_made(_Transport())
    pending = reader.register(b"P1")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        reader.data_received(_fetch_stream(10_000, size=40))
    finally:
        sys.setrecursionlimit(old)
    tagged = await pending.done
    assert len(tagged.untagged) == 10_000


async def test_reader_pipelines_and_fails_pending_on_close() -> None:
    reader = ResponseReader()
    reader.connection_made(_Transport())
    a, b = reader.register(b"A"), reader.register(b"B")
    reader.data_received(b"* SEARCH 1 2\r\nA OK\r\n* SEARCH 3\r\n")
    assert (await a.done).untagged[0].line == b"* SEARCH 1 2"
    reader.connection_lost(None)
    with pytest.raises(ConnectionResetError):
        await b.done


@given(
    st.integers(min_value=1, max_value=2**32 - 1),
    st.lists(st.sampled_from([b"\\Seen", b"\\Flagged", b"$Label1", b"\\Answered"]), max_size=4),
    st.binary(max_size=200),
    st.booleans(),
)
def test_fast_fetch_path_agrees_with_tokenizer(
    uid: int, flags: list[bytes], body: bytes, with_size: bool
) -> None:
    from prx_email.mail.imap import _response

    size = b" RFC822.SIZE %d" % len(body) if with_size else b""
    head = b"* 3 FETCH (UID %d FLAGS (%s)%s BODY[] {%d}" % (
        uid,
        b" ".join(flags),
        size,
        len(body),
    )
    resp = Response([head, body, b")"])
    fast = fetch_items(resp)
    m = _response._FETCH_HEAD.match(head)
    assert m is not None
    values = parse_values(resp.parts, m.end())[0]
    assert isinstance(values, list)
    slow = {values[i].upper(): values[i + 1] for i in range(0, len(values), 2)}  # type: ignore[union-attr]
    assert fast == slow
    assert _response._FAST_FETCH.match(head) is not None  # the fast path took it


# --- FetchPipeline: pipelined batches with flow control ---------------------------------


class _FetchServer:
    """A loopback IMAP-ish server answering ``UID FETCH a:b`` with bodies of ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.commands: list[bytes] = []
        self.fail_at = b""  # the first UID of a set answered with NO
        self.interleave = False  # answer two commands at once, their responses mixed

    def _fetch(self, uid: int) -> bytes:
        body = bytes([65 + uid % 26]) * self.size
        return b"* %d FETCH (UID %d FLAGS () BODY[] {%d}\r\n%s)\r\n" % (uid, uid, len(body), body)

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await self._serve(r, w)
        except ConnectionError:
            pass  # the client went away mid-stream
        finally:
            w.close()

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if self.interleave:
            await self._serve_interleaved(r, w)
            return
        while line := await r.readline():
            self.commands.append(line)
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            m = re.match(rb"UID FETCH (\d+):(\d+) ", rest)
            if m is None:
                w.write(tag + b" NO unexpected\r\n")
                continue
            if m.group(1) == self.fail_at:
                w.write(tag + b" NO [SERVERBUG] failed\r\n")
                continue
            for uid in range(int(m.group(1)), int(m.group(2)) + 1):
                w.write(self._fetch(uid))
                await w.drain()  # blocks once the client stops reading: TCP backpressure
            w.write(tag + b" OK done\r\n")
            await w.drain()

    async def _serve_interleaved(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        # As a server running pipelined commands concurrently (RFC 3501 5.5): the responses
        # of two UID FETCHes alternate, each tagged OK after its own responses.
        while True:
            lines = [await r.readline(), await r.readline()]
            if not all(lines):
                return
            self.commands += lines
            jobs = []
            for line in lines:
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                m = re.match(rb"UID FETCH (\d+):(\d+) ", rest)
                assert m is not None
                jobs.append((tag, list(range(int(m.group(1)), int(m.group(2)) + 1))))
            (tag_a, a), (tag_b, b) = jobs
            for k in range(max(len(a), len(b))):
                for uids, tag in ((a, tag_a), (b, tag_b)):
                    if k < len(uids):
                        w.write(self._fetch(uids[k]))
                    if k == len(uids) - 1:
                        w.write(tag + b" OK done\r\n")
                await w.drain()


@contextlib.asynccontextmanager
async def _pipeline_client(size: int) -> AsyncIterator[tuple[_FetchServer, Any]]:
    from prx_email.mail.imap import ImapClient

    fake = _FetchServer(size)
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_connection(ResponseReader, "127.0.0.1", port)
    try:
        yield fake, ImapClient(reader, frozenset(), timeout=5.0)
    finally:
        transport.close()
        server.close()
        await server.wait_closed()
        for _ in range(5):  # let the handler see the close and close its side
            await asyncio.sleep(0.01)


async def test_pipeline_returns_batches_in_order_and_keeps_commands_ahead() -> None:
    from prx_email.mail.imap import FetchPipeline

    sets = [list(range(a, a + 10)) for a in range(1, 101, 10)]
    async with (
        _pipeline_client(100) as (fake, client),
        FetchPipeline(client, "(UID BODY.PEEK[])", sets, ahead=3, max_buffered=1 << 20) as pipe,
    ):
        first = await pipe.next()
        # The first batch came back with three more already on the wire.
        assert len(fake.commands) == 4
        uids = [it[b"UID"] for it in first.items]
        for _ in range(9):
            uids += [it[b"UID"] for it in (await pipe.next()).items]
        assert uids == list(range(1, 101))
        with pytest.raises(IndexError):
            await pipe.next()


async def test_pipeline_pauses_reading_beyond_its_budget_and_finishes() -> None:
    from prx_email.mail.imap import FetchPipeline

    sets = [list(range(a, a + 10)) for a in range(1, 201, 10)]  # 20 batches of ~200 KB
    budget = 100_000
    async with (
        _pipeline_client(20_000) as (_fake, client),
        FetchPipeline(client, "(UID BODY.PEEK[])", sets, ahead=19, max_buffered=budget) as pipe,
    ):
        got: list[int] = []
        paused_seen = False
        for _ in sets:
            result = await pipe.next()
            got += [it[b"UID"] for it in result.items]
            await asyncio.sleep(0.02)  # a slow consumer: the server is far ahead
            paused_seen = paused_seen or pipe.paused
            # Never more than the budget plus the one chunk being dispatched when it hit.
            assert pipe.buffered_bytes <= budget + 300_000
        assert got == list(range(1, 201))
        assert paused_seen


async def test_pipeline_failure_and_early_exit_leave_the_connection_usable() -> None:
    from prx_email.mail.imap import CommandFailed, FetchPipeline

    async with _pipeline_client(20_000) as (fake, client):
        fake.fail_at = b"11"
        sets = [list(range(a, a + 10)) for a in (1, 11, 21, 31)]
        with pytest.raises(CommandFailed):
            async with FetchPipeline(
                client, "(UID BODY.PEEK[])", sets, ahead=3, max_buffered=10_000
            ) as pipe:
                await pipe.next()
                await pipe.next()
        # Everything still streaming was dropped and reading resumed: a new command works.
        again = FetchPipeline(client, "(UID BODY.PEEK[])", [[41, 42]], ahead=0, max_buffered=1)
        result = await again.next()
        assert [it[b"UID"] for it in result.items] == [41, 42]


@pytest.mark.parametrize("budget", [1, 1 << 20])
async def test_pipeline_routes_interleaved_responses_by_uid(budget: int) -> None:
    # Dovecot runs pipelined FETCHes concurrently: "the oldest command" is not where a
    # response belongs. Each batch must get exactly its own UIDs, and a tiny budget must
    # not pause reading while the awaited batch is still incomplete (that would hang).
    from prx_email.mail.imap import FetchPipeline

    async with _pipeline_client(5_000) as (fake, client):
        fake.interleave = True
        batches = [list(range(a, a + 8)) for a in range(1, 81, 8)]
        async with FetchPipeline(
            client, "(UID BODY.PEEK[])", batches, ahead=1, max_buffered=budget
        ) as pipe:
            for batch in batches:
                result = await asyncio.wait_for(pipe.next(), 10)
                assert [it[b"UID"] for it in result.items] == batch
