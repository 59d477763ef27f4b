"""The TA messaging-plugin adapter (protocol v1, one process per request; docs/ta-protocol.md)."""

from ._main import main, run

__all__ = ["main", "run"]
