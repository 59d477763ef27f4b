"""One attachment of a stored message, as a file under the download directory or inline.

Where the bytes come from: the attachment store when sync kept them, else (network on)
the server — ``UID FETCH uid BODYSTRUCTURE`` to find the part, ``BODY.PEEK[section]``
(no \\Seen) for its bytes, decoded and checked against the sha256 recorded at sync time,
so the part handed out is the one the metadata describes.

Where they go: inline base64 when asked for (or no download directory is configured) and
within ``inline_max_bytes``; otherwise a file ``<download_dir>/<id>-<index>-<name>``, the
name sanitised (no directory part, no leading dot, only word characters, ``.``, ``-``,
space), written through a directory descriptor opened without following symlinks, to a
temporary name then renamed, mode 0600. Nothing is written outside the directory.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
import re
import unicodedata
from pathlib import Path

from ...config.model import AttachmentPolicy
from ...errors import AttachmentRejected, InvalidArgument, NetworkDisabled, NotFound, StorageError
from ...mail.imap import BodyPart, body_parts, fetch_part
from ...store import mailbox as store
from ...types import AccountId, AttachmentDownload, AttachmentMeta, MessageKey
from ..attachments import stored_path
from ..context import ServiceContext
from ..mailbox import get_message
from ._session import Session, open_session

__all__ = ["attachment", "safe_filename"]

_MAX_OTHER_PARTS = 20
_UNSAFE = re.compile(r"[^\w.\- ]+")
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """A file name that cannot leave a directory or hide: basename only, tame characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:100] or fallback


def _decode(data: bytes, encoding: str) -> bytes:
    # As mail/parse.py decodes parts at sync time, so the sha256 compares like for like.
    if encoding == "base64":
        try:
            return binascii.a2b_base64(data)
        except (binascii.Error, ValueError):
            stripped = b"".join(data.split())
            return binascii.a2b_base64(stripped + b"=" * (-len(stripped) % 4))
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def _matches(part: BodyPart, meta: AttachmentMeta) -> bool:
    if part.content_type != meta.content_type.split(";", 1)[0].strip().lower():
        return False
    return meta.filename is None or part.filename in (None, meta.filename)


async def _from_server(
    ctx: ServiceContext,
    account: AccountId,
    key: MessageKey,
    meta: AttachmentMeta,
    session: Session | None,
) -> bytes:
    loc = store.locate(ctx.db, account, [key]).get(key)
    if loc is None or loc.uid is None:
        raise NotFound(
            f"attachment {meta.index} of message {key} was not kept and the message is not on "
            "the server",
            hint="imported messages keep only what the import stored",
        )
    async with open_session(ctx, account, session) as s:
        with s.errors(loc.folder):
            s.forget_selected()
            info = await s.client.select(loc.folder)
            if info.uidvalidity != loc.uidvalidity:
                raise NotFound(
                    f"message {key} is no longer on the server under the stored UID",
                    hint="run a sync of the folder and look the message up again",
                )
            parts = await body_parts(s.client, loc.uid)
            if parts is None:
                raise NotFound(
                    f"message {key} is no longer on the server", hint="run a sync of the folder"
                )
            # Likely parts first; then the others (the server may name a type the parser
            # corrected, e.g. an invalid one read as text/plain): the sha256 decides.
            likely = [p for p in parts if _matches(p, meta)]
            ordered = likely + [p for p in parts if p not in likely][:_MAX_OTHER_PARTS]
            for part in ordered:
                raw = await fetch_part(s.client, loc.uid, part.section)
                if raw is None:
                    continue
                for candidate in (raw, raw.rstrip(b"\r\n")):
                    data = _decode(candidate, part.encoding)
                    if hashlib.sha256(data).hexdigest() == meta.sha256:
                        return data
    raise NotFound(
        f"the server's copy of message {key} has no part matching attachment {meta.index}",
        hint="the message changed on the server; sync the folder and look it up again",
    )


def _write(directory: Path, name: str, data: bytes) -> Path:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        dfd = os.open(directory, _DIR_FLAGS)
    except OSError as exc:
        raise StorageError(
            f"cannot use the download directory: {exc.strerror}",
            hint="check [attachments] download_dir (a real directory, not a symlink)",
        ) from exc
    tmp = f".{name}.{os.getpid()}.tmp"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        fd = os.open(tmp, flags, 0o600, dir_fd=dfd)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        raise StorageError(
            f"cannot write the attachment file: {exc.strerror}",
            hint="check free space and permissions of [attachments] download_dir",
        ) from exc
    finally:
        os.close(dfd)
    return directory / name


def _read_stored(policy: AttachmentPolicy, meta: AttachmentMeta) -> bytes | None:
    path = stored_path(policy, meta.sha256) if meta.stored else None
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == meta.sha256 else None


async def attachment(
    ctx: ServiceContext,
    account: AccountId,
    key: MessageKey,
    index: int,
    *,
    inline: bool = False,
    network: bool,
    session: Session | None = None,
) -> AttachmentDownload:
    """Attachment ``index`` of stored message ``key``: a file path, or inline base64.

    :raises NotFound: no such message or attachment; the server no longer has it.
    :raises NetworkDisabled: the bytes were not kept at sync time and ``network`` is off.
    :raises AttachmentRejected: too big for inline and no download directory configured.
    :raises StorageError: the download directory is unusable.
    """
    ctx.account(account)
    msg = get_message(ctx.db, account, key)
    if msg is None:
        raise NotFound(f"no stored message with id {key}", hint="ids come from email.list")
    if not 0 <= index < len(msg.attachments):
        raise InvalidArgument(
            f"message {key} has {len(msg.attachments)} attachments; no index {index}",
            hint="indexes come from the message's attachments list (email.get)",
        )
    meta = msg.attachments[index]
    policy = ctx.config.attachments
    data = _read_stored(policy, meta)
    fetched = False
    if data is None:
        if not network:
            raise NetworkDisabled(
                f"attachment {index} of message {key} was not kept at sync time; fetching it "
                "from the server needs the network, which is disabled",
                hint="set PRX_EMAIL_ENABLE_REAL_NETWORK=1 in the host's environment",
            )
        data = await _from_server(ctx, account, key, meta, session)
        fetched = True
    sha = hashlib.sha256(data).hexdigest()
    base = AttachmentDownload(
        message_id=key,
        index=index,
        filename=meta.filename,
        content_type=meta.content_type,
        size=len(data),
        sha256=sha,
        fetched_from_server=fetched,
    )
    if (inline or policy.download_dir is None) and len(data) <= policy.inline_max_bytes:
        return dataclasses.replace(base, data_base64=base64.b64encode(data).decode("ascii"))
    if policy.download_dir is None:
        raise AttachmentRejected(
            f"attachment is {len(data)} bytes, over the inline limit of "
            f"{policy.inline_max_bytes}, and no download directory is configured",
            hint="set download_dir in the [attachments] table of the config",
        )
    name = f"{key}-{index}-{safe_filename(meta.filename)}"
    path = _write(Path(policy.download_dir), name, data)
    return dataclasses.replace(base, path=str(path))
