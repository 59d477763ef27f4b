"""prx-email: a WebAssembly-sandboxed email plugin for AI-agent runtimes.

Embed it with ``open_plugin``; errors on the Python API are ``EmailError`` subclasses.
"""

from .api import Envelope, Plugin, load_config, open_plugin
from .bridge import NETWORK_ENV, HostServices, network_enabled
from .errors import EmailError, ErrorCode
from .runtime import Limits

__all__ = [
    "NETWORK_ENV",
    "EmailError",
    "Envelope",
    "ErrorCode",
    "HostServices",
    "Limits",
    "Plugin",
    "load_config",
    "network_enabled",
    "open_plugin",
]
