"""Move benchmark (issue 11): 1,000 messages moved through ``services.actions.move``.

Against a private Dovecot on 127.0.0.1 (TLS), per round, each side on its own fresh
folder of N messages, alternating which side goes first:

- prx-email, kept session: ``actions.move`` in batches of the bulk limit (default 100), the
  calls leasing one session from a fresh ``SessionPool`` as the plugin's façade does (one
  connect + TLS + login for the run, SELECT kept between calls, ``UID MOVE`` per call, the
  store re-keyed in one transaction, LOGOUT when the pool closes);
- prx-email, no pool: the same with a connection per call (connect + TLS + login and LOGOUT
  each time: what every call cost before the pool);
- baseline: plain ``imaplib``, connect + login, SELECT, one ``UID MOVE 1:N``, LOGOUT;
- the same ``imaplib`` session moving the set in the same batches (what batching itself
  costs the server, whatever the client).

The folder is synced into the store before each prx-email round (not timed). Prints wall
medians and the ratio (target <= 1.2).

Usage: python bench/bench_move.py [--messages 1000] [--rounds 5] [--bulk 100]
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import itertools
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "host"))

from fixtures.dovecot import ACTIONS_CONF, PW_ENV, DovecotServer, account, start_dovecot  # noqa: E402
from prx_email.auth.credentials import StaticCredentialProvider  # noqa: E402
from prx_email.config.model import AccountConfig, ActionSettings, Config  # noqa: E402
from prx_email.services import actions  # noqa: E402
from prx_email.services import sync as sync_service  # noqa: E402
from prx_email.services.context import ServiceContext  # noqa: E402
from prx_email.store.db import Database  # noqa: E402
from prx_email.types import SyncRequest  # noqa: E402

_n = itertools.count()


def _msg(i: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"Sender {i} <s{i}@example.org>"
    m["To"] = "alice@example.org"
    m["Subject"] = f"Bench move {i}"
    m["Message-ID"] = f"<bm{i}.{next(_n)}@example.org>"
    m.set_content("Hello.\n" * 20)
    return bytes(m)


def _fill(server: DovecotServer, folder: str, n: int) -> None:
    server.add_messages((_msg(i) for i in range(n)), folder)
    server.index(folder)  # index now, so neither side pays for Dovecot's first scan


#: Our process's CPU seconds per timed run, by side (where the wall time goes).
CPU: dict[str, list[float]] = {"kept": [], "plain": []}


def _baseline(server: DovecotServer, src: str, dest: str, batch: int | None = None) -> float:
    c0 = time.process_time()
    t0 = time.perf_counter()
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    m = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=ctx)
    m.login(server.user, server.password)
    typ, data = m.select(src)
    n = int(data[0] or 0)
    sets = ["1:*"] if batch is None else [f"{i + 1}:{i + batch}" for i in range(0, n, batch)]
    for uid_set in sets:  # fresh folder: UIDs 1..n
        typ, _ = m.uid("MOVE", uid_set, dest)
        assert typ == "OK"
    m.logout()
    if batch is None:
        CPU["plain"].append(time.process_time() - c0)
    return time.perf_counter() - t0


async def _ours(ctx: ServiceContext, src: str, dest: str, bulk: int, kept: bool) -> float:
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=src))
    rows = ctx.db.connect().execute("SELECT id FROM messages WHERE folder = ?", (src,))
    ids = [int(r[0]) for r in rows]
    # kept: a fresh pool, as the façade puts on its context (its one login is timed).
    pool = actions.SessionPool() if kept else None
    ctx.imap_sessions = pool
    c0 = time.process_time()
    t0 = time.perf_counter()
    for i in range(0, len(ids), bulk):
        res = await actions.move(ctx, 1, ids[i : i + bulk], folder=dest)
        assert all(r.outcome == "moved" for r in res)
    if pool is not None:
        await pool.aclose()  # the LOGOUT, as the baseline's is timed
        assert pool.logins == 1
    elapsed = time.perf_counter() - t0
    if kept:
        CPU["kept"].append(time.process_time() - c0)
    ctx.imap_sessions = None
    left = ctx.db.connect().execute("SELECT count(*) FROM messages WHERE folder = ?", (src,))
    assert left.fetchone()[0] == 0
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bulk", type=int, default=100)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="prx-bench-move-"))
    server = start_dovecot(tmp, ACTIONS_CONF)
    os.environ[PW_ENV] = server.password
    base = account(server)
    acc = AccountConfig(
        id=1,
        name="bench",
        address=base.address,
        imap=base.imap,
        sync=base.sync,
        actions=ActionSettings(bulk_limit=args.bulk),
    )
    db = Database(tmp / "mail.db")
    ctx = ServiceContext(Config(accounts=(acc,)), db, StaticCredentialProvider())
    ours: list[float] = []
    shared: list[float] = []
    plain: list[float] = []
    batched: list[float] = []
    try:
        for r in range(args.rounds):
            names = [f"R{r}{x}" for x in "aAbBcCdD"]
            for f in names[1::2]:
                server.create_folder(f)
            for f in names[0::2]:
                _fill(server, f, args.messages)
            order = [(r + k) % 4 for k in range(4)]  # rotate who goes first
            for which in order:
                if which == 0:
                    ours.append(asyncio.run(_ours(ctx, names[0], names[1], args.bulk, False)))
                elif which == 1:
                    shared.append(asyncio.run(_ours(ctx, names[2], names[3], args.bulk, True)))
                elif which == 2:
                    plain.append(_baseline(server, names[4], names[5]))
                else:
                    batched.append(_baseline(server, names[6], names[7], args.bulk))
            print(
                f"round {r}: prx-email kept session {shared[-1] * 1000:.0f} ms (no pool "
                f"{ours[-1] * 1000:.0f} ms), imaplib {plain[-1] * 1000:.0f} ms "
                f"(in batches {batched[-1] * 1000:.0f} ms)"
            )
    finally:
        db.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    mo, ms, mp, mb = (statistics.median(x) for x in (ours, shared, plain, batched))
    calls = -(-args.messages // args.bulk)
    print(
        f"{args.messages} messages, bulk {args.bulk} ({calls} calls), medians of "
        f"{args.rounds}: one imaplib UID MOVE {mp * 1000:.0f} ms; prx-email, kept session "
        f"(the plugin's default) {ms * 1000:.0f} ms (ratio {ms / mp:.2f}; target <= 1.2), no "
        f"pool (a login per call) {mo * 1000:.0f} ms (ratio {mo / mp:.2f}); imaplib in the "
        f"same {calls} batches, one session {mb * 1000:.0f} ms (ratio {mb / mp:.2f}: the floor "
        f"of batching; prx-email kept session / it: {ms / mb:.2f}); our CPU: kept session "
        f"{statistics.median(CPU['kept']) * 1000:.0f} ms, imaplib one UID MOVE "
        f"{statistics.median(CPU['plain']) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
