"""Calling host functions raw, as a guest that skipped validation would: no component."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any


class CapturingLinker:
    """Stands in for wasmtime's Linker: keeps the host functions ``define_host`` adds."""

    def __init__(self) -> None:
        self.functions: dict[str, Any] = {}

    @contextmanager
    def root(self) -> Iterator[CapturingLinker]:
        yield self

    @contextmanager
    def add_instance(self, _name: str) -> Iterator[CapturingLinker]:
        yield self

    def add_func(self, name: str, fn: Any) -> None:
        self.functions[name] = fn


def record(**fields: Any) -> SimpleNamespace:
    """A WIT record as wasmtime hands it in: kebab-case attribute names."""
    rec = SimpleNamespace()
    for key, value in fields.items():
        setattr(rec, key.replace("_", "-"), value)
    return rec
