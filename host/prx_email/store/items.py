"""The values going into and out of the message store (``store/messages.py``).

Parsed messages come in as any object with the fields of :class:`MessageFields` /
:class:`SummaryFields` (the parser's ``ParsedMessage`` / ``ParsedSummary`` are), so the
store does not depend on the parser; what comes out is domain values and these small
records, never sqlite types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..config.model import AttachmentPolicy
from ..types import AccountId, AttachmentMeta, MessageKey, ParsedAttachment

if TYPE_CHECKING:
    from ..mail.bounce import Bounce
    from ..types import MessagePage

__all__ = [
    "CompletedRow",
    "CompletionSettings",
    "ListedPage",
    "MessageFields",
    "PendingRow",
    "StoreItem",
    "SummaryFields",
    "SummaryItem",
]


class _HeaderFields(Protocol):
    """The header fields every stored message has, parsed in full or as a summary."""

    @property
    def message_id(self) -> str | None: ...
    @property
    def subject(self) -> str: ...
    @property
    def from_(self) -> str: ...
    @property
    def to(self) -> tuple[str, ...]: ...
    @property
    def cc(self) -> tuple[str, ...]: ...
    @property
    def reply_to(self) -> tuple[str, ...]: ...
    @property
    def in_reply_to(self) -> str | None: ...
    @property
    def references(self) -> tuple[str, ...]: ...
    @property
    def date(self) -> int | None: ...


class SummaryFields(_HeaderFields, Protocol):
    """The header-level fields the store keeps of a message (the parser's ``ParsedSummary``)."""

    @property
    def attachment_hint(self) -> bool: ...


class MessageFields(_HeaderFields, Protocol):
    """Everything the store keeps of a fully parsed message (the parser's ``ParsedMessage``)."""

    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def body_text(self) -> str | None: ...
    @property
    def body_html(self) -> str | None: ...
    @property
    def body_truncated(self) -> bool: ...
    @property
    def snippet(self) -> str: ...
    @property
    def attachments(self) -> tuple[ParsedAttachment, ...]: ...
    @property
    def sha256(self) -> str: ...
    @property
    def index_text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class StoreItem:
    """One message to store.

    ``uid`` is the IMAP UID, or None for a message imported from a local mailbox (then
    ``import_key``, default the sha256 of the raw bytes, makes a re-import a no-op).
    ``attachments`` is the metadata to record (with ``stored`` set by the attachment
    saver); None records every parsed attachment as not stored.
    """

    uid: int | None
    flags: tuple[str, ...]
    size: int
    parsed: MessageFields
    attachments: tuple[AttachmentMeta, ...] | None = None
    import_key: str | None = None
    #: The parsed bounce (``mail.bounce``) of a synced message: a ``bounce`` event, no new_mail.
    bounce: Bounce | None = None


class SummaryItem(NamedTuple):
    """One synced message stored as its summary now and completed later from ``raw``.

    A ``NamedTuple``: one is built per message on the sync hot path, for a third of a
    frozen dataclass's construction cost.
    """

    uid: int
    flags: tuple[str, ...]
    size: int
    summary: SummaryFields
    raw: bytes
    #: Why the message is automated (``mail.classify``), None for a person's mail.
    automated: str | None = None
    #: Stored without a new_mail event (``[accounts.events]`` suppress / sender filters).
    quiet: bool = False
    #: The parsed bounce (``mail.bounce``) when it is one: a ``bounce`` event, never new_mail.
    bounce: Bounce | None = None


class PendingRow(NamedTuple):
    """A stored row awaiting completion: its raw bytes and the summary stored with them."""

    key: MessageKey
    account_id: AccountId
    raw: bytes
    stored: tuple[object, ...]  # the summary columns as stored (see _SUMMARY_PART)


class CompletedRow(NamedTuple):
    """A pending row's full parse, and the attachment metadata to record for it."""

    pending: PendingRow
    parsed: MessageFields
    attachments: tuple[AttachmentMeta, ...]


@dataclass(frozen=True, slots=True)
class CompletionSettings:
    """How one account's pending rows are completed (recorded by the sync that stored them)."""

    max_body_bytes: int
    attachments: AttachmentPolicy | None  # None: record metadata only, save no bytes


class ListedPage(NamedTuple):
    """A page as stored, and which of its rows still await completion."""

    page: MessagePage
    pending: frozenset[MessageKey]
