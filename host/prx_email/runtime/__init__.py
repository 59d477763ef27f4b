"""Running the guest component: engine, compiled-artifact cache, sandboxed instances."""

from ..errors import SANDBOX_CLOSED, SANDBOX_MEMORY, SANDBOX_TIMEOUT, SANDBOX_TRAP
from ..errors import SANDBOX_OUTPUT_TOO_LARGE as SANDBOX_OUTPUT
from ._cache import CACHE_ENV, LoadedComponent, cache_dir, load_component, stats
from ._engine import shared_engine, wasmtime_version
from ._locate import COMPONENT_ENV, locate_component
from ._sandbox import (
    Limits,
    MiB,
    Sandbox,
    SandboxError,
    pause_guest_clock,
    resume_guest_clock,
)

__all__ = [
    "CACHE_ENV",
    "COMPONENT_ENV",
    "SANDBOX_CLOSED",
    "SANDBOX_MEMORY",
    "SANDBOX_OUTPUT",
    "SANDBOX_TIMEOUT",
    "SANDBOX_TRAP",
    "Limits",
    "LoadedComponent",
    "MiB",
    "Sandbox",
    "SandboxError",
    "cache_dir",
    "load_component",
    "locate_component",
    "pause_guest_clock",
    "resume_guest_clock",
    "shared_engine",
    "stats",
    "wasmtime_version",
]
