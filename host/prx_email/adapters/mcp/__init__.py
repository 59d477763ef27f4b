"""``prx-email mcp``: the plugin as an MCP server (stdio or streamable HTTP).

Tools are the catalogue's, resources and prompts are ours, every call goes through the
sandboxed ``Plugin``. See docs/mcp.md.
"""

from ._auth import TOKEN_ENV, BearerGate, load_token, make_token_file
from ._changes import Change, ChangeSource, StoreWatcher, Subscriptions
from ._run import HttpSettings, serve_http, serve_stdio
from ._server import McpApp, build_server
from ._snippets import CLIENTS, snippet
from ._tools import as_result, as_tools

__all__ = [
    "CLIENTS",
    "TOKEN_ENV",
    "BearerGate",
    "Change",
    "ChangeSource",
    "HttpSettings",
    "McpApp",
    "StoreWatcher",
    "Subscriptions",
    "as_result",
    "as_tools",
    "build_server",
    "load_token",
    "make_token_file",
    "serve_http",
    "serve_stdio",
    "snippet",
]
