"""Attachment files: received ones saved content-addressed, outgoing ones read under policy."""

from ._policy import attachment_root, is_allowed_type
from .inbound import RECEIVED_DIR, save_attachment, save_attachments, stored_path
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
