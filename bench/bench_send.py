"""Send benchmark: N messages through the outbox vs a direct aiosmtplib loop.

    python bench/bench_send.py [--messages 2000] [--connections 1] [--rounds 3]

The SMTP sink is a minimal asyncio SMTP server in a separate process (aiosmtpd itself
needs ~5 ms of CPU per message and would be the bottleneck being measured). Both sides
build every message with the same ``mail.compose`` code and use the same number of
connections, so the difference is what the outbox adds: storing each message in SQLite
before sending, the atomic claims, the pre-DATA claim check and the finalize.

- **direct**: compose + ``sendmail`` in a loop on ``--connections`` connections.
- **outbox**: a producer task calls ``outbox.queue`` for every message (compose + INSERT,
  as ``email.send`` does) while ``--connections`` drainers run ``drain_due`` (batch claims,
  one connection per drain run reused across its batches) — the outbox's point is that
  queueing and delivery overlap.

Prints both rates and ``ratio = outbox / direct`` (target >= 0.9). Best of ``--rounds``,
alternating which side runs first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

USER = "bench@example.com"
PASSWORD = "bench-password"
PASSWORD_ENV = "PRX_BENCH_SMTP_PASSWORD"

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "host")]


from prx_email.config.model import (  # noqa: E402
    AccountConfig,
    Config,
    PasswordAuth,
    SendSettings,
    ServerConfig,
    TlsMode,
)
from prx_email.mail.compose import compose, parse_mailbox  # noqa: E402
from prx_email.services import outbox  # noqa: E402
from prx_email.services.context import ServiceContext  # noqa: E402
from prx_email.store.db import Database  # noqa: E402
from prx_email.types import OutgoingMessage  # noqa: E402


class FastSink(asyncio.Protocol):
    """A minimal SMTP sink (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that only
    counts messages, so the benchmark measures the client side rather than the server."""

    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.t = transport
        self.buf = b""
        self.in_data = False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buf = self.buf[end + 5 :]
                self.in_data = False
                FastSink.count += 1
                self.t.write(b"250 2.0.0 queued\r\n")
                continue
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                return
            line, self.buf = self.buf[:nl], self.buf[nl + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.t.write(b"250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == b"AUTH":
                self.t.write(b"235 2.7.0 ok\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buf = b"\r\n" + self.buf  # so an empty body still ends at CRLF.CRLF
                self.t.write(b"354 go\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
                return
            else:
                self.t.write(b"250 ok\r\n")


async def run_sink() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastSink, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


BODY = "Hello,\n\nthe quarterly numbers are attached below.\n\n" + "Lorem ipsum dolor. " * 40


def message(i: int) -> OutgoingMessage:
    return OutgoingMessage(
        account_id=1,
        to=(f"user{i % 97}@example.org",),
        cc=("team@example.org",),
        subject=f"Report {i}",
        body_text=BODY,
    )


async def direct(port: int, n: int, connections: int) -> float:
    async def worker(indices: range) -> None:
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench"
        )
        await smtp.connect()
        await smtp.ehlo()
        await smtp.auth_plain(USER, PASSWORD)
        to = [parse_mailbox("x@example.org")]
        for i in indices:
            m = message(i)
            built = compose(
                sender="me@example.com",
                to=[parse_mailbox(a) for a in m.to] or to,
                cc=[parse_mailbox(a) for a in m.cc],
                subject=m.subject,
                body_text=m.body_text,
                body_html=None,
                now=time.time(),
            )
            await smtp.sendmail(built.sender, list(built.recipients), built.raw)
        await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker(range(k, n, connections)) for k in range(connections)))
    return time.perf_counter() - start


async def through_outbox(port: int, n: int, connections: int, tmp: Path) -> float:
    os.environ[PASSWORD_ENV] = PASSWORD
    acc = AccountConfig(
        id=1,
        name="bench",
        address="me@example.com",
        smtp=ServerConfig(
            host="127.0.0.1",
            port=port,
            tls=TlsMode.NONE,
            username=USER,
            auth=PasswordAuth(password_env=PASSWORD_ENV),
        ),
        send=SendSettings(append_to_sent=False),
    )
    db = Database(tmp / f"bench-{time.monotonic_ns()}.db")
    ctx = ServiceContext(config=Config(accounts=(acc,)), db=db)
    queued = 0

    async def producer() -> None:
        # Like agents calling email.send while the outbox worker drains.
        nonlocal queued
        for i in range(n):
            outbox.queue(ctx, message(i))
            queued += 1
            if i % 8 == 7:
                await asyncio.sleep(0)

    delivered = 0

    async def drainer() -> int:
        nonlocal delivered
        sent = 0
        while True:
            if queued < n and queued - delivered < 50:
                await asyncio.sleep(0.0005)  # wait for a batch worth draining
                continue
            report = await outbox.drain_due(ctx, batch=50)
            sent += report.sent
            delivered += report.sent
            if report.claimed == 0:
                if queued == n:
                    return sent
                await asyncio.sleep(0.0005)  # the others hold the due rows; let the producer run

    start = time.perf_counter()
    results = await asyncio.gather(producer(), *(drainer() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    sent = sum(r for r in results if r is not None)
    assert sent == n, f"outbox sent {sent} of {n}"
    db.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sink:
        asyncio.run(run_sink())
        return
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        n, c = args.messages, args.connections
        best_direct = best_outbox = float("inf")
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(direct(port, 50, c))  # warm-up
            for r in range(args.rounds):
                # Alternate the order so drift in machine load does not favour one side.
                for side in ("direct", "outbox") if r % 2 == 0 else ("outbox", "direct"):
                    if side == "direct":
                        best_direct = min(best_direct, asyncio.run(direct(port, n, c)))
                    else:
                        t = asyncio.run(through_outbox(port, n, c, Path(tmp)))
                        best_outbox = min(best_outbox, t)
        r_direct, r_outbox = n / best_direct, n / best_outbox
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        # Compare ratios from quiet runs only: on a loaded 2-core machine they swing widely.
        print(f"messages: {n}, connections: {c}, best of {args.rounds}, load average {load}")
        print(f"direct aiosmtplib loop: {best_direct:7.3f} s  {r_direct:8.1f} msg/s")
        print(f"outbox (queue + drain): {best_outbox:7.3f} s  {r_outbox:8.1f} msg/s")
        print(f"ratio outbox/direct:    {r_outbox / r_direct:.3f}  (target >= 0.9)")
    finally:
        if sink.stdin:
            sink.stdin.close()
        sink.wait(10)


if __name__ == "__main__":
    main()
