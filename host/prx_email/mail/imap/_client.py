"""The IMAP session the sync service uses: login, SELECT, UID FETCH/SEARCH, pipelining.

:func:`connect` returns a logged-in :class:`ImapClient`. Every command is built from
``bytes`` pieces and :class:`Literal` values (see ``_quote``), so user text can reach the
wire only quoted or as a literal.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...auth.credentials import Credential, Password
from ...config.model import ServerConfig
from ...errors import AuthFailed, FolderNotFound, ProtocolError
from .._closing import abort_and_wait
from ._connect import open_transport
from ._quote import Arg, Literal, astring, check_text, decode_mailbox, mailbox
from ._reader import ResponseReader
from ._response import Response, Tagged, fetch_items, parse_uid_set, parse_values

_CAPS = re.compile(rb"\[CAPABILITY ([^\]]*)\]")
_CODE_NUM = re.compile(rb"\* OK \[(UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ) (\d+)\]")
_EXISTS = re.compile(rb"\* (\d+) EXISTS")
_VANISHED = re.compile(rb"\* VANISHED (?:\(EARLIER\) )?([0-9:,]+)")


class CommandFailed(Exception):
    """A tagged NO/BAD; mapped by ``mail.errors`` (or by the caller) to our errors."""

    def __init__(self, command: str, tagged: Tagged) -> None:
        super().__init__(
            f"{command} failed: {tagged.status} {tagged.text.decode(errors='replace')}"
        )
        self.command = command
        self.tagged = tagged


@dataclass(frozen=True, slots=True)
class SelectInfo:
    """What SELECT or EXAMINE reported about a mailbox (RFC 3501 6.3.1, RFC 7162 3.1)."""

    uidvalidity: int
    uidnext: int | None
    exists: int
    highestmodseq: int | None  # None: no CONDSTORE for this mailbox
    vanished: tuple[int, ...] = ()


@dataclass(slots=True)
class FetchResult:
    """The untagged FETCH items (and QRESYNC VANISHED UIDs) of one UID FETCH, filled as read."""

    items: list[dict[bytes, object]] = field(default_factory=list)
    vanished: list[int] = field(default_factory=list)


class ImapClient:
    """A logged-in IMAP connection."""

    def __init__(self, reader: ResponseReader, caps: frozenset[str], timeout: float) -> None:
        self._r = reader
        self.capabilities = caps
        self.timeout = timeout
        self._tagnum = 0
        self.selected: str | None = None
        self.enabled: frozenset[str] = frozenset()

    @property
    def is_open(self) -> bool:
        """Whether the connection is idle and sound: fit to carry the next command."""
        return self._r.is_open

    # -- low level -------------------------------------------------------------------------
    def _next_tag(self) -> bytes:
        self._tagnum += 1
        return b"P%d" % self._tagnum

    @property
    def literal_plus(self) -> bool:
        return "LITERAL+" in self.capabilities

    async def send(
        self,
        pieces: Sequence[Arg],
        *,
        on_untagged: Callable[[Response], None] | None = None,
        on_continuation: Callable[[bytes], None] | None = None,
    ) -> asyncio.Future[Tagged]:
        """Put one command on the wire; returns the future of its tagged response."""
        tag = self._next_tag()
        pending = self._r.register(tag)
        pending.on_untagged = on_untagged
        pending.on_continuation = on_continuation
        pending.selects = pieces[0] in (b"SELECT", b"EXAMINE")
        chunk = bytearray(tag)
        for piece in pieces:
            chunk += b" "
            if isinstance(piece, Literal):
                sync = not self.literal_plus
                chunk += b"{%d%s}\r\n" % (len(piece.data), b"" if sync else b"+")
                if sync:
                    loop = asyncio.get_running_loop()
                    pending.continuation = loop.create_future()
                    self._r.write(bytes(chunk))
                    chunk.clear()
                    await self._wait(pending.continuation)
                    pending.continuation = None
                chunk += piece.data
            else:
                chunk += piece
        chunk += b"\r\n"
        self._r.write(bytes(chunk))
        return pending.done

    def write_raw(self, data: bytes) -> None:
        """Bytes that are not a command (IDLE's ``DONE``); the caller owns the framing."""
        self._r.write(data)

    def keepalive(self, idle_seconds: int = 60, interval: int = 15, count: int = 4) -> bool:
        """TCP keepalives on the socket: a peer gone silently (a NAT that forgot us, a pulled
        cable) fails the connection within minutes, not at the next IDLE re-issue.

        Returns whether the options could be set (not on every platform or transport).
        """
        sock = self._r.transport.get_extra_info("socket") if self._r.transport else None
        if sock is None:
            return False
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in (
                ("TCP_KEEPIDLE", idle_seconds),
                ("TCP_KEEPINTVL", interval),
                ("TCP_KEEPCNT", count),
            ):
                if hasattr(socket, name):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        except OSError:
            return False
        return True

    def take_unsolicited(self) -> list[Response]:
        """Responses that arrived while no command was pending (then forgotten here)."""
        taken, self._r.unsolicited = self._r.unsolicited, []
        return taken

    def take_changed(self) -> bool:
        """Whether a change was reported inside a command's answer since the last call."""
        changed, self._r.changed = self._r.changed, False
        return changed

    def pause_reading(self) -> None:
        """Flow control for pipelined commands (see ``FetchPipeline``)."""
        self._r.pause_reading()

    def resume_reading(self) -> None:
        self._r.resume_reading()

    async def _wait(self, fut: asyncio.Future[Any]) -> Any:
        """Wait with an *inactivity* timeout: a long FETCH that keeps streaming is fine."""
        while True:
            started = time.monotonic()
            try:
                return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
            except TimeoutError:
                if self._r.last_activity > started:
                    continue
                fut.cancel()
                raise

    async def command(
        self,
        pieces: Sequence[Arg],
        *,
        on_untagged: Callable[[Response], None] | None = None,
        name: str | None = None,
    ) -> Tagged:
        fut = await self.send(pieces, on_untagged=on_untagged)
        return await self.wait_ok(fut, name or pieces[0].decode())  # type: ignore[union-attr]

    async def wait_ok(self, fut: asyncio.Future[Tagged], name: str) -> Tagged:
        tagged = await self._wait(fut)
        assert isinstance(tagged, Tagged)
        if tagged.status != "OK":
            raise CommandFailed(name, tagged)
        return tagged

    # -- session ---------------------------------------------------------------------------
    async def login(self, cred: Credential) -> None:
        """LOGIN or AUTHENTICATE XOAUTH2.

        :raises AuthFailed: the server rejected the credential (no secret in the message).
        """
        if isinstance(cred, Password):
            pieces: list[Arg] = [
                b"LOGIN",
                astring(cred.username, "username"),
                astring(cred.password, "password"),
            ]
            fut = await self.send(pieces)
        else:
            check_text(cred.username, "username")
            check_text(cred.access_token, "access token")
            sasl = f"user={cred.username}\x01auth=Bearer {cred.access_token}\x01\x01"
            b64 = base64.b64encode(sasl.encode("utf-8"))
            initial = "SASL-IR" in self.capabilities
            replies = [] if initial else [b64]

            def on_continuation(_challenge: bytes) -> None:
                # Without SASL-IR the first "+" asks for the token; after a failure XOAUTH2
                # servers send a challenge with error details and wait for an empty reply.
                self._r.write((replies.pop(0) if replies else b"") + b"\r\n")

            pieces = [b"AUTHENTICATE", b"XOAUTH2"]
            if initial:
                pieces.append(b64)
            fut = await self.send(pieces, on_continuation=on_continuation)
        tagged = await self._wait(fut)
        assert isinstance(tagged, Tagged)
        if tagged.status != "OK":
            password = isinstance(cred, Password)
            mech = "password" if password else "OAuth2 token"
            reason = tagged.text.decode("utf-8", "replace")
            raise AuthFailed(
                f"the IMAP server rejected the {mech} for {cred.username}: {reason}",
                hint="check the username and the password source in the config"
                if password
                else "refresh the token with `prx-email oauth bootstrap` or check its scopes",
            )
        m = _CAPS.search(tagged.text)
        if m:
            self.capabilities = frozenset(m.group(1).decode("ascii").upper().split())
        else:
            await self.refresh_capabilities()

    async def refresh_capabilities(self) -> None:
        tagged = await self.command([b"CAPABILITY"])
        for resp in tagged.untagged:
            if resp.line.startswith(b"* CAPABILITY "):
                self.capabilities = frozenset(resp.line[13:].decode("ascii").upper().split())

    async def enable(self, *caps: str) -> frozenset[str]:
        """ENABLE the offered ones among ``caps`` (RFC 5161); returns what is now enabled."""
        wanted = [c for c in caps if c.upper() in self.capabilities]
        if wanted and "ENABLE" in self.capabilities:
            tagged = await self.command([b"ENABLE", *(c.encode("ascii") for c in wanted)])
            for resp in tagged.untagged:
                if resp.line.startswith(b"* ENABLED"):
                    self.enabled |= frozenset(resp.line[9:].decode("ascii").upper().split())
        return self.enabled

    async def select(
        self, folder: str, *, readonly: bool = True, condstore: bool = True
    ) -> SelectInfo:
        """EXAMINE (or SELECT) a folder.

        :raises FolderNotFound: the server says the folder does not exist.
        """
        verb = b"EXAMINE" if readonly else b"SELECT"
        pieces: list[Arg] = [verb, mailbox(folder)]
        if condstore and "CONDSTORE" in self.capabilities:
            pieces.append(b"(CONDSTORE)")
        try:
            tagged = await self.command(pieces)
        except CommandFailed as exc:
            if exc.tagged.status == "NO":
                raise FolderNotFound(
                    f"folder {folder!r} does not exist on the server",
                    hint="check the folder name (case matters except for INBOX); "
                    "the account's folders are listed by `prx-email call email.accounts`",
                ) from exc
            raise
        self.selected = folder
        return _select_info(tagged.untagged)

    async def list_folders(self) -> list[str]:
        tagged = await self.command([b"LIST", b'""', b'"*"'])
        out: list[str] = []
        for resp in tagged.untagged:
            if resp.line.startswith(b"* LIST "):
                vals = parse_values(resp.parts, 7)
                name = vals[-1] if vals else None
                if isinstance(name, int):
                    name = str(name).encode()
                if isinstance(name, bytes):
                    out.append(decode_mailbox(name.decode("utf-8", "replace")))
        return out

    async def uid_fetch(
        self,
        uid_set: str,
        items: str,
        *,
        changedsince: int | None = None,
        vanished: bool = False,
    ) -> FetchResult:
        """One UID FETCH, awaited (pipelined batches: ``FetchPipeline``)."""
        result = FetchResult()
        pieces: list[Arg] = [b"UID", b"FETCH", uid_set.encode("ascii"), items.encode("ascii")]
        if changedsince is not None:
            mod = b"(CHANGEDSINCE %d%s)" % (changedsince, b" VANISHED" if vanished else b"")
            pieces.append(mod)

        def on_untagged(resp: Response) -> None:
            parsed = fetch_items(resp)
            if parsed is not None:
                result.items.append(parsed)  # type: ignore[arg-type]
                return
            m = _VANISHED.match(resp.line)
            if m:
                result.vanished.extend(parse_uid_set(m.group(1)))

        fut = await self.send(pieces, on_untagged=on_untagged)
        await self.wait_ok(fut, "UID FETCH")
        return result

    async def uid_search(self, criteria: Sequence[Arg], *, charset: str | None = None) -> list[int]:
        pieces: list[Arg] = [b"UID", b"SEARCH"]
        if charset:
            pieces += [b"CHARSET", charset.encode("ascii")]
        pieces += list(criteria)
        tagged = await self.command(pieces, name="UID SEARCH")
        uids: list[int] = []
        for resp in tagged.untagged:
            if resp.line.startswith(b"* SEARCH"):
                for tok in resp.line[8:].split():
                    if tok.isdigit():
                        uids.append(int(tok))
                    else:
                        break  # "(MODSEQ n)" trailer
        return uids

    async def logout(self) -> None:
        """LOGOUT (best effort, short wait) and close; returns once the socket is released."""
        try:
            fut = await self.send([b"LOGOUT"])
            await asyncio.wait_for(asyncio.shield(fut), 2.0)
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        """Drop the connection (after LOGOUT or a failure: nothing left to say).

        Returns once the socket is released, also when cancelled meanwhile, so no
        transport outlives the caller's event loop.
        """
        await abort_and_wait(self._r.transport)


def _select_info(untagged: list[Response]) -> SelectInfo:
    uidvalidity = 0
    uidnext: int | None = None
    modseq: int | None = None
    exists = 0
    vanished: list[int] = []
    for resp in untagged:
        line = resp.line
        m = _CODE_NUM.match(line)
        if m:
            key, val = m.group(1), int(m.group(2))
            if key == b"UIDVALIDITY":
                uidvalidity = val
            elif key == b"UIDNEXT":
                uidnext = val
            else:
                modseq = val
            continue
        m2 = _EXISTS.match(line)
        if m2:
            exists = int(m2.group(1))
            continue
        m3 = _VANISHED.match(line)
        if m3:
            vanished.extend(parse_uid_set(m3.group(1)))
    if uidvalidity == 0:
        raise ProtocolError("the server did not report UIDVALIDITY for the folder")
    return SelectInfo(uidvalidity, uidnext, exists, modseq, tuple(vanished))


async def connect(
    server: ServerConfig, cred: Credential, *, timeout: float | None = None
) -> ImapClient:
    """Open, secure and log in. Library exceptions propagate; wrap in ``map_imap_errors``."""
    t = timeout if timeout is not None else server.timeout
    reader, caps = await open_transport(server, t)
    client = ImapClient(reader, caps, t)
    try:
        if not caps:
            await client.refresh_capabilities()
        await client.login(cred)
    except BaseException:
        await client.close()
        raise
    return client
