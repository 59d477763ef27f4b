"""``prx-email warmup``: compile the sandboxed component ahead of time.

The compiled artifact is cached on disk (``PRX_EMAIL_CACHE_DIR``, else the per-user cache
dir), keyed by the component's hash and the wasmtime version, so every later process only
loads it. Run it after installing or upgrading; ``make demo`` does.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "warmup",
        help="compile the sandboxed component ahead of time (cached for every later process)",
        description="Compile the plugin component once and cache the compiled artifact.",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ...runtime import cache_dir, load_component, locate_component, shared_engine

    started = time.perf_counter()
    wasm = Path(locate_component(None))
    loaded = load_component(shared_engine(), wasm)
    took = time.perf_counter() - started
    if loaded.source == "compiled":
        print(f"compiled {wasm.name} in {took:.1f} s; cached under {cache_dir()}")
    else:
        print(
            f"{wasm.name} is already compiled (cache under {cache_dir()}; loaded in {took:.2f} s)"
        )
    return 0
