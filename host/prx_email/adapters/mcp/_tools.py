"""The catalogue as MCP tools, and envelopes as ``CallToolResult``.

Names are the catalogue's (``email.list``): MCP tool names may hold ``[A-Za-z0-9._-]``
(1-128 characters), so no mapping is needed. ``inputSchema`` is the catalogue's
``input_schema`` object itself (the one the guest validates with). Annotations come from
the catalogue's flags: read_only → readOnlyHint, destructive → destructiveHint,
idempotent → idempotentHint, network → openWorldHint.

A result carries the envelope's ``data`` as ``structuredContent`` (a list is wrapped as
``{"items": [...]}``: structured content is an object) and a short text rendering; a failure
is ``isError`` with ``{"code", "message", "hint"}`` as structured content and in the text.
"""

from __future__ import annotations

import json
from typing import Any

import mcp.types as types

from ...envelope import Envelope

__all__ = ["TEXT_LIMIT", "Catalogue", "as_result", "as_tools", "is_slow", "render"]

#: The text rendering is cut here (the whole result is in structuredContent).
TEXT_LIMIT = 8000

Catalogue = list[dict[str, Any]]

#: Appended to each catalogue description: what a model should know about every tool.
_SUFFIX = (
    " Runs in prx-email's sandbox; failures come back as an error result with a code"
    " (EMAIL_…), a message and a hint saying what to do next."
)


def tool_annotations(entry: dict[str, Any]) -> types.ToolAnnotations:
    flags = entry.get("annotations") or {}
    return types.ToolAnnotations(
        title=entry["name"],
        read_only_hint=bool(flags.get("read_only")),
        destructive_hint=bool(flags.get("destructive")),
        idempotent_hint=bool(flags.get("idempotent")),
        open_world_hint=bool(flags.get("network")),
    )


def as_tools(catalogue: Catalogue) -> list[types.Tool]:
    """One MCP tool per catalogue entry, in catalogue order."""
    return [
        types.Tool(
            name=entry["name"],
            description=str(entry.get("description", "")) + _SUFFIX,
            input_schema=entry["input_schema"],
            annotations=tool_annotations(entry),
        )
        for entry in catalogue
    ]


def is_slow(entry: dict[str, Any], args: dict[str, Any], *, network_on: bool) -> bool:
    """Whether this call may wait on a mail server (it then takes the slow lane).

    Tools without the ``network`` effect never do. A read with it asks the server only when
    the host's network flag is on, and a read with a ``remote`` argument only when that is
    true (``email.search``: local by default). A tool that changes something always may.
    """
    effects = entry.get("effects") or {}
    if not effects.get("network"):
        return False
    if effects.get("mutates"):
        return True
    if "remote" in (entry.get("input_schema") or {}).get("properties", {}):
        return bool(args.get("remote")) and network_on
    return network_on


def render(tool: str, data: object) -> str:
    """A short text rendering of a result: a headline and the data as compact JSON."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    headline = f"{tool}: ok"
    if isinstance(data, dict):
        counts = [f"{len(v)} {k}" for k, v in data.items() if isinstance(v, list)]
        if counts:
            headline += " (" + ", ".join(counts) + ")"
        if data.get("next_cursor"):
            headline += "; more with cursor=next_cursor"
    elif isinstance(data, list):
        headline += f" ({len(data)} items)"
    if len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT] + " … (cut; the whole result is in structuredContent)"
    return f"{headline}\n{text}"


def as_result(tool: str, envelope: Envelope) -> types.CallToolResult:
    """The MCP result of one envelope (never raises for a failed tool)."""
    if envelope.get("ok"):
        data = envelope.get("data")
        structured = data if isinstance(data, dict) else {"items": data}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=render(tool, data))],
            structured_content=structured,
        )
    error = envelope.get("error") or {}
    payload = {
        "code": str(error.get("code", "EMAIL_INTERNAL")),
        "message": str(error.get("message", "")),
        "hint": str(error.get("hint", "")),
    }
    text = f"{payload['code']}: {payload['message']}\nhint: {payload['hint']}"
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=payload,
        is_error=True,
    )
