r"""The account's Sent folder: append a copy after sending, and look a Message-ID up there.

Two different roles, chosen per account by ``[accounts.send] server_files_sent``:

- **Evidence** (``server_files_sent = true``: Gmail, Outlook, a relay that files into IMAP):
  the server puts every message it accepts into Sent, so a row found in ``sending`` after its
  lease expired (the worker died between the server's ``250`` to DATA and the finalize) is
  looked up there: found means delivered, and it is marked ``sent`` without a second delivery.
  We append nothing ourselves.
- **Copy** (``append_to_sent = true`` otherwise): we append the message after the finalize.
  That copy can never be evidence for the window between the server's ``250`` and our
  finalize (it does not exist yet then), so recovery does not look for it. A copy still to
  be appended is recorded durably with the finalize (``copy_pending``) and repaired by the
  next drain when a kill came in between.

The folder is ``[accounts.send] sent_folder`` when set, else the mailbox the server marks
``\Sent`` (RFC 6154 SPECIAL-USE), else a mailbox named ``Sent``; none found means no copy.

:class:`SentFolder` is the seam; :class:`ImapSentFolder` is the real one (one IMAP connection
per account, reused across a drained batch).
"""

from __future__ import annotations

import re
from typing import Protocol

from ..auth.credentials import CredentialProvider
from ..config.model import AccountConfig
from ..errors import ConfigError
from ..mail.errors import map_imap_errors
from ..mail.imap import ImapClient, Literal, astring, decode_mailbox, mailbox
from .imap_login import login


class SentFolder(Protocol):
    async def append(self, account: AccountConfig, raw: bytes) -> None:
        """Store a copy of a sent message (flagged ``\\Seen``).

        :raises EmailError: the copy could not be stored.
        """
        ...

    async def contains(self, account: AccountConfig, message_id: str) -> bool:
        """Whether a message with that Message-ID is in the Sent folder.

        :raises EmailError: the lookup could not be done (then the caller cannot tell).
        """
        ...

    async def close(self) -> None: ...


def sent_folder_name(account: AccountConfig) -> str | None:
    """The configured Sent folder, or None (no IMAP, or to be discovered from the server)."""
    if account.imap is None or not account.send.sent_folder:
        return None
    return account.send.sent_folder


def keeps_copy(account: AccountConfig) -> bool:
    """Whether we append our own copy to Sent after sending."""
    s = account.send
    return account.imap is not None and s.append_to_sent and not s.server_files_sent


def has_evidence(account: AccountConfig) -> bool:
    """Whether Sent can settle an unknown outcome (the server files sent mail itself)."""
    return account.imap is not None and account.send.server_files_sent


# `* LIST (\HasNoChildren \Sent) "/" "Sent"` — flags, delimiter, then the name (quoted or
# an atom; a literal name is not handled and falls back to the name match).
_LIST = re.compile(rb'^\* LIST \(([^)]*)\) (?:NIL|"(?:[^"\\]|\\.)*"|\S+) (.+)$')
_FALLBACK_NAMES = ("sent", "sent items", "sent messages", "inbox.sent", "inbox/sent")


def _list_name(raw: bytes) -> str:
    raw = raw.strip()
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
    return decode_mailbox(raw.decode("utf-8", "replace"))


def pick_sent(lines: list[bytes]) -> str | None:
    r"""The ``\Sent`` mailbox among LIST responses, else one named like Sent; else None."""
    names: list[str] = []
    for line in lines:
        m = _LIST.match(line.rstrip(b"\r\n"))
        if m is None:
            continue
        name = _list_name(m.group(2))
        if b"\\sent" in m.group(1).lower().split():
            return name
        names.append(name)
    by_lower = {n.lower(): n for n in names}
    for candidate in _FALLBACK_NAMES:
        if candidate in by_lower:
            return by_lower[candidate]
    return None


class ImapSentFolder:
    """Sent folder over IMAP with the project's IMAP client; connections kept until close."""

    def __init__(self, credentials: CredentialProvider) -> None:
        self.credentials = credentials
        self._clients: dict[int, ImapClient] = {}
        self._folders: dict[int, str | None] = {}

    async def _client(self, account: AccountConfig) -> ImapClient:
        client = self._clients.get(account.id)
        if client is not None:
            return client
        if account.imap is None:
            raise ConfigError(f"account {account.id} has no IMAP server for the Sent folder")
        client = await login(self.credentials, account)
        self._clients[account.id] = client
        return client

    async def folder(self, account: AccountConfig) -> str | None:
        """The account's Sent folder: configured, else discovered once per instance.

        :raises EmailError: the server could not be asked.
        """
        configured = sent_folder_name(account)
        if configured is not None or account.imap is None:
            return configured
        if account.id in self._folders:
            return self._folders[account.id]
        server = account.imap
        try:
            client = await self._client(account)
            with map_imap_errors(server.host, server.port):
                if "SPECIAL-USE" in client.capabilities:
                    tagged = await client.command(
                        [b"LIST", b"(SPECIAL-USE)", b'""', b'"*"'], name="LIST"
                    )
                    found = pick_sent([r.line for r in tagged.untagged])
                else:
                    found = None
                if found is None:
                    # No \Sent mailbox marked: fall back to the usual names.
                    tagged = await client.command([b"LIST", b'""', b'"*"'], name="LIST")
                    found = pick_sent([r.line for r in tagged.untagged])
        except Exception:
            await self._drop(account.id)
            raise
        self._folders[account.id] = found
        return found

    async def _run_append(self, account: AccountConfig, folder: str, raw: bytes) -> None:
        server = account.imap
        assert server is not None
        client = await self._client(account)
        with map_imap_errors(server.host, server.port, folder=folder):
            await client.command(
                [b"APPEND", mailbox(folder), b"(\\Seen)", Literal(raw)], name="APPEND"
            )

    async def append(self, account: AccountConfig, raw: bytes) -> None:
        folder = await self.folder(account)
        if folder is None:
            raise ConfigError(
                f"account {account.id}: the IMAP server has no Sent folder (no \\Sent"
                " SPECIAL-USE mailbox, none named Sent)",
                hint="set [accounts.send] sent_folder to the folder to keep sent copies in",
            )
        try:
            await self._run_append(account, folder, raw)
        except Exception:
            await self._drop(account.id)
            raise

    async def contains(self, account: AccountConfig, message_id: str) -> bool:
        folder = await self.folder(account)
        if folder is None:
            raise ConfigError(
                f"account {account.id} has no Sent folder to look in",
                hint="set [accounts.send] sent_folder",
            )
        server = account.imap
        assert server is not None
        try:
            client = await self._client(account)
            with map_imap_errors(server.host, server.port, folder=folder):
                await client.select(folder, readonly=True, condstore=False)
                uids = await client.uid_search(
                    [b"HEADER", b"MESSAGE-ID", astring(message_id, "Message-ID")]
                )
        except Exception:
            await self._drop(account.id)
            raise
        return bool(uids)

    async def _drop(self, account_id: int) -> None:
        client = self._clients.pop(account_id, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        try:
            for client in clients:
                await client.logout()
        finally:
            # Cancelled or failed part-way: the rest are still released before returning.
            for client in clients:
                await client.close()
