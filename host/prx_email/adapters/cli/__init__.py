"""The ``prx-email`` command."""

from .main import main

__all__ = ["main"]
