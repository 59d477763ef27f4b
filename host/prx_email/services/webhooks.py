"""Webhooks (issue 13): each event of the log POSTed, signed, to the configured URLs.

Each ``[[webhooks]]`` entry is a named consumer of the event log, ``webhook:<name>``, and
is delivered to by one task, strictly in event-id order (so in order per account)::

    cursor ─read─▶ event ─POST─▶ 2xx ──────────────────────────▶ ack(event) ─▶ next
                              └─ non-2xx / timeout / refused ─▶ retry after backoff + jitter
                                 └─ max_attempts failed ─▶ dead letter (store) ─▶ ack ─▶ next

Guarantee: at-least-once. The cursor moves only after a 2xx or a dead letter, so a
dispatcher stopped (or killed) mid-delivery sends that event again when it restarts, and
a receiver that was down gets everything it missed, in order, once it answers (as long as
it is back before ``max_attempts`` run out). A new webhook starts at the newest event.

Signature: ``X-Prx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
under the webhook's secret (:func:`sign`, :func:`verify`). The secret comes from a 0600
file or an environment variable and is never logged nor put in an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx2

from ..auth.credentials import read_secret_file
from ..bridge.gate import require_network
from ..config.model import WebhookConfig
from ..errors import ConfigError, ConnectionFailed, EmailError, NetworkDisabled, NotFound
from ..metrics import record_webhook_attempt
from ..store.events import EventLog
from ..store.webhooks import DeadLetter, DeadLetters
from ..types import Event
from .context import ServiceContext

__all__ = [
    "SIGNATURE_HEADER",
    "Dispatcher",
    "WebhookStatus",
    "backoff_delay",
    "consumer_name",
    "replay",
    "run_webhooks",
    "sign",
    "status",
    "verify",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Prx-Signature"
#: Seconds one wait for new events lasts (a stop is noticed at the latest then).
_WAIT = 1.0
_BATCH = 100


def consumer_name(hook: WebhookConfig) -> str:
    """The event-log consumer that holds ``hook``'s cursor."""
    return f"webhook:{hook.name}"


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``X-Prx-Signature`` value of ``body``: ``t=<unix>,v1=<hex>``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: bytes, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` less than ``tolerance`` s ago."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    clock = time.time() if now is None else now
    if abs(clock - t) > tolerance:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


def backoff_delay(
    attempt: int, hook: WebhookConfig, rng: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with jitter in [½, 1]."""
    ceiling = min(hook.backoff_max_seconds, hook.backoff_base_seconds * 2 ** (attempt - 1))
    return rng(ceiling / 2, ceiling)


def load_secret(hook: WebhookConfig, environ: Mapping[str, str] | None = None) -> bytes:
    """:raises ConfigError: the variable is unset or empty, the file missing or not 0600."""
    if hook.secret_file is not None:
        value = read_secret_file(hook.secret_file)
        where = f"file {hook.secret_file}"
    else:
        assert hook.secret_env is not None
        value = (os.environ if environ is None else environ).get(hook.secret_env, "")
        where = f"variable {hook.secret_env}"
    if not value:
        raise ConfigError(
            f"webhook {hook.name}: the secret {where} is empty or unset",
            hint="put a long random string there, e.g. `openssl rand -hex 32`",
        )
    return value.encode()


def _body(event: Event) -> str:
    return json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":"))


def _failure(exc: httpx2.HTTPError) -> str:
    # Short, fixed texts: an exception's own text may quote the request.
    if isinstance(exc, httpx2.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx2.ConnectError):
        return "connection failed"
    return f"transport error ({type(exc).__name__})"


async def _post(
    client: httpx2.AsyncClient,
    hook: WebhookConfig,
    secret: bytes,
    *,
    body: str,
    event_id: int,
    event_type: str,
    attempt: int,
) -> str | None:
    """One POST; None on a 2xx, else what went wrong (no secret, no body)."""
    data = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "prx-email-webhooks",
        "X-Prx-Event-Id": str(event_id),
        "X-Prx-Event-Type": event_type,
        "X-Prx-Delivery-Attempt": str(attempt),
        SIGNATURE_HEADER: sign(secret, data),
    }
    try:
        response = await client.post(hook.url, content=data, headers=headers, timeout=hook.timeout)
    except httpx2.HTTPError as exc:
        return _failure(exc)
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


class Dispatcher:
    """Delivers the event log to every configured webhook until stopped.

    ``rng`` draws the jitter (tests pin it); ``environ`` holds ``secret_env`` variables and
    the network flag.

    :raises NetworkDisabled: ``PRX_EMAIL_ENABLE_REAL_NETWORK`` is off (and webhooks exist).
    :raises ConfigError: a secret is missing, empty or in a loose file.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        hooks: tuple[WebhookConfig, ...] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        rng: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.ctx = ctx
        self.hooks = ctx.config.webhooks if hooks is None else hooks
        if self.hooks:
            require_network("webhook delivery", environ)
        # Every secret is read up front: a bad one fails the start, not the 1st delivery.
        self._secrets = {h.name: load_secret(h, environ) for h in self.hooks}
        self._rng = rng
        self._log = EventLog(ctx.db)
        self._dead = DeadLetters(ctx.db)
        self.stop = asyncio.Event()
        # Ends a wait in a worker thread (cancelled or stopped).
        self._halt = threading.Event()

    async def run(self, *, once: bool = False) -> int:
        """Deliver until :attr:`stop` is set (``once``: until nothing is pending).

        Returns the events handled (delivered or dead-lettered). :raises StorageError:
        """
        if not self.hooks:
            return 0
        relay = asyncio.create_task(self._relay_stop())
        try:
            async with httpx2.AsyncClient(trust_env=False, follow_redirects=False) as client:
                counts = await asyncio.gather(*(self._run_one(client, h, once) for h in self.hooks))
        finally:
            relay.cancel()
            self._halt.set()
        return sum(counts)

    async def _relay_stop(self) -> None:
        # The waits run in worker threads: they see a threading.Event, not self.stop.
        await self.stop.wait()
        self._halt.set()

    async def _run_one(self, client: httpx2.AsyncClient, hook: WebhookConfig, once: bool) -> int:
        name = consumer_name(hook)
        cursor = await asyncio.to_thread(self._log.register, name)
        handled = 0
        while not self.stop.is_set():
            # Taken before the read: every event up to `top` is committed (one writer at a
            # time), so when the read returns all it matched, the rest up to `top` are
            # events this webhook filters out, and the cursor may pass them (else a
            # `types` filter would hold retention back for every other event).
            top = await asyncio.to_thread(self._log.last_id)
            events = await asyncio.to_thread(
                self._log.wait,
                cursor,
                timeout=0 if once else _WAIT,
                limit=_BATCH,
                types=hook.types or None,
                account_id=hook.account,
                stop=self._halt,
            )
            for event in events:
                if not await self._deliver(client, hook, event):
                    return handled  # stopped mid-retry: not acknowledged, sent again later
                cursor = await asyncio.to_thread(self._log.ack, name, event.id)
                handled += 1
            if len(events) < _BATCH and top > cursor:
                cursor = await asyncio.to_thread(self._log.ack, name, top)
            if not events and once:
                break
        return handled

    async def _deliver(self, client: httpx2.AsyncClient, hook: WebhookConfig, event: Event) -> bool:
        """Deliver or dead-letter ``event``; False when stopped before either."""
        body = _body(event)
        error = "not attempted"
        for attempt in range(1, hook.max_attempts + 1):
            error = (
                await _post(
                    client,
                    hook,
                    self._secrets[hook.name],
                    body=body,
                    event_id=event.id,
                    event_type=event.type,
                    attempt=attempt,
                )
                or ""
            )
            if not error:
                record_webhook_attempt(hook.name, "delivered")
                return True
            record_webhook_attempt(hook.name, "failed")
            log.warning(
                "webhook %s: event %d, attempt %d of %d failed: %s",
                hook.name,
                event.id,
                attempt,
                hook.max_attempts,
                error,
            )
            if attempt < hook.max_attempts and await self._stopped_within(
                backoff_delay(attempt, hook, self._rng)
            ):
                return False
        dead = await asyncio.to_thread(
            self._dead.add, hook.name, event, body=body, attempts=hook.max_attempts, error=error
        )
        record_webhook_attempt(hook.name, "dead_lettered")
        log.error(
            "webhook %s: event %d dead-lettered (id %d) after %d attempts: %s",
            hook.name,
            event.id,
            dead,
            hook.max_attempts,
            error,
        )
        return True

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        return self.stop.is_set()


async def run_webhooks(
    ctx: ServiceContext,
    *,
    report: Callable[[EmailError], None],
    environ: Mapping[str, str] | None = None,
) -> None:
    """The dispatcher as a task of a long-running command (``watch``, ``sync --watch``).

    Restarted when a reload (SIGHUP) changes ``[[webhooks]]``, and after a store failure.
    A bad secret (or the network flag off) is reported through ``report`` and webhooks stay
    off until the config changes; the command goes on. Runs until cancelled.
    """
    while True:
        hooks = ctx.config.webhooks
        dispatcher: Dispatcher | None = None
        if hooks:
            try:
                dispatcher = Dispatcher(ctx, hooks, environ=environ)
            except (ConfigError, NetworkDisabled) as exc:
                report(exc)
        task = asyncio.create_task(dispatcher.run()) if dispatcher is not None else None
        failed = False
        try:
            while ctx.config.webhooks == hooks and (task is None or not task.done()):
                await asyncio.sleep(_WAIT)
        finally:
            if task is not None and dispatcher is not None:
                dispatcher.stop.set()
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout=_WAIT * 5)
                except EmailError as exc:  # the store failed: report, pause, start again
                    report(exc)
                    failed = True
                except TimeoutError:
                    task.cancel()
        if failed:
            await asyncio.sleep(_WAIT * 5)


def _hook(ctx: ServiceContext, name: str) -> WebhookConfig:
    for hook in ctx.config.webhooks:
        if hook.name == name:
            return hook
    raise NotFound(
        f"webhook {name!r} is not configured",
        hint="add it back to [[webhooks]] in the config to replay its dead letters",
    )


async def replay(
    ctx: ServiceContext, dead_id: int, *, environ: Mapping[str, str] | None = None
) -> DeadLetter:
    """POST dead letter ``dead_id`` once more, freshly signed; marked replayed on a 2xx.

    :raises NotFound: no such dead letter, or its webhook is no longer configured.
    :raises NetworkDisabled: ``PRX_EMAIL_ENABLE_REAL_NETWORK`` is off.
    :raises ConnectionFailed: the receiver did not answer 2xx (the dead letter stays).
    :raises ConfigError, StorageError:
    """
    dead = DeadLetters(ctx.db)
    letter = dead.get(dead_id)
    hook = _hook(ctx, letter.webhook)
    require_network("webhook replay", environ)
    async with httpx2.AsyncClient(trust_env=False, follow_redirects=False) as client:
        error = await _post(
            client,
            hook,
            load_secret(hook, environ),
            body=letter.body,
            event_id=letter.event_id,
            event_type=letter.event_type,
            attempt=letter.attempts + 1,
        )
    if error:
        raise ConnectionFailed(
            f"webhook {hook.name}: replay of dead letter {dead_id} failed: {error}",
            hint="check that the receiver is up, then replay again",
        )
    dead.mark_replayed(dead_id)
    return dead.get(dead_id)


@dataclass(frozen=True, slots=True)
class WebhookStatus:
    """One configured webhook, its cursor and how much is waiting for it."""

    name: str
    url: str
    cursor: int | None
    behind: int
    dead: int


def status(ctx: ServiceContext) -> list[WebhookStatus]:
    """Every configured webhook; ``behind``: events written after its cursor (any type).

    :raises StorageError:
    """
    events = EventLog(ctx.db)
    last = events.last_id()
    dead = DeadLetters(ctx.db)
    out = []
    for hook in ctx.config.webhooks:
        cursor = events.cursor(consumer_name(hook))
        out.append(
            WebhookStatus(
                name=hook.name,
                url=hook.url,
                cursor=cursor,
                behind=0 if cursor is None else max(0, last - cursor),
                dead=dead.count(webhook=hook.name),
            )
        )
    return out
