"""Folder attributes from LIST, and the special-use folders they name (RFC 6154).

``LIST "" "*"`` answers ``* LIST (\\HasNoChildren \\Sent) "." Sent``; a server with
SPECIAL-USE puts the role attributes (``\\Sent``, ``\\Drafts``, …) among the others.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._client import ImapClient
from ._quote import decode_mailbox
from ._response import parse_values

__all__ = ["SPECIAL_USE", "list_attributes", "special_folders"]

#: The roles the plugin uses, in the order it reports them.
SPECIAL_USE = ("\\Sent", "\\Drafts", "\\Trash", "\\Archive")


async def list_attributes(client: ImapClient) -> dict[str, frozenset[str]]:
    """Every folder the account can see, with its LIST attributes (case as the server sent)."""
    tagged = await client.command([b"LIST", b'""', b'"*"'])
    out: dict[str, frozenset[str]] = {}
    for resp in tagged.untagged:
        if not resp.line.startswith(b"* LIST "):
            continue
        vals = parse_values(resp.parts, 7)
        if len(vals) < 3 or not isinstance(vals[0], list):
            continue
        name = vals[-1]
        if isinstance(name, int):
            name = str(name).encode()
        if not isinstance(name, bytes):
            continue
        attrs = frozenset(a.decode("ascii", "replace") for a in vals[0] if isinstance(a, bytes))
        out[decode_mailbox(name.decode("utf-8", "replace"))] = attrs
    return out


def special_folders(folders: Mapping[str, frozenset[str]]) -> dict[str, str]:
    """Role attribute (``\\Sent``…) → the first folder carrying it; roles not found are absent."""
    found: dict[str, str] = {}
    for name, attrs in folders.items():
        lowered = {a.lower() for a in attrs}
        for role in SPECIAL_USE:
            if role.lower() in lowered and role not in found:
                found[role] = name
    return found
