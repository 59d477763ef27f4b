"""Runtime benchmark: cold start from the cached artifact, and per-call sandbox overhead.

    .venv/bin/python bench/bench_runtime.py [--runs N] [--calls N]

(a) Cold start: a NEW Python process opens the plugin from the compiled-artifact cache
    and answers one ``email.list``; wall time from spawn to exit, median of ``--runs``.
    The one-time compile (what the first start on a machine pays) is measured too.
(b) Per-call overhead: ``email.list`` through the sandbox (JSON in, guest validation,
    host function, WIT conversion, JSON out) versus ``services.mailbox.list_messages``
    called directly in the same process on the same store and data.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prx_email import open_plugin
from prx_email.config import AccountConfig, Config
from prx_email.runtime import load_component, locate_component, shared_engine
from prx_email.services import importer, mailbox
from prx_email.store.db import Database
from prx_email.types import ListQuery

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.mbox"
LIMIT = 20

CHILD = r"""
import json, sys, time
LIMIT = int(sys.argv[2])
t0 = time.perf_counter()
from prx_email import open_plugin
from prx_email.config import AccountConfig, Config
t1 = time.perf_counter()
plugin = open_plugin(sys.argv[1], Config(accounts=(AccountConfig(1, "Bench", "me@example.org"),)))
t2 = time.perf_counter()
envelope = plugin.execute("email.list", {"account_id": 1, "limit": LIMIT})
t3 = time.perf_counter()
assert envelope["ok"], envelope
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "first_call": t3 - t2,
                  "source": plugin.component_source}))
"""


def _mbox(copies: int) -> str:
    """The sample mailbox repeated with distinct Message-IDs (the importer dedups bytes)."""
    text = SAMPLE.read_text(encoding="utf-8")
    parts = []
    for i in range(copies):
        parts.append(text.replace("Message-ID: <", f"Message-ID: <c{i}."))
    return "\n".join(parts)


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def bench_compile(wasm: Path, scratch: Path) -> float:
    started = time.perf_counter()
    loaded = load_component(shared_engine(), wasm, directory=scratch, use_memory=False)
    elapsed = time.perf_counter() - started
    assert loaded.source == "compiled"
    return elapsed


def bench_cold_start(db_path: Path, cache: Path, runs: int) -> tuple[list[float], list[dict]]:
    env = {**os.environ, "PRX_EMAIL_CACHE_DIR": str(cache)}
    walls, inner = [], []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(db_path), str(LIMIT)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"the cold-start child failed:\n{out.stderr}")
        walls.append(time.perf_counter() - started)
        inner.append(json.loads(out.stdout))
    assert all(i["source"] == "disk" for i in inner), inner
    return walls, inner


def bench_calls(db_path: Path, calls: int) -> dict[str, list[float]]:
    config = Config(accounts=(AccountConfig(1, "Bench", "me@example.org"),))
    db = Database(db_path)
    query = ListQuery(account_id=1, limit=LIMIT)
    args = {"account_id": 1, "limit": LIMIT}
    results: dict[str, list[float]] = {"direct": [], "sandbox": [], "accounts": []}
    with open_plugin(db, config) as plugin:
        expected = len(mailbox.list_messages(db, query).messages)
        got = plugin.execute("email.list", args)
        assert got["ok"] and len(got["data"]["messages"]) == expected, got
        for _ in range(50):  # warm both paths
            mailbox.list_messages(db, query)
            plugin.execute("email.list", args)
        for _ in range(calls):  # interleaved, so drift hits both alike
            t0 = time.perf_counter()
            mailbox.list_messages(db, query)
            t1 = time.perf_counter()
            plugin.execute("email.list", args)
            t2 = time.perf_counter()
            plugin.execute("email.accounts", {})
            t3 = time.perf_counter()
            results["direct"].append(t1 - t0)
            results["sandbox"].append(t2 - t1)
            results["accounts"].append(t3 - t2)
    db.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cold-start processes (median)")
    parser.add_argument("--calls", type=int, default=500, help="calls per path (median)")
    parser.add_argument("--copies", type=int, default=10, help="copies of the sample mailbox")
    opts = parser.parse_args()

    wasm = locate_component()
    with tempfile.TemporaryDirectory(prefix="prx-bench-") as tmp:
        scratch = Path(tmp)
        db_path = scratch / "mail.db"
        mbox = scratch / "bench.mbox"
        mbox.write_text(_mbox(opts.copies), encoding="utf-8")
        db = Database(db_path)
        report = importer.import_path(db, mbox, account_id=1, folder="INBOX")
        db.close()

        compile_s = bench_compile(wasm, scratch / "cache")
        walls, inner = bench_cold_start(db_path, scratch / "cache", opts.runs)
        calls = bench_calls(db_path, opts.calls)

    direct = _median_us(calls["direct"])
    sandbox = _median_us(calls["sandbox"])
    accounts = _median_us(calls["accounts"])
    ms = 1000.0
    print(f"component: {wasm} ({wasm.stat().st_size / 1e6:.1f} MB)")
    print(f"store: {report.imported} messages; email.list limit={LIMIT}")
    print()
    print("(a) start-up                                         median        min")
    print(f"    one-time compile (cache miss, in process)   {compile_s * ms:9.0f} ms")
    print(
        f"    cold start, new process → first answer       {statistics.median(walls) * ms:9.0f} ms"
        f"  {min(walls) * ms:9.0f} ms   ({opts.runs} runs)"
    )
    for key, label in (
        ("import", "python + import prx_email"),
        ("open", "open_plugin (cache load + instantiate)"),
        ("first_call", "first email.list"),
    ):
        values = [i[key] for i in inner]
        print(f"      {label:<42} {statistics.median(values) * ms:9.1f} ms")
    print()
    print(f"(b) per call, median of {opts.calls}                        µs/call")
    print(f"    mailbox.list_messages, direct                 {direct:9.0f}")
    print(f"    email.list through the sandbox                {sandbox:9.0f}")
    print(f"    email.accounts through the sandbox (no store) {accounts:9.0f}")
    print(f"    overhead of the sandbox                       {sandbox - direct:9.0f}")
    print(f"    ratio sandbox / direct                        {sandbox / direct:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
