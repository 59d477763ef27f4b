"""Metrics cost (issue 15): the first sync of 10,000 messages with metrics on vs off.

In one process, against one local Dovecot, rounds alternate the order of the two modes:

- on: recording enabled (``prx_email.metrics``), the endpoint serving and scraped once a
  second by a thread, as under ``sync --watch --metrics``;
- off: ``metrics.set_enabled(False)``, no endpoint.

Each run syncs INBOX into a fresh store (``services.sync.sync``, phase 1: summaries and raw
bytes stored, the sync hot path; the completion phase records nothing). The medians are
compared; since recording happens per folder and not per message, the A/B difference is
noise-sized, so the script also prints the measured cost of the recording calls one sync
makes (calls x time per call), a bound that does not depend on the noise.

Usage: python bench/bench_metrics.py [--messages 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sync import bench_context, message  # noqa: E402
from fixtures.dovecot import DovecotServer, start_dovecot  # noqa: E402


def one_sync(server: DovecotServer, db: Path, *, on: bool) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, messages fetched) of one first sync."""
    from prx_email import metrics
    from prx_email.services.sync import sync
    from prx_email.types import SyncRequest

    ctx = bench_context(server, db)
    metrics.set_enabled(on)
    endpoint = metrics.serve_metrics("127.0.0.1", 0, ctx=ctx) if on else None
    stop = threading.Event()

    def scrape() -> None:
        assert endpoint is not None
        while not stop.wait(1.0):
            with urllib.request.urlopen(endpoint.url, timeout=5) as resp:
                resp.read()

    scraper = threading.Thread(target=scrape, daemon=True) if on else None
    if scraper is not None:
        scraper.start()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        rep = asyncio.run(sync(ctx, SyncRequest(account_id=1, folder="INBOX"), complete=False))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        stop.set()
        if scraper is not None:
            scraper.join()
        if endpoint is not None:
            endpoint.close()
        ctx.db.close()
        metrics.set_enabled(True)
    return wall, cpu, rep.folders[0].fetched


def recording_cost(calls: int = 200_000) -> float:
    """Seconds per ``record_sync`` call (what one folder's sync records), enabled."""
    from prx_email import metrics

    metrics.set_enabled(True)
    t0 = time.perf_counter()
    for _ in range(calls):
        metrics.record_sync(1, "INBOX", 0.5, fetched=500, flags=0, expunged=0)
    return (time.perf_counter() - t0) / calls


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    opts = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="prx-bench-metrics-"))
    os.chmod(work, 0o755)
    server = start_dovecot(work / "dovecot")
    os.environ["BENCH_PW"] = server.password
    try:
        rng = random.Random(7)
        server.add_messages([message(i, rng) for i in range(opts.messages)], "INBOX")
        server.index("INBOX")
        one_sync(server, work / "warm.db", on=True)  # imports, TLS session, page cache
        times: dict[bool, list[float]] = {True: [], False: []}
        cpus: dict[bool, list[float]] = {True: [], False: []}
        for r in range(opts.rounds):
            for on in (True, False) if r % 2 == 0 else (False, True):
                wall, cpu, fetched = one_sync(server, work / f"r{r}-{int(on)}.db", on=on)
                assert fetched == opts.messages, fetched
                times[on].append(wall)
                cpus[on].append(cpu)
                print(
                    f"round {r + 1} metrics {'on ' if on else 'off'}: {wall:.3f} s wall, "
                    f"{cpu:.3f} s CPU"
                )
        for what, data in (("wall", times), ("CPU", cpus)):
            on_med, off_med = statistics.median(data[True]), statistics.median(data[False])
            print(
                f"{what}: median on {on_med:.3f} s, off {off_med:.3f} s: "
                f"{(on_med / off_med - 1) * 100:+.1f} % (off {min(data[False]):.3f}-"
                f"{max(data[False]):.3f} s, on {min(data[True]):.3f}-{max(data[True]):.3f} s)"
            )
        off_med = statistics.median(times[False])
        overhead = (statistics.median(cpus[True]) / statistics.median(cpus[False]) - 1) * 100
        per_call = recording_cost()
        print(
            f"recording: {per_call * 1e6:.2f} µs per folder sync recorded; one sync of "
            f"{opts.messages} messages in one folder records once: "
            f"{per_call / off_med * 100:.5f} % of its time"
        )
        return 0 if overhead <= 3.0 else 1  # CPU: the wall clock is the shared machine's
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
