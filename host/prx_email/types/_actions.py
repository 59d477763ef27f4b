"""Results of mailbox actions (issue 11): folders, per-message outcomes, downloads."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import MessageKey
from ._message import MessageSummary, Removal


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """One folder: its role (RFC 6154, lower case: ``"trash"``…), counts, whether synced.

    Counts come from STATUS when listed from the server, from the stored rows otherwise.
    """

    name: str
    role: str | None
    messages: int
    unseen: int
    synced: bool


@dataclass(frozen=True, slots=True)
class FolderList:
    """The folders of an account; ``source`` is ``"server"`` or ``"local"`` (network off)."""

    folders: tuple[FolderInfo, ...]
    source: str


class ActionOutcome(enum.StrEnum):
    """What an action did to one message."""

    CHANGED = "changed"  # flags or labels changed
    UNCHANGED = "unchanged"  # already as asked: nothing sent for it
    MOVED = "moved"
    ALREADY_THERE = "already_there"
    DELETED = "deleted"
    NOT_FOUND = "not_found"  # not in the store, or no longer on the server
    LOCAL_ONLY = "local_only"  # imported from a local mailbox: no server copy to act on


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome for one id: where the message is now (folder, UID) and its flags.

    ``folder``/``uid`` are None after a permanent delete, for an unknown id, and for a move
    whose new UID the server did not report (the next sync of ``new_folder`` stores it).
    """

    id: MessageKey
    outcome: ActionOutcome
    folder: str | None = None
    uid: int | None = None
    flags: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttachmentDownload:
    """One attachment's bytes: written to ``path``, or inline base64 (``data_base64``).

    ``message_id`` is the store's message key (as ``email.reply``'s), not the Message-ID
    header; ``sha256`` and ``size`` are of the bytes handed out.
    """

    message_id: MessageKey
    index: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
    path: str | None = None
    data_base64: str | None = None
    fetched_from_server: bool = False


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation: its id (the root Message-ID) and its stored messages, oldest first."""

    thread_id: str
    messages: tuple[MessageSummary, ...]
    #: As on ``Message``: set on the way out to the agent, over every summary.
    untrusted: bool = False
    removed: tuple[Removal, ...] = ()
