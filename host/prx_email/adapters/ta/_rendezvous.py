"""The client side of the TA adapter's warm helper: find it, ask it, or start it.

A runtime spawns ``prx-email-ta`` once per request, and most of such a process's time goes
to importing wasmtime and instantiating the component (~200 ms here), not to the op. So the
first request is answered in-process as always and then leaves a helper behind
(``_helper.py``): a process that keeps the sandboxed plugin open, in draft-only mode, and
answers later requests over a Unix socket, so that they cost a Python start and a socket
round trip. The helper exits when idle (``PRX_EMAIL_TA_HELPER_IDLE`` seconds, default 300)
and refuses to answer once anything it was started from changed (code, component, config,
store file); ``PRX_EMAIL_TA_HELPER=0`` turns it off.

One helper serves exactly one setting: its socket's name is a hash of everything that can
change an answer — the whole environment (network flag, config and store paths, the secrets
that ``*_env`` settings name, ...), the working directory, the command's options, the
interpreter and this package's location. Its directory is private (``$XDG_RUNTIME_DIR/
prx-email`` or ``/tmp/prx-email-UID``, mode 0700, owned by this user, else unused), and the
helper checks each peer's uid.

Only the standard library is imported here, and only what the request uses: this module is
on the fast path.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys

HELPER_ENV = "PRX_EMAIL_TA_HELPER"
IDLE_ENV = "PRX_EMAIL_TA_HELPER_IDLE"
DEFAULT_IDLE = 300.0
#: Helpers one user runs at most (one per setting; each holds ~70 MB).
MAX_HELPERS = 4
#: Environment variables that differ between two spawns of the same command without
#: changing what it answers (a shell's bookkeeping, the per-request timeout).
_VOLATILE = frozenset({"_", "OLDPWD", "PWD", "SHLVL", "PRX_EMAIL_TA_TIMEOUT"})
#: Bumped when the client/helper exchange below changes shape.
_WIRE = "ta-helper-1"
#: What the helper sends first: it has the request and will run it (``ACCEPTED``), or it
#: will not (``STALE``: started from something that has changed since; ask in-process).
ACCEPTED = b"A"
STALE = b"S"
_MAX_REPLY = 64 * 1024 * 1024
#: A Unix socket's path must fit sockaddr_un (108 bytes on Linux, with its NUL).
_MAX_SOCKET_PATH = 100
_LOST = (
    "the plugin's helper process ended before answering; the op may have run "
    "(check draft_status before repeating a create_draft)"
)


class HelperLost(Exception):
    """The helper took the request and ended without answering: the op may have run."""


class Route:
    """Where the helper for this setting listens (or would), and the options it gets.

    A plain class: dataclasses imports inspect and re, several ms of every request.
    """

    __slots__ = ("config", "db", "socket")

    def __init__(self, socket: str, db: str | None, config: str | None) -> None:
        self.socket, self.db, self.config = socket, db, config


def wanted() -> bool:
    """``PRX_EMAIL_TA_HELPER`` unset or not one of ``0``, ``off``, ``false``, ``no``."""
    raw = os.environ.get(HELPER_ENV, "1").strip().lower()
    return raw not in ("0", "off", "false", "no")


def _shared_tmp() -> str:
    return f"/tmp/prx-email-{os.getuid()}"


def private_dir(base: str | None = None) -> str | None:
    """The helpers' directory, made if missing; None when it is not ours alone."""
    if base is None:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        base = os.path.join(runtime, "prx-email") if runtime else _shared_tmp()
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(base)
    except OSError:
        return None
    # Another user's directory, a symlink or one others may write to could hand our
    # requests to their process: answer in-process instead.
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return base


def route(db: str | None, config: str | None) -> Route | None:
    """The helper route for this process's setting, or None (turned off, no private dir)."""
    if not wanted():
        return None
    directory = private_dir()
    if directory is None:
        return None
    try:  # CPython's own sha256: hashlib first loads OpenSSL, ~8 ms of every request
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - other interpreters, newer CPython (_sha2)
        from hashlib import sha256

    env = sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE)
    setting = repr((_WIRE, sys.executable, __file__, os.getcwd(), db, config, env))
    digest = sha256(setting.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    name = f"ta-{digest}.sock"
    if len(os.fsencode(os.path.join(directory, name))) > _MAX_SOCKET_PATH:
        directory = private_dir(_shared_tmp())  # a deep XDG_RUNTIME_DIR: the short one
        if directory is None:
            return None
    return Route(os.path.join(directory, name), db, config)


def ask(where: Route, request: bytes, timeout: float) -> bytes | None:
    """The helper's response line to ``request``, or None when no helper can take it
    (none listening, a stale one): then nothing ran and the caller answers in-process.

    :raises HelperLost: the helper accepted the request and closed without an answer.
    :raises TimeoutError: no answer within ``timeout`` seconds.
    """
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    reply = bytearray()
    try:
        conn.settimeout(timeout)
        try:
            conn.connect(where.socket)
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        # The timeout travels along: the helper abandons the op's result after it.
        conn.sendall(f"{timeout!r}\n".encode() + request)
        conn.shutdown(socket.SHUT_WR)
        while len(reply) <= _MAX_REPLY:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    except TimeoutError:
        raise
    except OSError:
        if not reply:
            return None  # it went away before taking the request: nothing ran
        raise HelperLost(_LOST) from None
    finally:
        conn.close()
    if reply[:1] != ACCEPTED:
        return None  # STALE, or it closed before taking the request
    if len(reply) < 3 or not reply.endswith(b"\n"):
        raise HelperLost(_LOST)
    return bytes(reply[1:])


def live_helpers(directory: str) -> int:
    """Helpers serving from ``directory`` now (each holds the lock beside its socket)."""
    import fcntl

    live = 0
    for name in os.listdir(directory):
        if not name.endswith(".sock.lock"):
            continue
        try:
            fd = os.open(os.path.join(directory, name), os.O_WRONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            live += 1
        except OSError:
            pass
        finally:
            os.close(fd)  # closing drops a lock we took
    return live


def spawn(where: Route) -> None:
    """Start a helper for ``where`` in its own session, detached from this process's
    stdin/stdout/stderr and every other descriptor (a runtime waiting for EOF on our stdout
    must not wait for the helper). Two racing starts are fine: the helper's lock picks one.

    Not when :data:`MAX_HELPERS` already serve other settings: a runtime that changes some
    environment variable on every spawn would otherwise leave a helper per request."""
    directory = os.path.dirname(where.socket)
    if live_helpers(directory) >= MAX_HELPERS:
        sys.stderr.write(
            f"prx-email-ta: {MAX_HELPERS} warm helpers already serve other settings; none "
            "started (does the runtime change an environment variable on every request?)\n"
        )
        return
    argv = [sys.executable, "-m", "prx_email.adapters.ta._helper", "--socket", where.socket]
    if where.db is not None:
        argv += ["--db", where.db]
    if where.config is not None:
        argv += ["--config", where.config]
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        # Its stderr (a start that fails before it logs) goes to its log, never to ours.
        (
            os.POSIX_SPAWN_OPEN,
            2,
            where.socket + ".log",
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o600,
        ),
    ]
    try:
        inherited = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        inherited = []
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in inherited if fd > 2]
    # No helper this time on failure: the next request answers in-process and tries again.
    with contextlib.suppress(OSError):
        os.posix_spawn(sys.executable, argv, dict(os.environ), file_actions=actions, setsid=True)
