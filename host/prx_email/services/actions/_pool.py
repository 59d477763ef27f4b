"""Authenticated IMAP sessions kept between action calls, per account (``SessionPool``).

Every action call used to connect, do TLS and LOGIN, and LOGOUT: ~40 ms a call, most of an
``email.move`` of 100 messages. The façade (``services.facade.Services``) puts one pool on
its context; ``open_session`` then leases from it::

    lease ──▶ idle session of this account, this event loop, this config and credentials?
                 idle ≤ FRESH_SECONDS        → use it
                 idle ≤ MAX_IDLE_SECONDS     → NOOP first; a failed NOOP drops it
                 older, or config/credentials replaced since its login (a config reload
                 swaps ctx.config; ``invalidate()`` after a credential reload) → LOGOUT
              none left → connect + login
    release ─▶ the block ended normally, or with an error that leaves the connection sound
               (an argument, a missing folder or message, a state refusal: the server
               answered) and nothing is still waiting for an answer → idle again (at most
               MAX_IDLE_PER_ACCOUNT kept; the rest log out)
               any other error (network, timeout, protocol, auth, internal, cancellation)
               → closed, never reused

A leased session belongs to one call: two concurrent calls of one account get two
sessions. ``aclose`` (Plugin close) logs every idle session out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...config.model import AccountConfig, Config
from ...errors import (
    AttachmentRejected,
    InvalidArgument,
    InvalidState,
    NetworkDisabled,
    NotFound,
    PolicyDenied,
    StorageError,
)
from ...mail.imap import ImapClient
from ..context import ServiceContext
from ..sync import open_imap

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["FRESH_SECONDS", "MAX_IDLE_PER_ACCOUNT", "MAX_IDLE_SECONDS", "SessionPool"]

#: Idle this long or less: reused as it is (a server answered it moments ago).
FRESH_SECONDS = 30.0
#: Idle longer than this: logged out and replaced (NAT and servers drop idle connections;
#: RFC 3501 lets a server log out after 30 minutes).
MAX_IDLE_SECONDS = 300.0
#: Idle sessions kept per account (more only while calls overlap).
MAX_IDLE_PER_ACCOUNT = 2

# Failures the server answered: the connection is as sound as before the call.
_SOUND = (
    InvalidArgument,
    NotFound,
    InvalidState,
    AttachmentRejected,
    NetworkDisabled,
    PolicyDenied,
    StorageError,
)


@dataclass(slots=True)
class _Idle:
    """A kept session and what its login used (compared at each lease)."""

    session: Session
    config: Config  # ctx.config at login: a reload swaps the object
    credentials: object  # ctx.credentials at login
    loop: asyncio.AbstractEventLoop
    since: float
    generation: int  # SessionPool.invalidate() since its login makes it stale


class SessionPool:
    """Idle authenticated sessions per account (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle: dict[int, list[_Idle]] = {}
        self._clock = clock
        self._generation = 0
        #: Logins this pool made (tests and the benchmark read it).
        self.logins = 0

    def invalidate(self) -> None:
        """Credentials changed (e.g. tokens from the environment): no idle session is reused.

        Safe from any thread: idle sessions are logged out by their loop at their next lease.
        """
        self._generation += 1

    @asynccontextmanager
    async def lease(self, ctx: ServiceContext, acc: AccountConfig) -> AsyncIterator[Session]:
        """A session of ``acc`` for one call; back to the pool only if still sound."""
        entry = await self._take(ctx, acc)
        sound = False
        try:
            yield entry.session
            sound = True
        except _SOUND:
            sound = True
            raise
        finally:
            if sound and entry.session.client.is_open:
                await self._give_back(entry)
            else:
                await _drop(entry.session.client)

    async def _take(self, ctx: ServiceContext, acc: AccountConfig) -> _Idle:
        from ._session import Session

        loop = asyncio.get_running_loop()
        idle = self._prune(acc.id)
        while mine := [i for i, e in enumerate(idle) if e.loop is loop]:
            entry = idle.pop(mine[-1])  # the most recently used: likeliest to be alive
            s = entry.session
            if (
                entry.config is not ctx.config
                or entry.generation != self._generation
                or entry.credentials is not ctx.credentials
                or s.acc != acc
                or not s.client.is_open
                or self._clock() - entry.since > MAX_IDLE_SECONDS
            ):
                await _drop(s.client, logout=True)
                continue
            if self._clock() - entry.since > FRESH_SECONDS and not await _noop(s.client):
                continue
            s.ctx = ctx
            s.forget_folders()  # another client may have changed them meanwhile
            return entry
        # What the login used, read before it: a reload meanwhile makes this one stale.
        config, credentials, generation = ctx.config, ctx.credentials, self._generation
        client = await open_imap(ctx, acc)
        self.logins += 1
        return _Idle(
            Session(ctx, acc, client), config, credentials, loop, self._clock(), generation
        )

    async def _give_back(self, entry: _Idle) -> None:
        entry.since = self._clock()
        idle = self._prune(entry.session.acc.id)
        idle.append(entry)
        loop = asyncio.get_running_loop()
        while len(mine := [e for e in idle if e.loop is loop]) > MAX_IDLE_PER_ACCOUNT:
            idle.remove(mine[0])  # the longest idle goes
            await _drop(mine[0].session.client, logout=True)

    def _prune(self, account_id: int) -> list[_Idle]:
        """The account's idle list without sessions of a closed event loop (their sockets
        went with it; nothing can be awaited there any more)."""
        idle = [e for e in self._idle.get(account_id, []) if not e.loop.is_closed()]
        self._idle[account_id] = idle
        return idle

    def idle_count(self, account_id: int | None = None) -> int:
        """Idle sessions held (of one account, or all)."""
        if account_id is not None:
            return len(self._idle.get(account_id, []))
        return sum(len(v) for v in self._idle.values())

    async def aclose(self) -> None:
        """Log out every idle session of the running loop; forget the others."""
        loop = asyncio.get_running_loop()
        entries = [e for v in self._idle.values() for e in v]
        self._idle.clear()
        for e in entries:
            if e.loop is loop:
                await _drop(e.session.client, logout=True)


async def _noop(client: ImapClient) -> bool:
    """NOOP on a session idle for a while: False (and closed) when it does not answer OK."""
    try:
        await client.command([b"NOOP"])
    except Exception:
        await _drop(client)
        return False
    return True


async def _drop(client: ImapClient, *, logout: bool = False) -> None:
    # Never raises: closing is best effort, and a cancelled caller still releases the socket.
    with contextlib.suppress(Exception):
        if logout and client.is_open:
            await client.logout()
        else:
            await client.close()
