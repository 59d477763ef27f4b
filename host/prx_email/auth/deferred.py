"""A credential provider that creates the process's ``CredentialManager`` on first use.

A request that never connects (network off, a store read: one TA request, a CLI call) then
never imports the OAuth2 and token-sealing stack (urllib, cryptography).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config.model import AccountConfig
    from .credentials import Credential, Protocol_
    from .manager import CredentialManager

__all__ = ["DeferredCredentials", "resolved"]


class DeferredCredentials:
    """The process's ``CredentialManager``, created when a connection first asks for it.

    ``ServiceContext.credentials`` of an opened plugin: a request that never connects
    (network off, a store read) never imports the OAuth2 and sealing stack.
    """

    def __init__(self) -> None:
        self._manager: CredentialManager | None = None

    def resolve(self) -> CredentialManager:
        if self._manager is None:
            from . import default_manager

            self._manager = default_manager()
        return self._manager

    async def credential(self, account: AccountConfig, protocol: Protocol_) -> Credential:
        return await self.resolve().credential(account, protocol)

    async def rejected(self, account: AccountConfig, protocol: Protocol_) -> bool:
        return await self.resolve().rejected(account, protocol)


def resolved(provider: object) -> object:
    """``provider``, or the manager a :class:`DeferredCredentials` stands for (created now)."""
    return provider.resolve() if isinstance(provider, DeferredCredentials) else provider
