"""Attachment policy checks shared by received and outgoing attachments."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from ...config.model import AttachmentPolicy
from ...errors import AttachmentRejected


def is_allowed_type(policy: AttachmentPolicy, content_type: str) -> bool:
    """Whether ``content_type`` matches one of the policy's patterns (``image/*`` style)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(ctype, pattern.lower()) for pattern in policy.allowed_types)


def attachment_root(policy: AttachmentPolicy) -> Path:
    if policy.root is None:
        raise AttachmentRejected(
            "no attachment root is configured",
            hint="set `root` in the [attachments] table of the config file",
        )
    return Path(policy.root)
