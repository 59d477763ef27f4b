"""Start-up benchmark: whole processes, as a runtime that spawns one per request sees them.

    .venv/bin/python bench/bench_startup.py [--runs N] [--baseline DIR]

Each case is a fresh process timed from spawn to exit (wall clock) with its CPU time
(user + system) and peak RSS (from ``wait4``): median and 90th percentile of the wall time,
its minimum (the closest to a quiet machine on a shared one), median CPU, over ``--runs``.
The cases run interleaved (one process of each case per round), so the machine's load is the
same for every row:

- ``python -c pass``: the interpreter alone, the floor; ``import wasmtime.component``
  (GC off, as in the adapter): the floor of any process that runs the sandbox;
- the current CLI: ``prx-email call email.accounts`` and ``email.list`` of 50 messages;
- the TA adapter: ``capabilities`` and ``fetch`` of 50 stored messages, network off.

``--baseline DIR`` adds the two TA rows run from another checkout's ``host/`` (e.g.
``git archive <commit> host | tar -x -C DIR``, plus a copy of the built ``plugin.wasm``): the
"before" of an A/B in the same run, same store, same compiled artifact.

The store holds 50 imported messages; the compiled component comes from the disk cache
(warmed first, so no row pays the one-time compile). The package's bytecode is compiled first
(``compileall``), as an installed wheel has it: this environment sets
``PYTHONDONTWRITEBYTECODE=1``, and without ``.pyc`` files every process would compile the
~60 modules it imports from source. Targets from issue 12: ≤ 100 ms median wall and ≤ 80 MB
peak RSS for the two TA rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def _mbox(path: Path, n: int) -> None:
    with path.open("wb") as fh:
        for i in range(n):
            msg = EmailMessage()
            msg["From"] = f"Sender {i} <s{i}@example.net>"
            msg["To"] = "me@example.org"
            msg["Subject"] = f"Message {i}"
            msg["Date"] = format_datetime(datetime.fromtimestamp(1_790_000_000 + i * 60, UTC))
            msg["Message-ID"] = f"<bench-{i}@example.net>"
            msg.set_content(f"Body of message {i}.\n" * 20)
            fh.write(b"From bench@example.net Thu Jan  1 00:00:00 2026\n")
            fh.write(msg.as_bytes().replace(b"\nFrom ", b"\n>From "))
            fh.write(b"\n")


def _once(argv: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, float, float, bytes]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, out  # ru_maxrss is KiB on Linux


def _start_helper(argv: list[str], env: dict[str, str], run_dir: Path) -> int:
    """Answer one request so that it leaves a helper behind; the helper's pid once it serves."""
    _once(argv, b'{"op": "capabilities"}\n', env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for log in (run_dir / "prx-email").glob("*.log"):
            text = log.read_text()
            if "(pid " in text:
                time.sleep(0.2)  # it logs just before accepting
                return int(text.rsplit("(pid ", 1)[1].split(")")[0])
        time.sleep(0.05)
    raise SystemExit("the TA helper did not start")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="a checkout whose host/ is the 'before'")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prx-bench-startup-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRX_EMAIL")}
        env.update(
            PRX_EMAIL_DB=str(root / "mail.db"),
            PRX_EMAIL_CACHE_DIR=os.environ.get("PRX_EMAIL_CACHE_DIR", str(root / "cache")),
        )
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(ROOT / "host" / "prx_email")],
            check=True,
            capture_output=True,
        )
        _mbox(root / "inbox.mbox", 50)
        subprocess.run(
            [str(BIN / "prx-email"), "import", str(root / "inbox.mbox")],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run([str(BIN / "prx-email"), "warmup"], env=env, check=True, capture_output=True)
        fetch = json.dumps({"op": "fetch", "since": "1970-01-01T00:00:00Z", "limit": 50})
        cap, fetch_line = b'{"op": "capabilities"}\n', fetch.encode() + b"\n"
        extra_env: dict[str, dict[str, str]] = {}
        ta_cmd = [
            sys.executable,
            "-c",
            "import sys; from prx_email.adapters.ta import main; sys.exit(main())",
        ]
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], b""),
            (
                "python: import wasmtime.component",  # the floor under any sandboxed op
                [sys.executable, "-c", "import gc; gc.disable(); import wasmtime.component"],
                b"",
            ),
            (
                "prx-email call email.accounts",
                [str(BIN / "prx-email"), "call", "email.accounts"],
                b"",
            ),
            (
                "prx-email call email.list (50)",
                [str(BIN / "prx-email"), "call", "email.list", '{"account_id": 1, "limit": 50}'],
                b"",
            ),
            ("prx-email-ta capabilities (one-shot)", [str(BIN / "prx-email-ta")], cap),
            ("prx-email-ta fetch (50) (one-shot)", [str(BIN / "prx-email-ta")], fetch_line),
            ("prx-email-ta capabilities (warm helper)", [str(BIN / "prx-email-ta")], cap),
            ("prx-email-ta fetch (50) (warm helper)", [str(BIN / "prx-email-ta")], fetch_line),
        ]
        # One-shot: every process loads the runtime itself. Warm helper: the default, after a
        # first request has left the helper behind (started here before the timed rounds).
        env["PRX_EMAIL_TA_HELPER"] = "0"
        run_dir = Path(tempfile.mkdtemp(prefix="ta-bench-", dir="/tmp"))
        warm = {"PRX_EMAIL_TA_HELPER": "1", "XDG_RUNTIME_DIR": str(run_dir)}
        for label, _, _ in cases:
            if "warm helper" in label:
                extra_env[label] = warm
        helper = _start_helper([str(BIN / "prx-email-ta")], {**env, **warm}, run_dir)
        if opts.baseline is not None:
            host = str((opts.baseline / "host").resolve())
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", host], check=True, capture_output=True
            )
            for label, stdin in (("capabilities", cap), ("fetch (50, network off)", fetch_line)):
                cases.append((f"baseline prx-email-ta {label}", ta_cmd, stdin))
                extra_env[f"baseline prx-email-ta {label}"] = {"PYTHONPATH": host}
        walls: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        cpus: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        rss: dict[str, float] = dict.fromkeys(walls, 0.0)
        for _ in range(opts.runs):
            for label, argv, stdin in cases:
                wall, cpu, peak, out = _once(argv, stdin, {**env, **extra_env.get(label, {})})
                walls[label].append(wall * 1000)
                cpus[label].append(cpu * 1000)
                rss[label] = max(rss[label], peak)
                if "fetch" in label:
                    got = json.loads(out)
                    assert got["ok"] and len(got["messages"]) == 50, got
        print(
            f"{'case':40} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'CPU ms':>8} "
            f"{'peak RSS MB':>12}"
        )
        for label, _, _ in cases:
            w = sorted(walls[label])
            p90 = w[min(len(w) - 1, int(len(w) * 0.9))]
            print(
                f"{label:40} {statistics.median(w):10.1f} {p90:8.1f} {w[0]:8.1f} "
                f"{statistics.median(cpus[label]):8.1f} {rss[label]:12.1f}"
            )
        print(f"warm helper (pid {helper}): peak RSS {_peak_rss_mb(helper):.1f} MB")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        os.kill(helper, signal.SIGTERM)
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
