"""Runtime benchmark: cold start from the cached artifact, and per-call sandbox overhead.

    .venv/bin/python bench/bench_runtime.py [--runs N] [--calls N] [--cached] [--generic-lowering]

(a) Cold start: a NEW Python process opens the plugin from the compiled-artifact cache
    and answers one ``email.list``; wall time from spawn to exit, median of ``--runs``.
    The one-time compile (what the first start on a machine pays) is measured too.
(b) Per-call overhead: ``email.list`` through the sandbox (JSON in, guest validation,
    host function, WIT conversion, JSON out) versus ``services.mailbox.list_messages``
    called directly in the same process on the same store and data.

``--cached`` skips the one-time compile (the artifact comes from ``PRX_EMAIL_CACHE_DIR`` or
the per-user cache); ``--generic-lowering`` runs (b) with wasmtime-py's own per-field
lowering and per-call type lookups instead of ``bridge/_lowering.py``'s plans (so message
pages are converted to ``Record``s first, ``convert.page``): the "before" of an A/B, run
both, alternating, on the same machine. To compare another tree (an earlier commit), run
this file from that tree with its ``host/`` first on ``PYTHONPATH`` and its own component
(docs/benchmarks.md, "The cheaper sandbox call").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


def _percentile_us(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[int(q * (len(ordered) - 1))] * 1e6


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_compile(wasm: Path, scratch: Path) -> tuple[float, float]:
    """Wall and process CPU (all threads: cranelift compiles in parallel) of one compile."""
    wall, cpu = time.perf_counter(), time.process_time()
    loaded = load_component(shared_engine(), wasm, directory=scratch, use_memory=False)
    result = time.perf_counter() - wall, time.process_time() - cpu
    assert loaded.source == "compiled"
    return result


def bench_cold_start(db_path: Path, cache: Path, runs: int) -> dict[str, list[float]]:
    env = {**os.environ, "PRX_EMAIL_CACHE_DIR": str(cache)}
    out: dict[str, list[float]] = {"wall": [], "cpu": [], "import": [], "open": [], "first": []}
    for _ in range(runs):
        cpu, wall = _children_cpu(), time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(db_path), str(LIMIT)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        out["wall"].append(time.perf_counter() - wall)
        out["cpu"].append(_children_cpu() - cpu)
        if child.returncode != 0:
            raise SystemExit(f"the cold-start child failed:\n{child.stderr}")
        inner = json.loads(child.stdout)
        assert inner["source"] == "disk", inner
        out["import"].append(inner["import"])
        out["open"].append(inner["open"])
        out["first"].append(inner["first_call"])
    return out


def _timed(fn: Callable[[], object], wall: list[float], cpu: list[float]) -> None:
    w, c = time.perf_counter(), time.thread_time()
    fn()
    cpu.append(time.thread_time() - c)
    wall.append(time.perf_counter() - w)


def bench_calls(db_path: Path, calls: int) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and thread-CPU per call (the guest runs on the calling thread)."""
    config = Config(accounts=(AccountConfig(1, "Bench", "me@example.org"),))
    db = Database(db_path)
    query = ListQuery(account_id=1, limit=LIMIT)
    args = {"account_id": 1, "limit": LIMIT}
    paths = ("direct", "sandbox", "accounts")
    results: dict[str, tuple[list[float], list[float]]] = {p: ([], []) for p in paths}
    with open_plugin(db, config) as plugin:
        expected = len(mailbox.list_messages(db, query).messages)
        got = plugin.execute("email.list", args)
        assert got["ok"] and len(got["data"]["messages"]) == expected, got
        bodies: dict[str, Callable[[], object]] = {
            "direct": lambda: mailbox.list_messages(db, query),
            "sandbox": lambda: plugin.execute("email.list", args),
            "accounts": lambda: plugin.execute("email.accounts", {}),
        }
        for _ in range(50):  # warm every path
            for body in bodies.values():
                body()
        for _ in range(calls):  # interleaved, so load drift hits every path alike
            for name, body in bodies.items():
                _timed(body, *results[name])
    db.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cold-start processes (median)")
    parser.add_argument("--calls", type=int, default=500, help="calls per path (median)")
    parser.add_argument("--copies", type=int, default=10, help="copies of the sample mailbox")
    parser.add_argument("--cached", action="store_true", help="skip the one-time compile")
    parser.add_argument(
        "--generic-lowering", action="store_true", help="wasmtime-py's lowering (the baseline)"
    )
    opts = parser.parse_args()
    if opts.generic_lowering:
        from prx_email.bridge import _lowering, _wasmtime_patches

        _lowering.check_layout = lambda: False  # type: ignore[assignment]
        _wasmtime_patches._memo_func_type = lambda original: original  # type: ignore[assignment]

    wasm = locate_component()
    with tempfile.TemporaryDirectory(prefix="prx-bench-") as tmp:
        scratch = Path(tmp)
        db_path = scratch / "mail.db"
        mbox = scratch / "bench.mbox"
        mbox.write_text(_mbox(opts.copies), encoding="utf-8")
        db = Database(db_path)
        report = importer.import_path(db, mbox, account_id=1, folder="INBOX")
        db.close()

        if opts.cached:
            from prx_email.runtime import cache_dir

            cache = cache_dir()
            compile_wall = compile_cpu = float("nan")
            load_component(shared_engine(), wasm, directory=cache)
        else:
            cache = scratch / "cache"
            compile_wall, compile_cpu = bench_compile(wasm, cache)
        cold = bench_cold_start(db_path, cache, opts.runs)
        calls = bench_calls(db_path, opts.calls)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:10.1f}"

    size = wasm.stat().st_size / 1e6
    load = os.getloadavg()[0]
    print(f"component {wasm.name}: {size:.1f} MB; load average {load:.1f} on {os.cpu_count()} CPUs")
    lowering = "generic (wasmtime-py)" if opts.generic_lowering else "planned (bridge/_lowering)"
    print(f"host-function result lowering: {lowering}")
    print(f"store: {report.imported} messages; email.list limit={LIMIT}")
    print()
    print(f"(a) start-up, median of {opts.runs} new processes       wall ms     CPU ms")
    compiled = f"{compile_wall * 1e3:10.1f} {compile_cpu * 1e3:10.1f}"
    print(f"    one-time compile (cache miss, in process) {compiled}")
    print(f"    new process -> first answered email.list  {ms(cold['wall'])} {ms(cold['cpu'])}")
    print(f"      python start + import prx_email         {ms(cold['import'])}")
    print(f"      open_plugin (cached artifact, instance) {ms(cold['open'])}")
    print(f"      first email.list                        {ms(cold['first'])}")
    print()
    print(f"(b) per call, median of {opts.calls}                       wall µs     CPU µs")
    rows = (
        ("direct", "mailbox.list_messages, direct"),
        ("sandbox", "email.list through the sandbox"),
        ("accounts", "email.accounts through the sandbox"),
    )
    med = {k: (_median_us(w), _median_us(c)) for k, (w, c) in calls.items()}
    for key, label in rows:
        print(f"    {label:<41} {med[key][0]:10.0f} {med[key][1]:10.0f}")
    over = (med["sandbox"][0] - med["direct"][0], med["sandbox"][1] - med["direct"][1])
    ratio = (med["sandbox"][0] / med["direct"][0], med["sandbox"][1] / med["direct"][1])
    print(f"    {'sandbox overhead (µs)':<41} {over[0]:10.0f} {over[1]:10.0f}")
    print(f"    {'ratio sandbox / direct':<41} {ratio[0]:9.1f}x {ratio[1]:9.1f}x")
    # The low decile too: on a shared machine the median moves with the load, the fast
    # calls less so (CPU time, same calls).
    p10 = {k: _percentile_us(c, 0.1) for k, (_, c) in calls.items()}
    print(
        f"    CPU p10: direct {p10['direct']:.0f}, sandbox {p10['sandbox']:.0f}, accounts "
        f"{p10['accounts']:.0f} µs; ratio {p10['sandbox'] / p10['direct']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
