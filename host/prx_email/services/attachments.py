"""Attachment bytes on disk: saved content-addressed, read back for sending, never outside the root.

Received attachments are stored as ``<root>/received/<sha[:2]>/<sha256>``: the path comes
from the hash only, never from a filename a sender chose. Directories are created 0700 and
walked with ``O_NOFOLLOW`` directory descriptors, so a symlink planted inside the root
cannot redirect a write. Outgoing attachments named by the agent must resolve (symlinks
included) to a regular file under the root, within the size cap, of an allowed type.
"""

from __future__ import annotations

import contextlib
import fnmatch
import mimetypes
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ..config.model import AttachmentPolicy
from ..errors import AttachmentRejected, StorageError
from ..types import AttachmentMeta, ParsedAttachment

__all__ = [
    "RECEIVED_DIR",
    "is_allowed_type",
    "read_outgoing",
    "resolve_outgoing_path",
    "save_attachment",
    "save_attachments",
    "stored_path",
]

RECEIVED_DIR = "received"
_HEX = frozenset("0123456789abcdef")
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def is_allowed_type(policy: AttachmentPolicy, content_type: str) -> bool:
    """Whether ``content_type`` matches one of the policy's patterns (``image/*`` style)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(ctype, pattern.lower()) for pattern in policy.allowed_types)


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


def _root(policy: AttachmentPolicy) -> Path:
    if policy.root is None:
        raise AttachmentRejected(
            "no attachment root is configured",
            hint="set `root` in the [attachments] table of the config file",
        )
    return Path(policy.root)


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
    root = _root(policy)
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
    root = _root(policy)
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
