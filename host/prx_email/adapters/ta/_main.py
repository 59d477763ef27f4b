"""``prx-email-ta`` (also ``prx-email ta``): one request line in, one response line out.

The process writes exactly one line of JSON to stdout for every input and exits 0 once it
has; logs and warnings go to stderr (file descriptor 1 itself is pointed at stderr for the
run, so not even a C library can write a stray byte to the response stream). The whole
request, stdin included, runs under the adapter's own timeout; when it expires the adapter
answers ``ok: false`` naming it and exits instead of waiting to be killed.

This module is what every request imports, so it imports little: a request the warm helper
answers (``_rendezvous``) never loads the protocol, logging, the errors or the runtime.
"""

from __future__ import annotations

import gc
import os
import select
import sys
import threading

from ._cmdline import (
    TIMEOUT_ENV,
    ArgError,
    HelpRequested,
    add_options,
    parse_argv,
    resolve_timeout,
)
from ._rendezvous import HelperLost, Route, ask, route, spawn

TYPE_CHECKING = False  # not typing's: see prx_email/__init__.py
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO

__all__ = ["MAX_REQUEST_BYTES", "add_options", "answer", "main", "read_request", "respond", "run"]

#: Request bytes accepted on stdin (bodies of a large HTML draft fit easily).
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def read_request(fd: int) -> bytes:
    """The first line of ``fd`` plus whatever else is already waiting (to spot a second line).

    Returns at the first newline or EOF, never waits for EOF: a runtime may keep stdin open.
    """
    buf = bytearray()
    while b"\n" not in buf and len(buf) <= MAX_REQUEST_BYTES:
        chunk = os.read(fd, 65536)
        if not chunk:
            return bytes(buf)
        buf += chunk
    while len(buf) <= MAX_REQUEST_BYTES:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _failure(message: str) -> bytes:
    from ._protocol import encode, failure

    return encode(failure(message))


def _claim_stdout() -> IO[bytes]:
    """The response stream; fd 1 (and ``sys.stdout``) now lead to stderr."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def run(argv: Sequence[str] | None = None, *, prog: str = "prx-email-ta") -> int:
    out = _claim_stdout()
    try:
        opts = parse_argv(sys.argv[1:] if argv is None else argv, prog)
        timeout = resolve_timeout(opts.timeout)
    except ArgError as exc:
        _write(out, _failure(f"bad command line for {prog}: {exc}"))
        return 0
    except HelpRequested:  # its text went to stderr; still answer one line
        _write(out, _failure(f"{prog} reads one JSON request line on stdin"))
        return 0
    return respond(out, timeout, opts.db, opts.config)


def answer(
    timeout: float | None, db: str | None, config: str | None, *, prog: str = "prx-email ta"
) -> int:
    """Answer one request with the options already parsed (``prx-email ta``): the response
    stream claimed, the timeout resolved (``None``: the environment's, else the default)."""
    out = _claim_stdout()
    try:
        seconds = resolve_timeout(timeout)
    except ArgError as exc:
        _write(out, _failure(f"bad command line for {prog}: {exc}"))
        return 0
    return respond(out, seconds, db, config)


def _in_process(data: bytes, db: str | None, config: str | None) -> bytes:
    import logging

    from ._protocol import encode
    from ._serve import serve

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    return encode(serve(data, db, config))


def respond(out: IO[bytes], timeout: float, db: str | None, config: str | None) -> int:
    """Serve stdin within ``timeout``; write the one response line to ``out``; exit code 0.

    The warm helper answers when one runs for this setting (``_rendezvous``); otherwise the
    request runs here, and a helper is started for the next one once the answer is out.
    """
    result: list[bytes] = []
    start_helper: list[Route] = []

    def work() -> None:
        try:
            data = read_request(sys.stdin.fileno())
        except OSError as exc:
            result.append(_failure(f"cannot read the request from stdin: {exc.strerror}"))
            return
        where = route(db, config)
        if where is not None:
            try:
                line = ask(where, data, timeout)
            except HelperLost as exc:
                result.append(_failure(str(exc)))
                return
            except TimeoutError:
                return  # the join below answers the timeout
            if line is not None:
                result.append(line)
                return
            start_helper.append(where)
        result.append(_in_process(data, db, config))

    worker = threading.Thread(target=work, name="prx-email-ta", daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:
        _write(
            out,
            _failure(f"timed out after {timeout:g} s (the adapter's --timeout / {TIMEOUT_ENV})"),
        )
        # The worker may be blocked in a server call or on stdin: do not wait for it.
        os._exit(0)
    _write(out, result[0])
    for where in start_helper:
        spawn(where)
    return 0


def _write(out: IO[bytes], line: bytes) -> None:
    out.write(line)
    out.flush()


def main() -> int:
    """Console-script entry point (``prx-email-ta``): one request, then exit at once.

    A process that answers one request skips what only a long-lived one needs: cyclic GC
    passes while ~60 modules import (refcounting frees the rest), and, once the response
    is written, freeing the instance and finalizing the interpreter (~15 ms and ~50 ms of
    CPU here): the operating system reclaims it all. The store has committed by then.
    """
    gc.disable()
    code = run()
    sys.stderr.flush()
    os._exit(code)
