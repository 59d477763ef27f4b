"""IMAP commands the drafts service needs: folder roles, APPEND with flags, UID EXPUNGE.

Roles come from RFC 6154 SPECIAL-USE attributes (``\\Drafts``, ``\\Sent``, ``\\Trash``,
``\\Junk``), asked with ``LIST "" "*" RETURN (SPECIAL-USE)`` when the server announces the
extension and from plain ``LIST`` attributes otherwise (many servers send them anyway).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._client import ImapClient
from ._quote import Literal, astring, mailbox
from ._response import format_uid_set

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


async def append(
    client: ImapClient, folder: str, raw: bytes, flags: Sequence[bytes] = ()
) -> int | None:
    """APPEND ``raw`` to ``folder``; the new UID when the server reports APPENDUID (UIDPLUS)."""
    tagged = await client.command(
        [b"APPEND", mailbox(folder), b"(" + b" ".join(flags) + b")", Literal(raw)],
        name="APPEND",
    )
    m = _APPENDUID.search(tagged.text)
    return int(m.group(2)) if m else None


async def search_message_id(client: ImapClient, message_id: str) -> list[int]:
    """UIDs of the selected folder whose Message-ID header contains ``message_id``.

    Messages already flagged ``\\Deleted`` (removed, not yet expunged) are left out.
    """
    return await client.uid_search(
        [b"UNDELETED", b"HEADER", b"MESSAGE-ID", astring(message_id, "Message-ID")]
    )


async def uid_delete(client: ImapClient, uids: Sequence[int]) -> None:
    """Flag ``uids`` of the selected folder ``\\Deleted`` and expunge exactly those.

    With UIDPLUS, ``UID EXPUNGE`` removes only these UIDs; without it a plain ``EXPUNGE``
    also removes whatever else was already flagged ``\\Deleted`` in the folder (RFC 3501
    has no narrower command).
    """
    if not uids:
        return
    uid_set = format_uid_set(sorted(uids)).encode("ascii")
    await client.command(
        [b"UID", b"STORE", uid_set, b"+FLAGS.SILENT", b"(\\Deleted)"], name="UID STORE"
    )
    if "UIDPLUS" in client.capabilities:
        await client.command([b"UID", b"EXPUNGE", uid_set], name="UID EXPUNGE")
    else:
        await client.command([b"EXPUNGE"], name="EXPUNGE")
