"""Attachments of stored messages: their metadata, and their bytes as parsed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AttachmentMeta:
    """Metadata of one attachment; the bytes stay in the host's attachment store."""

    index: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
    stored: bool


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    """An attachment as parsed from a raw message, with its decoded bytes."""

    filename: str | None
    content_type: str
    data: bytes = field(repr=False)
    sha256: str = ""
