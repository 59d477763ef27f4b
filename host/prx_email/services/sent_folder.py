"""The account's Sent folder: append a copy after sending, and look a Message-ID up there.

The lookup is what makes lease recovery safe: a row found in ``sending`` after its lease
expired may or may not have been delivered (the worker died between the server's ``250`` to
DATA and the finalize). If the Message-ID is in the Sent folder (the server files sent mail
itself, or our append ran), it was delivered and the row is marked ``sent`` without a second
delivery.

:class:`SentFolder` is the seam; :class:`ImapSentFolder` is the real one (one IMAP connection
per account, reused across a drained batch).
"""

from __future__ import annotations

from typing import Protocol

from ..auth.credentials import CredentialProvider, OAuthBearer
from ..config.model import AccountConfig
from ..errors import AuthFailed, ConfigError
from ..mail.errors import map_imap_errors
from ..mail.imap import ImapClient, Literal, astring, connect, mailbox


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
    """The Sent folder to use, or None when the account has no IMAP or no Sent folder."""
    if account.imap is None or not account.send.sent_folder:
        return None
    return account.send.sent_folder


class ImapSentFolder:
    """Sent folder over IMAP with the project's IMAP client; connections kept until close."""

    def __init__(self, credentials: CredentialProvider) -> None:
        self.credentials = credentials
        self._clients: dict[int, ImapClient] = {}

    async def _client(self, account: AccountConfig) -> ImapClient:
        client = self._clients.get(account.id)
        if client is not None:
            return client
        server = account.imap
        if server is None:
            raise ConfigError(f"account {account.id} has no IMAP server for the Sent folder")
        for attempt in (1, 2):
            cred = await self.credentials.credential(account, "imap")
            try:
                with map_imap_errors(server.host, server.port):
                    client = await connect(server, cred)
                break
            except AuthFailed:
                if (
                    attempt == 1
                    and isinstance(cred, OAuthBearer)
                    and await self.credentials.rejected(account, "imap")
                ):
                    continue
                raise
        assert client is not None
        self._clients[account.id] = client
        return client

    async def _run_append(self, account: AccountConfig, folder: str, raw: bytes) -> None:
        server = account.imap
        assert server is not None
        client = await self._client(account)
        with map_imap_errors(server.host, server.port, folder=folder):
            await client.command(
                [b"APPEND", mailbox(folder), b"(\\Seen)", Literal(raw)], name="APPEND"
            )

    async def append(self, account: AccountConfig, raw: bytes) -> None:
        folder = sent_folder_name(account)
        if folder is None:
            return
        try:
            await self._run_append(account, folder, raw)
        except Exception:
            await self._drop(account.id)
            raise

    async def contains(self, account: AccountConfig, message_id: str) -> bool:
        folder = sent_folder_name(account)
        if folder is None:
            raise ConfigError(f"account {account.id} has no Sent folder to look in")
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
