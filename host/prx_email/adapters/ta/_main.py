"""``prx-email-ta`` (also ``prx-email ta``): one request line in, one response line out.

The process writes exactly one line of JSON to stdout for every input and exits 0 once it
has; logs and warnings go to stderr (file descriptor 1 itself is pointed at stderr for the
run, so not even a C library can write a stray byte to the response stream). The whole
request, stdin included, runs under the adapter's own timeout; when it expires the adapter
answers ``ok: false`` naming it and exits instead of waiting to be killed.
"""

from __future__ import annotations

import gc
import logging
import os
import select
import sys
import threading
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from ...errors import EmailError
from ._cmdline import (
    TIMEOUT_ENV,
    ArgError,
    HelpRequested,
    add_options,
    parse_argv,
    resolve_timeout,
)
from ._protocol import MAX_REQUEST_BYTES, ProtocolError, encode, failure, parse_line
from ._rendezvous import HelperLost, Route, ask, route, spawn

if TYPE_CHECKING:
    from ...api import Plugin

__all__ = ["add_options", "answer", "main", "read_request", "respond", "run", "serve"]

log = logging.getLogger("prx_email.ta")


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


def _error_text(exc: EmailError) -> str:
    hint = exc.hint or exc.code.default_hint
    return f"{exc.code.envelope}: {exc.message} (hint: {hint})"


def serve(
    data: bytes, db: str | None, config: str | None, plugin: Plugin | None = None
) -> dict[str, Any]:
    """The response to one request (never raises for a bad request or a failed op).

    ``plugin``: an open one to run it on (the warm helper's), else one is opened for it.
    """
    try:
        request = parse_line(data)
        from ._ops import OPERATIONS

        op = OPERATIONS[request.op]
        if plugin is not None:
            return op(plugin, plugin.context.config, request.params)
        from ...api import open_plugin

        # Always draft-only: whatever the config says, nothing this process runs can send.
        with open_plugin(db=db, config=config, mode="draft_only", entry_point="ta") as opened:
            return op(opened, opened.context.config, request.params)
    except ProtocolError as exc:
        return failure(str(exc))
    except EmailError as exc:
        return failure(_error_text(exc))
    except Exception:
        log.exception("the TA adapter failed")
        return failure("internal error in the plugin (details on its stderr)")


def _claim_stdout() -> IO[bytes]:
    """The response stream; fd 1 (and ``sys.stdout``) now lead to stderr."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def run(argv: Sequence[str] | None = None, *, prog: str = "prx-email-ta") -> int:
    out = _claim_stdout()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        opts = parse_argv(sys.argv[1:] if argv is None else argv, prog)
        timeout = resolve_timeout(opts.timeout)
    except ArgError as exc:
        _write(out, failure(f"bad command line for {prog}: {exc}"))
        return 0
    except HelpRequested:  # its text went to stderr; still answer one line
        _write(out, failure(f"{prog} reads one JSON request line on stdin"))
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
        _write(out, failure(f"bad command line for {prog}: {exc}"))
        return 0
    return respond(out, seconds, db, config)


def respond(out: IO[bytes], timeout: float, db: str | None, config: str | None) -> int:
    """Serve stdin within ``timeout``; write the one response line to ``out``; exit code 0.

    The warm helper answers when one runs for this setting (``_rendezvous``); otherwise the
    request runs here, and a helper is started for the next one once the answer is out.
    """
    result: list[dict[str, Any] | bytes] = []
    start_helper: list[Route] = []

    def work() -> None:
        try:
            data = read_request(sys.stdin.fileno())
        except OSError as exc:
            result.append(failure(f"cannot read the request from stdin: {exc.strerror}"))
            return
        where = route(db, config)
        if where is not None:
            try:
                line = ask(where, data, timeout)
            except HelperLost as exc:
                result.append(failure(str(exc)))
                return
            except TimeoutError:
                return  # the join below answers the timeout
            if line is not None:
                result.append(line)
                return
            start_helper.append(where)
        result.append(serve(data, db, config))

    worker = threading.Thread(target=work, name="prx-email-ta", daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:
        _write(
            out, failure(f"timed out after {timeout:g} s (the adapter's --timeout / {TIMEOUT_ENV})")
        )
        # The worker may be blocked in a server call or on stdin: do not wait for it.
        os._exit(0)
    _write(out, result[0])
    for where in start_helper:
        spawn(where)
    return 0


def _write(out: IO[bytes], response: dict[str, Any] | bytes) -> None:
    out.write(response if isinstance(response, bytes) else encode(response))
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
