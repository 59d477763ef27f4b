"""MCP benchmark: ``tools/call email.list`` (20) over stdio beside in-process ``Plugin.execute``.

    .venv/bin/python bench/bench_mcp.py [--calls N] [--copies N]

The store holds the sample mailbox imported ``--copies`` times. One ``prx-email mcp``
subprocess serves it over stdio to the SDK's own ``ClientSession``; the same process also
opens the plugin in-process on the same store. Calls alternate between the two paths (so
load drift hits both alike); wall time per call, p50 and p99. The MCP layer's cost is the
difference: JSON-RPC framing both ways, the SDK's validation on both sides, the hop from
the server's event loop to a worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from prx_email import open_plugin
from prx_email.services import importer
from prx_email.store.db import Database

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.mbox"
LIMIT = 20
CONFIG = '[[accounts]]\nid = 1\nname = "Bench"\naddress = "me@example.org"\n'


def _mbox(copies: int) -> str:
    """The sample mailbox repeated with distinct Message-IDs (the importer dedups bytes)."""
    text = SAMPLE.read_text(encoding="utf-8")
    return "\n".join(text.replace("Message-ID: <", f"Message-ID: <c{i}.") for i in range(copies))


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3


async def bench(db_path: Path, config: Path, calls: int) -> dict[str, list[float]]:
    args = {"account_id": 1, "limit": LIMIT}
    env = {**os.environ}
    env.pop("PRX_EMAIL_ENABLE_REAL_NETWORK", None)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "prx_email.adapters.cli", "mcp", "--db", str(db_path), "--config", str(config)],
        env=env,
    )
    out: dict[str, list[float]] = {"mcp": [], "inproc": []}
    with open_plugin(db=db_path, config=config) as plugin:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            first = await session.call_tool("email.list", args)
            direct = plugin.execute("email.list", args)
            assert not first.is_error and direct["ok"], (first, direct)
            assert first.structured_content == direct["data"]
            for _ in range(50):  # warm both paths
                await session.call_tool("email.list", args)
                plugin.execute("email.list", args)
            for _ in range(calls):
                t = time.perf_counter()
                await session.call_tool("email.list", args)
                out["mcp"].append(time.perf_counter() - t)
                t = time.perf_counter()
                plugin.execute("email.list", args)
                out["inproc"].append(time.perf_counter() - t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per path")
    parser.add_argument("--copies", type=int, default=10, help="copies of the sample mailbox")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prx-bench-mcp-") as tmp:
        scratch = Path(tmp)
        db_path, config, mbox = scratch / "mail.db", scratch / "config.toml", scratch / "b.mbox"
        config.write_text(CONFIG)
        mbox.write_text(_mbox(opts.copies), encoding="utf-8")
        db = Database(db_path)
        report = importer.import_path(db, mbox, account_id=1, folder="INBOX")
        db.close()
        samples = asyncio.run(bench(db_path, config, opts.calls))

    load = os.getloadavg()[0]
    print(f"store: {report.imported} messages; email.list limit={LIMIT}; {opts.calls} calls")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print()
    print(f"{'per call, wall ms':<44} {'p50':>8} {'p99':>8} {'mean':>8}")
    rows = (("inproc", "Plugin.execute, in process"), ("mcp", "tools/call over stdio (SDK client)"))
    for key, label in rows:
        values = samples[key]
        mean = statistics.fmean(values) * 1e3
        print(f"{label:<44} {_pct(values, 0.5):8.2f} {_pct(values, 0.99):8.2f} {mean:8.2f}")
    added = _pct(samples["mcp"], 0.5) - _pct(samples["inproc"], 0.5)
    print(f"{'MCP layer added at p50':<44} {added:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
