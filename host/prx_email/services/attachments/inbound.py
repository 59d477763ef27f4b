"""Received attachments on disk: saved content-addressed, never outside the root.

Received attachments are stored as ``<root>/received/<sha[:2]>/<sha256>``: the path comes
from the hash only, never from a filename a sender chose. Directories are created 0700 and
walked with ``O_NOFOLLOW`` directory descriptors, so a symlink planted inside the root
cannot redirect a write. Outgoing attachments: :mod:`.outgoing`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ...config.model import AttachmentPolicy
from ...errors import StorageError
from ...types import AttachmentMeta, ParsedAttachment
from ._policy import attachment_root, is_allowed_type

__all__ = ["RECEIVED_DIR", "save_attachment", "save_attachments", "stored_path"]

RECEIVED_DIR = "received"
_HEX = frozenset("0123456789abcdef")
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def _valid_sha(sha256: str) -> bool:
    return len(sha256) == 64 and _HEX.issuperset(sha256)


def _open_dir(name: str, parent_fd: int | None, *, create: bool) -> int:
    """Open (creating 0700 if asked) one directory level without following symlinks."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent_fd)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise StorageError(
            f"cannot use attachment directory {name!r}: {exc.strerror}",
            hint="the attachment root must be a real directory (no symlinks inside it)",
        ) from exc


def save_attachment(policy: AttachmentPolicy, attachment: ParsedAttachment) -> bool:
    """Store the bytes under the root; False (not stored) when the policy refuses them.

    :raises StorageError: the root or a directory under it is unusable (e.g. a symlink).
    """
    if policy.root is None or len(attachment.data) > policy.max_bytes:
        return False
    if not is_allowed_type(policy, attachment.content_type):
        return False
    sha = attachment.sha256
    if not _valid_sha(sha):
        return False
    root = attachment_root(policy)
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the attachment root: {exc.strerror}",
            hint="check the [attachments] root in the config file",
        ) from exc
    fds: list[int] = []
    try:
        fds.append(os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)))
        for name in (RECEIVED_DIR, sha[:2]):
            fds.append(_open_dir(name, fds[-1], create=True))
        leaf = fds[-1]
        try:
            st = os.stat(sha, dir_fd=leaf, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            if stat.S_ISREG(st.st_mode) and st.st_size == len(attachment.data):
                return True  # content-addressed: already there
            os.unlink(sha, dir_fd=leaf)
        tmp = f".{sha}.{os.getpid()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600, dir_fd=leaf)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(attachment.data)
            os.replace(tmp, sha, src_dir_fd=leaf, dst_dir_fd=leaf)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=leaf)
            raise
        return True
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(
            f"cannot save attachment {sha[:12]}…: {exc.strerror}",
            hint="check free space and permissions of the attachment root",
        ) from exc
    finally:
        for fd in reversed(fds):
            os.close(fd)


def save_attachments(
    policy: AttachmentPolicy, attachments: Iterable[ParsedAttachment]
) -> tuple[AttachmentMeta, ...]:
    """Save what the policy allows; metadata for every attachment, ``stored`` set per item."""
    return tuple(
        AttachmentMeta(
            index=i,
            filename=a.filename,
            content_type=a.content_type,
            size=len(a.data),
            sha256=a.sha256,
            stored=save_attachment(policy, a),
        )
        for i, a in enumerate(attachments)
    )


def stored_path(policy: AttachmentPolicy, sha256: str) -> Path | None:
    """Where a stored attachment lives, or None when it is not stored (or the hash is bogus)."""
    if policy.root is None or not _valid_sha(sha256):
        return None
    path = Path(policy.root) / RECEIVED_DIR / sha256[:2] / sha256
    try:
        st = path.lstat()
    except OSError:
        return None
    return path if stat.S_ISREG(st.st_mode) else None
