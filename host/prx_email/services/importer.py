"""Import local mail (an mbox file, a Maildir, a tree of ``.eml`` files or one message file).

Idempotent: each message is identified by the sha256 of its bytes, so importing the same
mailbox twice stores every message once. Messages are parsed and stored in batches.
Read state and flags come along: Maildir info letters (``:2,`` or ``!2,``) and the mbox
``Status:`` / ``X-Status:`` headers, so mail already read imports as read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..config.model import AccountConfig, AttachmentPolicy, Config
from ..config.resolve import account_block
from ..errors import AccountNotFound, InvalidArgument, NotFound
from ..mail.parse import DEFAULT_MAX_BODY_BYTES, parse_message
from ..store.db import Database
from ..store.messages import MessageStore, StoreItem
from .attachments import save_attachments

__all__ = [
    "MAILDIR_FLAGS",
    "MBOX_STATUS_FLAGS",
    "MBOX_X_STATUS_FLAGS",
    "ImportReport",
    "import_account",
    "import_path",
    "iter_mbox",
    "maildir_flags",
    "mbox_flags",
]

# Maildir info letters (https://cr.yp.to/proto/maildir.html) → IMAP flags. P (passed, i.e.
# forwarded) has no system flag; $Forwarded is the keyword IMAP clients use for it.
MAILDIR_FLAGS = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
# mbox headers as mutt and UW c-client write them: Status R = read, O = old (seen by a
# client but not read: no IMAP flag); X-Status A = answered, F = flagged, D = deleted,
# T = draft.
MBOX_STATUS_FLAGS = {"R": "\\Seen"}
MBOX_X_STATUS_FLAGS = {"A": "\\Answered", "F": "\\Flagged", "D": "\\Deleted", "T": "\\Draft"}
# Windows-safe Maildirs (mbsync, Dovecot's maildir_broken_filename) use "!" instead of ":".
_MAILDIR_INFO = (":2,", "!2,")
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


def maildir_flags(name: str) -> tuple[str, ...]:
    """IMAP flags of a Maildir file name (``…:2,FS`` or ``…!2,FS``), in letter order."""
    cut = max(name.rfind(sep) for sep in _MAILDIR_INFO)
    if cut < 0:
        return ()
    info = name[cut + 3 :]
    return tuple(MAILDIR_FLAGS[c] for c in sorted(set(info)) if c in MAILDIR_FLAGS)


def _header_block(raw: bytes) -> bytes:
    """The bytes before the first blank line (LF or CRLF line ends)."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    return raw[: min(ends)] if ends else raw


def mbox_flags(raw: bytes) -> tuple[str, ...]:
    """IMAP flags from a message's ``Status:`` and ``X-Status:`` headers (mbox convention)."""
    found: set[str] = set()
    for line in _header_block(raw).splitlines():
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower()
        table = (
            MBOX_STATUS_FLAGS
            if key == b"status"
            else MBOX_X_STATUS_FLAGS
            if key == b"x-status"
            else None
        )
        if table is not None:
            letters = value.decode("ascii", "replace")
            found.update(table[c] for c in letters if c in table)
    return tuple(sorted(found))


def _iter_maildir(path: Path) -> Iterator[tuple[Path, tuple[str, ...]]]:
    for sub in ("new", "cur"):
        directory = path / sub
        if not directory.is_dir():
            continue
        for name in sorted(os.listdir(directory)):
            if name.startswith("."):
                continue
            yield directory / name, maildir_flags(name)


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def _iter_eml_tree(path: Path) -> Iterator[Path]:
    """Every ``*.eml`` file under ``path``, recursively, in a stable (sorted) order."""
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(".eml") and not name.startswith("."):
                yield Path(root) / name


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(5)
    return head == b"From "


def _read(file: Path, flags: tuple[str, ...]) -> tuple[bytes | None, tuple[str, ...]]:
    try:
        return file.read_bytes(), flags
    except OSError:
        return None, flags


def _sources(path: Path) -> Iterator[tuple[bytes | None, tuple[str, ...]]]:
    """(raw bytes or None when unreadable, flags) for every message under ``path``."""
    if path.is_dir():
        if _is_maildir(path):
            for file, flags in _iter_maildir(path):
                yield _read(file, flags)
            return
        files = _iter_eml_tree(path)
        first = next(files, None)
        if first is None:
            raise InvalidArgument(
                f"{path} is a directory with no .eml files and not a Maildir",
                hint="pass an mbox file, a Maildir (with cur/ and new/), a directory of "
                ".eml files, or one message file",
            )
        for file in (first, *files):
            raw, _ = _read(file, ())
            yield raw, mbox_flags(raw) if raw is not None else ()
    elif _is_mbox(path):
        for raw in iter_mbox(path):
            yield raw, mbox_flags(raw)
    else:
        raw = path.read_bytes()
        yield raw, mbox_flags(raw)


def import_account(config: Config, account_id: int) -> AccountConfig:
    """The configured account mail is imported into; refuses an unknown id, since mail
    stored under it would answer ``EMAIL_ACCOUNT_NOT_FOUND`` to every query.

    :raises AccountNotFound: ``account_id`` is not in ``config``; the hint holds the TOML
        block that would configure it.
    """
    account = config.account(account_id)
    if account is not None:
        return account
    known = ", ".join(str(a.id) for a in config.accounts) or "none"
    block = account_block(account_id)
    if config.source_missing:
        # Writing the file replaces the default: keep the local account's mail reachable.
        block = "\n\n".join((*(account_block(a.id) for a in config.accounts), block))
        where = f"create {config.source} with"
    else:
        where = f"add to {config.source or 'the config file'}"
    raise AccountNotFound(
        f"no account with id {account_id} in {config.describe_source()} (configured ids: {known})",
        hint=f"import into a configured account (--account ID), or {where}:\n\n{block}\n",
    )


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
    """Import an mbox file, a Maildir, a tree of ``.eml`` files or one message file into
    (account, folder), keeping flags (see the module docstring).

    Attachment bytes are saved under ``attachments.root`` when a policy with a root is
    given; otherwise only their metadata is recorded.

    :raises NotFound: ``path`` does not exist.
    :raises InvalidArgument: ``path`` is neither a mailbox nor a message file.
    """
    source = Path(path)
    if not source.exists():
        raise NotFound(
            f"no such mailbox: {source}",
            hint="pass an mbox file, a Maildir, a directory of .eml files or a message file",
        )
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
