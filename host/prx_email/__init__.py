"""prx-email: a WebAssembly-sandboxed email plugin for AI-agent runtimes."""

from .errors import EmailError, ErrorCode

__all__ = ["EmailError", "ErrorCode"]
