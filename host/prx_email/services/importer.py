"""Import a local mailbox (mbox file, Maildir directory or one .eml file) into the store.

Idempotent: each message is identified by the sha256 of its bytes, so importing the same
mailbox twice stores every message once. Messages are parsed and stored in batches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..config.model import AttachmentPolicy
from ..errors import InvalidArgument, NotFound
from ..mail.parse import DEFAULT_MAX_BODY_BYTES, parse_message
from ..store.db import Database
from ..store.messages import MessageStore, StoreItem
from .attachments import save_attachments

__all__ = ["MAILDIR_FLAGS", "ImportReport", "import_path", "iter_mbox"]

# Maildir info letters (https://cr.yp.to/proto/maildir.html) → IMAP system flags.
MAILDIR_FLAGS = {
    "S": "\\Seen",
    "R": "\\Answered",
    "F": "\\Flagged",
    "T": "\\Deleted",
    "D": "\\Draft",
}
_BATCH = 500


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What one import did: new messages, ones already present, ones that could not be read."""

    imported: int = 0
    skipped: int = 0
    failed: int = 0


def _unescape_from(line: bytes) -> bytes:
    """mboxrd: a line ``>From `` (any number of ``>``) loses one ``>``."""
    if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
        return line[1:]
    return line


def iter_mbox(path: Path) -> Iterator[bytes]:
    """Raw messages of an mbox file (``From `` separator lines, mboxrd unescaping)."""
    buf: list[bytes] = []
    started = False
    previous_blank = True
    with path.open("rb") as fh:
        for line in fh:
            if line.startswith(b"From ") and previous_blank:
                if started and buf:
                    yield _finish(buf)
                buf = []
                started = True
                previous_blank = False
                continue
            previous_blank = line in (b"\n", b"\r\n")
            if not started:
                if line.strip():
                    started = True  # no envelope line: the file starts with a message
                else:
                    continue
            buf.append(_unescape_from(line) if line.startswith(b">") else line)
    if buf:
        yield _finish(buf)


def _finish(lines: list[bytes]) -> bytes:
    # The blank line before the next "From " separator belongs to the mbox, not the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def _maildir_flags(name: str) -> tuple[str, ...]:
    _, sep, info = name.rpartition(":2,")
    if not sep:
        return ()
    return tuple(MAILDIR_FLAGS[c] for c in sorted(set(info)) if c in MAILDIR_FLAGS)


def _iter_maildir(path: Path) -> Iterator[tuple[Path, tuple[str, ...]]]:
    for sub in ("new", "cur"):
        directory = path / sub
        if not directory.is_dir():
            continue
        for name in sorted(os.listdir(directory)):
            if name.startswith("."):
                continue
            yield directory / name, _maildir_flags(name) if sub == "cur" else ()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(5)
    return head == b"From "


def _sources(path: Path) -> Iterator[tuple[bytes | None, tuple[str, ...]]]:
    """(raw bytes or None when unreadable, flags) for every message under ``path``."""
    if path.is_dir():
        if not ((path / "cur").is_dir() or (path / "new").is_dir()):
            raise InvalidArgument(
                f"{path} is a directory but not a Maildir",
                hint="pass an mbox file, a Maildir (with cur/ and new/), or one .eml file",
            )
        for file, flags in _iter_maildir(path):
            try:
                yield file.read_bytes(), flags
            except OSError:
                yield None, flags
    elif _is_mbox(path):
        for raw in iter_mbox(path):
            yield raw, ()
    else:
        yield path.read_bytes(), ()


def import_path(
    db: Database,
    path: Path | str,
    *,
    account_id: int = 1,
    folder: str = "INBOX",
    attachments: AttachmentPolicy | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    batch_size: int = _BATCH,
) -> ImportReport:
    """Import an mbox file, a Maildir or a single message file into (account, folder).

    Attachment bytes are saved under ``attachments.root`` when a policy with a root is
    given; otherwise only their metadata is recorded.

    :raises NotFound: ``path`` does not exist.
    :raises InvalidArgument: ``path`` is neither a mailbox nor a message file.
    """
    source = Path(path)
    if not source.exists():
        raise NotFound(f"no such mailbox: {source}", hint="pass an mbox file or a Maildir path")
    store = MessageStore(db)
    save = attachments is not None and attachments.root is not None
    imported = skipped = failed = 0
    batch: list[StoreItem] = []

    def flush() -> None:
        nonlocal imported, skipped
        if batch:
            added = store.upsert_many(account_id, folder, 0, batch)
            imported += added
            skipped += len(batch) - added
            batch.clear()

    try:
        for raw, flags in _sources(source):
            if raw is None:
                failed += 1
                continue
            parsed = parse_message(raw, max_body_bytes=max_body_bytes)
            metas = (
                save_attachments(attachments, parsed.attachments)
                if save and attachments is not None and parsed.attachments
                else None
            )
            batch.append(
                StoreItem(uid=None, flags=flags, size=len(raw), parsed=parsed, attachments=metas)
            )
            if len(batch) >= batch_size:
                flush()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read {source}: {exc.strerror}", hint="check the path and its permissions"
        ) from exc
    flush()
    return ImportReport(imported=imported, skipped=skipped, failed=failed)
