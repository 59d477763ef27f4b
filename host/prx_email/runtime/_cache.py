"""Compile the component once; keep the compiled artifact on disk and in memory.

On disk: ``<cache dir>/components/<key>.<crc32>.cwasm`` where ``key`` is the sha256
of the ``.wasm`` bytes, the wasmtime version and the engine fingerprint, and ``crc32``
the checksum of the file itself. wasmtime trusts the bytes it deserializes (they are
native code), so a file whose checksum does not match — or that wasmtime rejects — is
deleted and rebuilt rather than loaded. The file is mapped, not read (``deserialize_file``),
and the checksum is taken over the mapping: ~30 ms for 35 MB, versus ~70 ms for sha256
plus ~150 ms to copy the bytes into wasmtime. Once a file's checksum has matched, a
``<artifact>.ok`` stamp records its identity (size, mtime, ctime, inode, device); a later
start whose stat matches the stamp skips the checksum (15-30 ms of every TA request). Any
write to the file changes its ctime — which no user-space call can set back — so a file
damaged through the filesystem is checked, and discarded, again. Stamps are only written
for files older than ``STAMP_MIN_AGE`` (timestamps are coarse; a file rewritten within one
tick of its creation would keep its ctime). Writes are atomic (temporary file + rename);
the directory is 0700 and the files 0600.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component

from ..config import paths
from ._engine import ENGINE_FINGERPRINT, wasmtime_version

log = logging.getLogger(__name__)

CACHE_ENV = "PRX_EMAIL_CACHE_DIR"
#: Seconds since an artifact's last change before its checksum may be trusted by stamp.
STAMP_MIN_AGE = 2.0


@dataclass(slots=True)
class CacheStats:
    """Process-wide counters; tests and benchmarks read them."""

    compiles: int = 0
    #: Times the .wasm was read and hashed (a stat hint saves it on later starts).
    hashed: int = 0
    #: Times an artifact's checksum was computed (a stamp saves it on later starts).
    checksummed: int = 0
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
    folder = (directory or cache_dir()) / "components"
    with _lock:
        key = _component_key(wasm_path, folder)
        if use_memory and key in _memory:
            stats.memory_hits += 1
            return LoadedComponent(_memory[key], key, "memory")
        component = _read(engine, folder, key)
        source = "disk"
        if component is None:
            # One line on stderr (logging's last-resort handler when none is configured):
            # otherwise the first call after an install sits silent for several seconds.
            log.warning(
                "compiling the sandboxed component %s once (several seconds; "
                "`prx-email warmup` does this ahead of time)",
                wasm_path.name,
            )
            component = Component(engine, wasm_path.read_bytes())
            stats.compiles += 1
            source = "compiled"
            _write(folder, key, bytes(component.serialize()))
        else:
            stats.disk_hits += 1
        _memory[key] = component
        return LoadedComponent(component, key, source)


def _component_key(wasm_path: Path, folder: Path) -> str:
    """``cache_key`` of the file, remembered under a hint named after its stat.

    Hashing 18 MB costs ~30-60 ms of every start; the hint (path, size, mtime_ns, inode,
    device, wasmtime version, engine) lets an unchanged file skip it. A rebuilt file
    has a new mtime (and usually size), so it gets a new hint and is hashed again.
    """
    st = wasm_path.stat()
    ident = (
        f"{wasm_path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_dev}"
        f"\0{wasmtime_version()}\0{ENGINE_FINGERPRINT}"
    )
    hint = folder / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.key"
    try:
        key = hint.read_text(encoding="ascii").strip()
        if len(key) == 64 and all(c in "0123456789abcdef" for c in key):
            return key
    except (OSError, UnicodeDecodeError):
        pass
    key = cache_key(wasm_path.read_bytes())
    stats.hashed += 1
    _write_atomic(folder, hint, key.encode("ascii"))
    return key


def artifact_paths(folder: Path, key: str) -> list[Path]:
    """Cached artifacts for ``key``: ``<key>.<crc32 hex>.cwasm``."""
    try:
        return sorted(folder.glob(f"{key}.*.cwasm"))
    except OSError:
        return []


def _crc32_of(path: Path) -> int:
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        stats.checksummed += 1
        return zlib.crc32(view)


def _identity(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".ok")


def _verified(folder: Path, path: Path, expected: str) -> bool:
    """Whether ``path``'s crc32 is ``expected``: by its stamp, else computed (and stamped).

    :raises OSError, ValueError: the file cannot be read or mapped (empty).
    """
    st = path.stat()
    stamp = _stamp_path(path)
    try:
        if stamp.read_text(encoding="ascii") == _identity(st):
            return True
    except (OSError, UnicodeDecodeError):
        pass
    if f"{_crc32_of(path):08x}" != expected:
        return False
    if time.time() - max(st.st_mtime, st.st_ctime) >= STAMP_MIN_AGE:
        _write_atomic(folder, stamp, _identity(st).encode("ascii"))
    return True


def _read(engine: wasmtime.Engine, folder: Path, key: str) -> Component | None:
    for path in artifact_paths(folder, key):
        expected = path.name[len(key) + 1 : -len(".cwasm")]
        try:
            good = _verified(folder, path, expected)
        except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
            _discard(path, f"unreadable: {exc}")
            continue
        if not good:
            _discard(path, "checksum mismatch")
            continue
        try:
            # Maps the file instead of copying 35 MB through Python: ~10 ms instead of ~150.
            return Component.deserialize_file(engine, str(path))
        except wasmtime.WasmtimeError as exc:
            _discard(path, str(exc).splitlines()[0] if str(exc) else "rejected")
    return None


def _discard(target: Path, why: str) -> None:
    log.warning("discarding the compiled-component cache %s: %s", target, why)
    stats.discarded += 1
    with contextlib.suppress(OSError):
        target.unlink()
    with contextlib.suppress(OSError):
        _stamp_path(target).unlink()


def _write(folder: Path, key: str, artifact: bytes) -> None:
    _write_atomic(folder, folder / f"{key}.{zlib.crc32(artifact):08x}.cwasm", artifact)


def _write_atomic(folder: Path, target: Path, data: bytes) -> None:
    """Best effort: a read-only or full cache dir only costs the next start a compile."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in (folder, folder.parent):
            if directory.stat().st_uid == os.getuid():
                directory.chmod(0o700)
        # Not tempfile.mkstemp: importing tempfile costs ~5 ms of a start that writes a stamp.
        tmp = folder / f".tmp-{os.getpid()}-{os.urandom(6).hex()}.partial"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
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
