"""Running the guest component: engine, compiled-artifact cache, sandboxed instances."""

from ._cache import CACHE_ENV, LoadedComponent, cache_dir, load_component, stats
from ._engine import shared_engine
from ._locate import COMPONENT_ENV, locate_component
from ._sandbox import (
    SANDBOX_MEMORY,
    SANDBOX_OUTPUT,
    SANDBOX_TIMEOUT,
    SANDBOX_TRAP,
    Limits,
    Sandbox,
    SandboxError,
    pause_guest_clock,
    resume_guest_clock,
)

__all__ = [
    "CACHE_ENV",
    "COMPONENT_ENV",
    "SANDBOX_MEMORY",
    "SANDBOX_OUTPUT",
    "SANDBOX_TIMEOUT",
    "SANDBOX_TRAP",
    "Limits",
    "LoadedComponent",
    "Sandbox",
    "SandboxError",
    "cache_dir",
    "load_component",
    "locate_component",
    "pause_guest_clock",
    "resume_guest_clock",
    "shared_engine",
    "stats",
]
