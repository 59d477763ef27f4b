"""Attachment files: received ones saved content-addressed, outgoing ones read under policy.

The outgoing half is imported on first use, so a sync process does not load the send types.
"""

from typing import TYPE_CHECKING

from ..._lazy import lazy_getattr
from ._policy import attachment_root, is_allowed_type
from .inbound import RECEIVED_DIR, save_attachment, save_attachments, stored_path

if TYPE_CHECKING:
    from .outgoing import load_attachments, read_outgoing, resolve_outgoing_path

__all__ = [
    "RECEIVED_DIR",
    "attachment_root",
    "is_allowed_type",
    "load_attachments",
    "read_outgoing",
    "resolve_outgoing_path",
    "save_attachment",
    "save_attachments",
    "stored_path",
]

_OUTGOING = ".outgoing"
__getattr__ = lazy_getattr(
    __name__,
    dict.fromkeys(("load_attachments", "read_outgoing", "resolve_outgoing_path"), _OUTGOING),
    globals(),
)
