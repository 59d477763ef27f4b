"""Structured logs for the ``prx-email`` command: ``--log-format json|text``, ``--log-level``.

One handler on the ``prx_email`` logger writes to stderr (stdout stays the command's
output). A JSON line is one object::

    {"ts": "2026-12-01T21:30:00.123Z", "level": "warning", "event": "sync job failed",
     "logger": "prx_email.services.scheduler", "account": 1, "folder": "INBOX",
     "run_id": "5f0c…", "error_code": "EMAIL_AUTH_FAILED", "duration_ms": 12}

The fields of :data:`FIELDS` appear where a call passes them with ``extra=``; ``run_id`` is
also taken from the run in progress (:func:`run_scope`), so every line written during a sync
run or an outbox delivery attempt carries it, whichever module wrote it. No line carries a
traceback or an exception's text (library messages may quote server replies), only the
exception's class name.

Settings, first found wins: the flag, ``PRX_EMAIL_LOG_FORMAT`` / ``PRX_EMAIL_LOG_LEVEL``,
the config's ``[logging]`` table, then ``text`` / ``warning``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TextIO

from .config.model import LOG_FORMATS, LOG_LEVELS, LoggingSettings

__all__ = [
    "FIELDS",
    "FORMAT_ENV",
    "LEVEL_ENV",
    "JsonFormatter",
    "TextFormatter",
    "configure",
    "current_run_id",
    "new_run_id",
    "resolve_settings",
    "run_scope",
]

FORMAT_ENV = "PRX_EMAIL_LOG_FORMAT"
LEVEL_ENV = "PRX_EMAIL_LOG_LEVEL"
#: The structured fields, in the order they are written.
FIELDS = ("account", "folder", "message_id", "outbox_id", "run_id", "error_code", "duration_ms")

_RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "prx_email_run_id", default=None
)
_ROOT = "prx_email"


def new_run_id() -> str:
    """A fresh id for one sync run or outbox delivery attempt (16 hex digits: unique enough
    to grep for)."""
    return secrets.token_hex(8)


def current_run_id() -> str | None:
    return _RUN_ID.get()


@contextlib.contextmanager
def run_scope(run_id: str) -> Iterator[str]:
    """Within the block (and tasks it starts), log lines carry ``run_id``."""
    token = _RUN_ID.set(run_id)
    try:
        yield run_id
    finally:
        _RUN_ID.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in FIELDS:
        value = record.__dict__.get(name)
        if value is None and name == "run_id":
            value = _RUN_ID.get()
        if value is not None:
            out[name] = value
    return out


def _ts(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": _ts(record.created),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        doc.update(_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            doc["exc_type"] = record.exc_info[0].__name__
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-12-01T21:30:00.123Z warning prx_email.x: event key=value …``."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{_ts(record.created)} {record.levelname.lower()} {record.name}: "
        line += record.getMessage() + (f" {extra}" if extra else "")
        if record.exc_info and record.exc_info[0] is not None:
            line += f" exc_type={record.exc_info[0].__name__}"
        return line


def resolve_settings(
    fmt: str | None,
    level: str | None,
    config: LoggingSettings | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoggingSettings:
    """Flag, else environment, else config, else defaults.

    :raises ValueError: an environment value that is not a known format or level.
    """
    env = os.environ if environ is None else environ
    base = config or LoggingSettings()
    fmt = (fmt or env.get(FORMAT_ENV, "").strip() or base.format).lower()
    level = (level or env.get(LEVEL_ENV, "").strip() or base.level).lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(
            f"log format (--log-format, {FORMAT_ENV}) must be one of "
            f"{', '.join(LOG_FORMATS)}, got {fmt!r}"
        )
    if level not in LOG_LEVELS:
        raise ValueError(
            f"log level (--log-level, {LEVEL_ENV}) must be one of "
            f"{', '.join(LOG_LEVELS)}, got {level!r}"
        )
    return LoggingSettings(format=fmt, level=level)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the given stream, else to whatever ``sys.stderr`` is at each line."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        self._fixed = value


@contextlib.contextmanager
def configure(settings: LoggingSettings, stream: TextIO | None = None) -> Iterator[None]:
    """Within the block, ``prx_email`` log lines at ``settings.level`` go to ``stream``.

    Restores the logger as it was afterwards (the CLI runs in-process in tests and embedders).
    """
    logger = logging.getLogger(_ROOT)
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(settings.level.upper())
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
