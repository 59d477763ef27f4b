"""The TA adapter's warm helper: the sandboxed plugin kept open, answering over a socket.

``python -m prx_email.adapters.ta._helper --socket PATH [--db PATH] [--config PATH]`` is
started by ``prx-email-ta`` itself (``_rendezvous.spawn``), never by hand. It opens the
plugin once in draft-only mode with the ``ta`` entry point — exactly what an in-process
request opens — and then answers each connection's request with the same code
(``_main.serve``), so a request answered here is the one that would have been answered
in-process, through ``Plugin.execute`` and the host's gate and policy.

Per connection: the peer must run as our uid; the helper first checks that nothing it was
started from has changed (its modules' files, the component, the config file and the files
it names — password, token, CA —, the store file's identity) and, if something has,
answers ``STALE`` and shuts down, so the client answers in-process on the new state and
starts a fresh helper. It exits after
``PRX_EMAIL_TA_HELPER_IDLE`` seconds (default 300) without a request. One helper per
socket: an exclusive lock beside it decides between racing starts. Logs go to a 0600 file
beside the socket (``.log``, its stderr; never a secret: the plugin's logging rules apply).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import logging
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ._main import MAX_REQUEST_BYTES
from ._protocol import encode, failure
from ._rendezvous import ACCEPTED, DEFAULT_IDLE, IDLE_ENV, STALE
from ._serve import serve

log = logging.getLogger("prx_email.ta.helper")
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
Identity = tuple[tuple[str, tuple[int, ...] | None], ...]


def _stat(path: Path | str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _paths_in(value: object, depth: int = 0) -> Iterator[Path]:
    """Every ``Path`` inside a config value (dataclasses, tuples, mappings)."""
    if depth > 8:
        return
    if isinstance(value, Path):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _paths_in(getattr(value, f.name), depth + 1)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _paths_in(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _paths_in(item, depth + 1)


class Sources:
    """What the helper was started from, to notice when any of it changes."""

    def __init__(self, db: str | None, config: str | None, loaded: object = None) -> None:
        from ...config.paths import resolve_config_path, resolve_db_path
        from ...runtime import locate_component

        self._files: dict[str, tuple[int, ...] | None] = {}
        self._lock = threading.Lock()
        self._fixed = (
            str(resolve_config_path(config)),
            str(locate_component(None)),
            # Files the config names (password, token, CA, webhook secret): a rotated secret
            # retires the helper like a changed config does.
            *sorted({str(path) for path in _paths_in(loaded)}),
        )
        self._db = str(resolve_db_path(db))
        self.watch_new_modules()
        for path in self._fixed:
            self._files[path] = _stat(path)
        db_stat = _stat(self._db)
        # The store changes with every write; only which file it is matters.
        self._db_identity = None if db_stat is None else db_stat[:2]

    def watch_new_modules(self) -> None:
        """Add the package modules imported since the last call (ops import lazily)."""
        with self._lock:
            for name, module in list(sys.modules.items()):
                path = getattr(module, "__file__", None)
                if path and name.startswith("prx_email") and path not in self._files:
                    self._files[path] = _stat(path)

    def changed(self) -> str | None:
        """The first file that is not what it was, or None."""
        with self._lock:
            files = list(self._files.items())
        for path, seen in files:
            if _stat(path) != seen:
                return path
        db_stat = _stat(self._db)
        if (None if db_stat is None else db_stat[:2]) != self._db_identity:
            return self._db
        return None


class Helper:
    """Accepts connections on ``listener`` and answers them on ``plugin``."""

    def __init__(
        self, listener: socket.socket, path: str, lock: IO[str], plugin: Any, sources: Sources
    ) -> None:
        self._listener = listener
        self._path = path
        self._bound = _stat(path)
        self._exclusive = lock
        self._plugin = plugin
        self._sources = sources
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}  # in-flight request -> when its client gives up
        self._stopping = threading.Event()

    def serve_forever(self, idle: float) -> None:
        self._listener.settimeout(min(idle, 5.0))
        last = time.monotonic()
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                if time.monotonic() - last >= idle and self._quiet():
                    log.info("idle for %.0f s: exiting", idle)
                    return
                continue
            except OSError:
                return  # the listener was closed: a stale helper shutting down
            last = time.monotonic()
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        # Stopping: let requests already taken finish (each is bounded by its client's timeout).
        while not self._quiet():
            time.sleep(0.05)

    def _quiet(self) -> bool:
        """No request in flight whose client still waits."""
        now = time.monotonic()
        with self._lock:
            return all(deadline <= now for deadline in self._deadlines.values())

    def _stop(self, why: str) -> None:
        if not self._stopping.is_set():
            log.info("%s changed: shutting down", why)
            self._stopping.set()
            self._listener.close()
            self.release()

    def release(self) -> None:
        """Give the socket name and the lock up, so a successor can start at once."""
        with self._lock:
            if self._bound is not None and _stat(self._path) == self._bound:
                os.unlink(self._path)  # still ours, not a successor's
            self._bound = None
            self._exclusive.close()  # closing the descriptor drops the flock

    def _handle(self, conn: socket.socket) -> None:
        key = id(conn)
        try:
            with conn:
                pid, uid, _ = _PEERCRED.unpack(
                    conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
                )
                if uid != os.getuid():
                    log.warning("refused a connection from uid %d (pid %d)", uid, pid)
                    return
                timeout, data = _read(conn)
                with self._lock:
                    self._deadlines[key] = time.monotonic() + timeout
                changed = self._sources.changed()
                if changed is not None or self._stopping.is_set():
                    conn.sendall(STALE)
                    self._stop(changed or "the helper")
                    return
                conn.sendall(ACCEPTED)
                response = serve(data, None, None, plugin=self._plugin)
                conn.sendall(encode(response))
                self._sources.watch_new_modules()
        except (OSError, ValueError) as exc:
            log.warning("a request failed on the socket: %s", exc)
            with contextlib.suppress(OSError):
                conn.sendall(encode(failure("the plugin's helper could not read the request")))
        finally:
            with self._lock:
                self._deadlines.pop(key, None)


def _read(conn: socket.socket) -> tuple[float, bytes]:
    """The client's timeout line, then the request bytes up to EOF.

    :raises ValueError: no timeout line, or more than a request may hold.
    """
    conn.settimeout(10.0)  # the client sends everything at once; do not hang on a stray one
    buf = bytearray()
    while len(buf) <= MAX_REQUEST_BYTES + 64:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, newline, data = bytes(buf).partition(b"\n")
    if not newline:
        raise ValueError("no timeout line")
    timeout = float(head)
    if not 0 < timeout < 86400:
        raise ValueError("timeout out of range")
    return timeout, data


def _idle() -> float:
    try:
        value = float(os.environ.get(IDLE_ENV, "") or DEFAULT_IDLE)
    except ValueError:
        return DEFAULT_IDLE
    return value if 0 < value < 86400 else DEFAULT_IDLE


def _options(argv: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    args = list(argv)
    while len(args) >= 2 and args[0] in ("--socket", "--db", "--config"):
        name, value = args.pop(0), args.pop(0)
        values[name[2:]] = value
    if args or "socket" not in values:
        raise SystemExit("usage: python -m prx_email.adapters.ta._helper --socket PATH ...")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    opts = _options(sys.argv[1:] if argv is None else argv)
    path = opts["socket"]
    # Held for the process's life (closing it drops the flock).
    lock = os.fdopen(os.open(path + ".lock", os.O_WRONLY | os.O_CREAT, 0o600), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another helper serves this setting
    # stderr is the log file beside the socket (``_rendezvous.spawn`` opened it).
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    from ...api import open_plugin
    from ._ops import OPERATIONS

    db, config = opts.get("db"), opts.get("config")
    try:
        plugin = open_plugin(db=db, config=config, mode="draft_only", entry_point="ta")
    except Exception:
        log.exception("cannot open the plugin: no helper")
        return 1
    sources = Sources(db, config, plugin.context.config)
    # Warm what every request uses (the instance, the catalogue, the accounts) before
    # anyone can connect, then keep the long-lived objects out of the GC's way.
    OPERATIONS["capabilities"](plugin, plugin.context.config, {})
    plugin.execute("email.accounts", {})
    sources.watch_new_modules()
    gc.collect()
    gc.freeze()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket left by a helper that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old_mask)
    listener.listen(64)
    log.info("serving %s (pid %d)", path, os.getpid())
    helper = Helper(listener, path, lock, plugin, sources)
    try:
        helper.serve_forever(_idle())
    finally:
        helper.release()
        listener.close()
    logging.shutdown()
    # Like the one-shot adapter: the OS reclaims the instance faster than finalizers do.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
