"""Outgoing attachments: files the agent names under the root, or base64 data, checked.

A path must resolve (symlinks included) to a regular file under the attachment root, within
the size cap, of an allowed type; inline data is bounded before it is decoded. The total of
one message's attachments is capped by the same ``[attachments] max_bytes``.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ...config.model import AttachmentPolicy
from ...errors import AttachmentRejected, InvalidArgument
from ...mail.compose import AttachmentData, check_content_type
from ...types import AttachmentPath, OutgoingAttachment
from ._policy import attachment_root, is_allowed_type

__all__ = ["load_attachments", "read_outgoing", "resolve_outgoing_path"]


def _reject(message: str, hint: str) -> AttachmentRejected:
    return AttachmentRejected(message, hint=hint)


def resolve_outgoing_path(
    policy: AttachmentPolicy, user_path: str, *, content_type: str | None = None
) -> Path:
    """The real path of a file the agent wants to attach, checked against the policy.

    Relative paths are taken from the root. Refused: no root configured, ``..`` anywhere,
    a path (symlinks resolved) outside the root, anything but a regular file, more than
    ``max_bytes``, a content type (given, or guessed from the name) not allowed.

    :raises AttachmentRejected: with a hint saying what would be accepted.
    """
    root = attachment_root(policy)
    where = f"files under the attachment root {root}"
    if not user_path or "\x00" in user_path:
        raise _reject("empty or invalid attachment path", f"name one of the {where}")
    requested = Path(user_path)
    if ".." in requested.parts:
        raise _reject(f"attachment path {user_path!r} contains '..'", f"name one of the {where}")
    try:
        real_root = root.resolve(strict=True)
    except OSError as exc:
        raise _reject(
            "the attachment root does not exist", "create it or fix [attachments] root"
        ) from exc
    candidate = requested if requested.is_absolute() else real_root / requested
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise _reject(
            f"no such attachment file: {user_path!r}", f"name one of the {where}"
        ) from exc
    if not real.is_relative_to(real_root) or real == real_root:
        raise _reject(
            f"attachment path {user_path!r} is outside the attachment root",
            f"only {where} can be attached (symlinks are followed before this check)",
        )
    try:
        st = real.stat()
    except OSError as exc:
        raise _reject(f"cannot read attachment {user_path!r}", f"name one of the {where}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise _reject(f"attachment {user_path!r} is not a regular file", f"name one of the {where}")
    if st.st_size > policy.max_bytes:
        raise _reject(
            f"attachment {user_path!r} is {st.st_size} bytes, over the {policy.max_bytes} limit",
            "attach a smaller file or raise [attachments] max_bytes",
        )
    ctype = content_type or mimetypes.guess_type(real.name)[0] or "application/octet-stream"
    if not is_allowed_type(policy, ctype):
        raise _reject(
            f"attachment type {ctype} is not allowed",
            "allowed types: " + ", ".join(policy.allowed_types),
        )
    return real


def read_outgoing(
    policy: AttachmentPolicy, user_path: str, *, content_type: str | None = None
) -> bytes:
    """The bytes of an outgoing attachment, re-checking the size on the opened file.

    :raises AttachmentRejected: as :func:`resolve_outgoing_path`, or the file changed.
    """
    path = resolve_outgoing_path(policy, user_path, content_type=content_type)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise _reject(f"cannot open attachment {user_path!r}", "try again") from exc
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(policy.max_bytes + 1)
    if len(data) > policy.max_bytes:
        raise _reject(
            f"attachment {user_path!r} is over the {policy.max_bytes} byte limit",
            "attach a smaller file or raise [attachments] max_bytes",
        )
    return data


def load_attachments(
    policy: AttachmentPolicy, items: Sequence[OutgoingAttachment]
) -> list[AttachmentData]:
    """Read and check every attachment: paths under the root, base64 within the cap.

    :raises AttachmentRejected: policy violation (root, traversal, size, type).
    :raises InvalidArgument: invalid base64 or content type.
    """
    out: list[AttachmentData] = []
    total = 0
    for n, item in enumerate(items, 1):
        ctype = check_content_type(item.content_type) if item.content_type else None
        src = item.source
        if isinstance(src, AttachmentPath):
            data = read_outgoing(policy, src.path, content_type=ctype)
            name = item.filename or src.path
        else:
            if len(src.data) > policy.max_bytes * 4 // 3 + 8:
                raise AttachmentRejected(
                    f"attachment {n} is over the {policy.max_bytes} byte limit",
                    hint="attach a smaller file or raise [attachments] max_bytes",
                )
            try:
                data = base64.b64decode("".join(src.data.split()), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidArgument(
                    f"attachment {n}: invalid base64 data", hint="send standard base64 (RFC 4648)"
                ) from None
            if len(data) > policy.max_bytes:
                raise AttachmentRejected(
                    f"attachment {n} is {len(data)} bytes, over the {policy.max_bytes} limit",
                    hint="attach a smaller file or raise [attachments] max_bytes",
                )
            name = item.filename or f"attachment-{n}"
        ctype = ctype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if not is_allowed_type(policy, ctype):
            raise AttachmentRejected(
                f"attachment type {ctype} is not allowed",
                hint="allowed types: " + ", ".join(policy.allowed_types),
            )
        total += len(data)
        if total > policy.max_bytes:
            raise AttachmentRejected(
                f"attachments total more than {policy.max_bytes} bytes",
                hint="send fewer or smaller attachments",
            )
        out.append(AttachmentData(filename=name, content_type=ctype, data=data))
    return out
