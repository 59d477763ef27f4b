"""``prx-email mcp --print-config CLIENT``: the config snippet for an MCP client.

Claude Desktop and Cursor read ``{"mcpServers": {name: {"command", "args", "env"}}}``
(``claude_desktop_config.json``, ``.cursor/mcp.json``); VS Code reads
``{"servers": {name: {"type": "stdio", "command", "args"}}}`` (``.vscode/mcp.json``).
The command is the absolute path of the running ``prx-email`` script (else this Python
with ``-m prx_email.adapters.cli``), so the client needs no PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

__all__ = ["CLIENTS", "command_line", "snippet"]

CLIENTS = ("claude", "vscode", "cursor")


def command_line(extra: list[str] | None = None) -> list[str]:
    """The absolute command that starts this server over stdio, then its arguments.

    The running ``prx-email`` script, else the one beside this Python (a venv's bin/), else
    the one on PATH, else this Python with ``-m``. Paths are made absolute but symlinks are
    kept: a venv's python is a symlink whose target would not see the venv's packages.
    """
    tail = ["mcp", *(extra or [])]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    candidates = [
        script if script is not None and script.name == "prx-email" else None,
        Path(sys.executable).with_name("prx-email"),
    ]
    on_path = shutil.which("prx-email")
    candidates.append(Path(on_path) if on_path else None)
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return [os.path.abspath(candidate), *tail]
    return [os.path.abspath(sys.executable), "-m", "prx_email.adapters.cli", *tail]


def snippet(client: str, *, db: str | None = None, config: str | None = None) -> str:
    """The JSON to paste into ``client``'s MCP config (``--db``/``--config`` as absolute paths)."""
    extra: list[str] = []
    if db:
        extra += ["--db", str(Path(db).resolve())]
    if config:
        extra += ["--config", str(Path(config).resolve())]
    command, *args = command_line(extra)
    entry: dict[str, Any] = {"command": command, "args": args}
    if client == "vscode":
        document: dict[str, Any] = {"servers": {"prx-email": {"type": "stdio", **entry}}}
    elif client in ("claude", "cursor"):
        document = {"mcpServers": {"prx-email": {**entry, "env": {}}}}
    else:
        raise ValueError(f"unknown client {client!r}: one of {', '.join(CLIENTS)}")
    return json.dumps(document, indent=2)
