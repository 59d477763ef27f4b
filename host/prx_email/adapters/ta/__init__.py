"""The TA messaging-plugin adapter (protocol v1, one process per request; docs/ta-protocol.md)."""

from ._main import add_options, answer, main, run

__all__ = ["add_options", "answer", "main", "run"]
