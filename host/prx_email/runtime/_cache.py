"""Compile the component once; keep the compiled artifact on disk and in memory.

On disk: ``<cache dir>/components/<key>.cwasm`` where ``key`` is the sha256 of the
``.wasm`` bytes, the wasmtime version and the engine fingerprint. The file is
``MAGIC + sha256(artifact) + artifact``: wasmtime trusts the bytes it deserializes
(they are native code), so a file that does not verify is deleted and rebuilt
rather than loaded. Writes are atomic (temporary file + rename); the directory is
0700 and the file 0600.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component

from ..config import paths
from ._engine import ENGINE_FINGERPRINT, wasmtime_version

log = logging.getLogger(__name__)

CACHE_ENV = "PRX_EMAIL_CACHE_DIR"
_MAGIC = b"PRXCWASM1\n"
_DIGEST = 32


@dataclass(slots=True)
class CacheStats:
    """Process-wide counters; tests and benchmarks read them."""

    compiles: int = 0
    disk_hits: int = 0
    memory_hits: int = 0
    discarded: int = 0


stats = CacheStats()
_memory: dict[str, Component] = {}
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class LoadedComponent:
    component: Component
    key: str
    #: "memory", "disk" or "compiled"
    source: str


def cache_dir() -> Path:
    """``PRX_EMAIL_CACHE_DIR``, else ``<per-user cache dir>``; compiled artifacts go under it."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else paths.cache_dir()


def cache_key(wasm: bytes) -> str:
    h = hashlib.sha256()
    h.update(wasm)
    h.update(b"\0wasmtime=" + wasmtime_version().encode())
    h.update(b"\0engine=" + ENGINE_FINGERPRINT.encode())
    return h.hexdigest()


def load_component(
    engine: wasmtime.Engine,
    wasm_path: Path,
    *,
    directory: Path | None = None,
    use_memory: bool = True,
) -> LoadedComponent:
    """The compiled component for ``wasm_path``: from memory, the disk cache, or compiled.

    :raises wasmtime.WasmtimeError: the file is not a valid component.
    """
    wasm = wasm_path.read_bytes()
    key = cache_key(wasm)
    with _lock:
        if use_memory and key in _memory:
            stats.memory_hits += 1
            return LoadedComponent(_memory[key], key, "memory")
        target = (directory or cache_dir()) / "components" / f"{key}.cwasm"
        component = _read(engine, target)
        source = "disk"
        if component is None:
            component = Component(engine, wasm)
            stats.compiles += 1
            source = "compiled"
            _write(target, bytes(component.serialize()))
        else:
            stats.disk_hits += 1
        _memory[key] = component
        return LoadedComponent(component, key, source)


def _read(engine: wasmtime.Engine, target: Path) -> Component | None:
    try:
        blob = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the compiled-component cache %s: %s", target, exc)
        return None
    head = len(_MAGIC) + _DIGEST
    artifact = blob[head:]
    if (
        len(blob) <= head
        or blob[: len(_MAGIC)] != _MAGIC
        or hashlib.sha256(artifact).digest() != blob[len(_MAGIC) : head]
    ):
        _discard(target, "checksum mismatch")
        return None
    try:
        return Component.deserialize(engine, artifact)
    except wasmtime.WasmtimeError as exc:
        _discard(target, str(exc))
        return None


def _discard(target: Path, why: str) -> None:
    log.warning("discarding the compiled-component cache %s: %s", target, why)
    stats.discarded += 1
    with contextlib.suppress(OSError):
        target.unlink()


def _write(target: Path, artifact: bytes) -> None:
    """Best effort: a read-only or full cache dir only costs the next start a compile."""
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in (target.parent, target.parent.parent):
            if directory.stat().st_uid == os.getuid():
                directory.chmod(0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".cwasm", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:  # mkstemp creates the file 0600
                fh.write(_MAGIC)
                fh.write(hashlib.sha256(artifact).digest())
                fh.write(artifact)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("cannot write the compiled-component cache %s: %s", target, exc)


def clear_memory_cache() -> None:
    """Forget in-process components (tests use this to exercise the disk cache)."""
    with _lock:
        _memory.clear()
