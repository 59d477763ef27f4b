"""Typed IMAP commands that change a mailbox: folders, flags, copy/move/expunge, parts.

Every command takes UID sets (one command per folder, never one per message) and every
folder name, flag and label the caller supplies goes through a validator here and the
RFC 3501 quoting of ``_quote``:

- folder names: :func:`check_folder_name` (no CR/LF/NUL, no ``*`` or ``%`` — LIST
  wildcards —, no ``"`` or ``\\``) then modified UTF-7 and a quoted string;
- flags: the system flags by name, keywords as RFC 3501 ``atom``\\s only
  (:func:`keyword_flag`);
- Gmail labels: astrings (quoted or a literal), modified UTF-7 like folder names.

References: RFC 3501 (IMAP4rev1), RFC 4315 (UIDPLUS: ``UID EXPUNGE``, ``COPYUID``),
RFC 6851 (``MOVE``), RFC 6154 (SPECIAL-USE), RFC 5819 (LIST-STATUS), Gmail's IMAP
extensions (``X-GM-EXT-1``: ``X-GM-LABELS``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...errors import InvalidArgument
from ._client import CommandFailed, ImapClient, SelectInfo, _select_info
from ._quote import Arg, check_text, decode_mailbox, mailbox
from ._response import Response, Tagged, fetch_items, format_uid_set, parse_uid_set, parse_values

__all__ = [
    "BodyPart",
    "CopyUid",
    "FolderStatus",
    "ListEntry",
    "SelectedFolder",
    "StoreOp",
    "SystemFlag",
    "body_parts",
    "check_folder_name",
    "create_folder",
    "delete_folder",
    "fetch_flags",
    "fetch_part",
    "fetch_raw",
    "gmail_labels",
    "keyword_flag",
    "list_entries",
    "rename_folder",
    "select_folder",
    "status_many",
    "uid_copy",
    "uid_expunge",
    "uid_move",
    "uid_present",
    "uid_store",
]

#: RFC 6154 attributes, as roles (lower case, without the backslash).
SPECIAL_USE = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")

# RFC 3501 atom: any CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" '"' "\" "]".
# RFC 3501 atom characters, less "[": an atom may hold it, but our response reader (like many
# clients) takes "[" as the start of a section or response code, so such a keyword could not be
# read back from FLAGS.
_ATOM = re.compile(r"^[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]+\Z")
_COPYUID = re.compile(rb"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]")
_PERMANENTFLAGS = re.compile(rb"\* OK \[PERMANENTFLAGS \(([^)]*)\)")
_FOLDER_FORBIDDEN = frozenset('*%"\\')
MAX_KEYWORD = 64
MAX_FOLDER_NAME = 255


class SystemFlag(enum.StrEnum):
    """The system flags an agent may set or clear (RFC 3501 2.3.2; not \\Recent)."""

    SEEN = "\\Seen"
    FLAGGED = "\\Flagged"
    ANSWERED = "\\Answered"
    DRAFT = "\\Draft"
    DELETED = "\\Deleted"


class StoreOp(enum.StrEnum):
    ADD = "+"
    REMOVE = "-"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One ``* LIST`` line: the decoded name, its attributes and the hierarchy delimiter."""

    name: str
    attributes: frozenset[str]
    delimiter: str | None

    @property
    def role(self) -> str | None:
        """The RFC 6154 role (``"trash"``, ``"archive"``…), ``"inbox"`` for INBOX, or None."""
        if self.name.upper() == "INBOX":
            return "inbox"
        for attr in SPECIAL_USE:
            if attr.lower() in self.attributes:
                return attr[1:].lower()
        return None

    @property
    def selectable(self) -> bool:
        return not ({"\\noselect", "\\nonexistent"} & self.attributes)

    def has(self, attribute: str) -> bool:
        """Whether the folder carries ``attribute`` (e.g. ``\\Drafts``), in any case."""
        return attribute.lower() in self.attributes


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY) of one folder."""

    messages: int
    unseen: int
    uidnext: int | None
    uidvalidity: int | None


@dataclass(frozen=True, slots=True)
class SelectedFolder:
    """A folder opened read-write, with what its PERMANENTFLAGS allow."""

    name: str
    info: SelectInfo
    permanent_flags: frozenset[str]  # as sent, case kept; "\\*" when new keywords are allowed

    @property
    def keywords_allowed(self) -> bool:
        return "\\*" in self.permanent_flags


@dataclass(frozen=True, slots=True)
class CopyUid:
    """The COPYUID response code (RFC 4315 3): where each source UID landed."""

    uidvalidity: int
    mapping: dict[int, int]  # source UID -> destination UID


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One leaf of a BODYSTRUCTURE: its section number and what identifies it."""

    section: str
    content_type: str
    encoding: str
    size: int
    filename: str | None


# -- validation ------------------------------------------------------------------------------


def check_folder_name(name: str) -> str:
    """A folder name the caller may pass to CREATE/RENAME/DELETE/SELECT/COPY/MOVE.

    :raises InvalidArgument: empty, too long, CR/LF/NUL, a LIST wildcard (``*``, ``%``),
        a quote or a backslash (legitimate names never need them; they are how injection
        attempts and wildcard surprises look).
    """
    if not name or not name.strip():
        raise InvalidArgument("folder name must not be empty", hint="name an existing folder")
    check_text(name, "folder name")
    bad = sorted(_FOLDER_FORBIDDEN.intersection(name))
    if bad:
        raise InvalidArgument(
            f"folder name {name!r} contains {' '.join(bad)}",
            hint='folder names may not contain *, %, " or \\; list folders with email.folders',
        )
    if len(name) > MAX_FOLDER_NAME:
        raise InvalidArgument(
            f"folder name is {len(name)} characters, over {MAX_FOLDER_NAME}",
            hint="use a shorter folder name",
        )
    return name


def keyword_flag(keyword: str) -> str:
    """An IMAP keyword (a flag without a backslash), validated as an RFC 3501 atom.

    :raises InvalidArgument: empty, over 64 characters, starts with ``\\``, or contains a
        space, CR/LF, a parenthesis, brace, quote, ``*``, ``%``, ``[``, ``]`` or non-ASCII.
    """
    if not keyword or len(keyword) > MAX_KEYWORD or not _ATOM.match(keyword):
        raise InvalidArgument(
            f"{keyword!r} is not a valid IMAP keyword",
            hint='keywords are 1-64 ASCII characters without spaces or any of ( ) { } * % " \\ [ ]',
        )
    return keyword


def _flag_list(flags: Iterable[str]) -> bytes:
    out: list[str] = []
    for f in flags:
        if f.startswith("\\"):
            out.append(SystemFlag(f).value)  # a closed set: ValueError for anything else
        else:
            out.append(keyword_flag(f))
    if not out:
        raise InvalidArgument("no flags given", hint="name at least one flag or keyword")
    return ("(" + " ".join(out) + ")").encode("ascii")


def _uids(uids: Iterable[int]) -> bytes:
    return format_uid_set(list(uids)).encode("ascii")


# -- folders ---------------------------------------------------------------------------------


def _parse_list(resp: Response) -> ListEntry | None:
    if not resp.line.startswith(b"* LIST "):
        return None
    vals = parse_values(resp.parts, 7)
    if len(vals) < 3 or not isinstance(vals[0], list):
        return None
    attrs = frozenset(a.decode("ascii", "replace").lower() for a in vals[0] if isinstance(a, bytes))
    delim = vals[1].decode("ascii", "replace") if isinstance(vals[1], bytes) else None
    raw = vals[2]
    if isinstance(raw, int):
        raw = str(raw).encode()
    if not isinstance(raw, bytes):
        return None
    return ListEntry(decode_mailbox(raw.decode("utf-8", "replace")), attrs, delim)


async def list_entries(client: ImapClient) -> list[ListEntry]:
    """Every folder with its attributes; SPECIAL-USE roles asked for when offered."""
    pieces: list[Arg] = [b"LIST", b'""', b'"*"']
    if {"SPECIAL-USE", "LIST-EXTENDED"} <= client.capabilities:
        pieces.append(b"RETURN (SPECIAL-USE)")
    tagged = await client.command(pieces)
    return [e for r in tagged.untagged if (e := _parse_list(r)) is not None]


def _parse_status(tagged: Tagged) -> FolderStatus:
    values: dict[bytes, int] = {}
    for resp in tagged.untagged:
        if resp.line.startswith(b"* STATUS "):
            vals = parse_values(resp.parts, 9)
            items = vals[-1] if vals and isinstance(vals[-1], list) else []
            for k in range(0, len(items) - 1, 2):
                key, val = items[k], items[k + 1]
                if isinstance(key, bytes) and isinstance(val, int):
                    values[key.upper()] = val
    return FolderStatus(
        messages=values.get(b"MESSAGES", 0),
        unseen=values.get(b"UNSEEN", 0),
        uidnext=values.get(b"UIDNEXT"),
        uidvalidity=values.get(b"UIDVALIDITY"),
    )


async def status_many(client: ImapClient, folders: Sequence[str]) -> dict[str, FolderStatus]:
    """STATUS of each folder, pipelined (one round trip); a folder that fails is left out."""
    futs = []
    for name in folders:
        item = b"(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"
        futs.append(await client.send([b"STATUS", mailbox(name), item]))
    out: dict[str, FolderStatus] = {}
    for name, fut in zip(folders, futs, strict=True):
        try:
            tagged = await client.wait_ok(fut, "STATUS")
        except CommandFailed:
            continue  # vanished meanwhile, or not selectable: no counts
        out[name] = _parse_status(tagged)
    return out


async def create_folder(client: ImapClient, name: str) -> None:
    """CREATE. :raises CommandFailed: e.g. ``[ALREADYEXISTS]``."""
    await client.command([b"CREATE", mailbox(check_folder_name(name))])


async def rename_folder(client: ImapClient, old: str, new: str) -> None:
    """RENAME. :raises CommandFailed: ``[NONEXISTENT]``, ``[ALREADYEXISTS]``…"""
    await client.command(
        [b"RENAME", mailbox(check_folder_name(old)), mailbox(check_folder_name(new))]
    )


async def delete_folder(client: ImapClient, name: str) -> None:
    """DELETE. :raises CommandFailed: ``[NONEXISTENT]``, or a folder with children…"""
    await client.command([b"DELETE", mailbox(check_folder_name(name))])


async def select_folder(client: ImapClient, name: str) -> SelectedFolder:
    """SELECT (read-write) with PERMANENTFLAGS. :raises CommandFailed: no such folder."""
    tagged = await client.command([b"SELECT", mailbox(check_folder_name(name))])
    client.selected = name
    perm: frozenset[str] = frozenset()
    for resp in tagged.untagged:
        m = _PERMANENTFLAGS.match(resp.line)
        if m:
            perm = frozenset(m.group(1).decode("ascii", "replace").split())
    return SelectedFolder(name, _select_info(tagged.untagged), perm)


# -- messages of the selected folder ---------------------------------------------------------


async def uid_present(client: ImapClient, uids: Iterable[int]) -> set[int]:
    """Which of ``uids`` the selected folder holds (one ``UID SEARCH UID set``)."""
    wanted = set(uids)
    if not wanted:
        return set()
    found = await client.uid_search([b"UID", _uids(wanted)])
    return wanted & set(found)


def _flags_of(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        f.decode("utf-8", "replace") for f in value if isinstance(f, bytes) and f != b"\\Recent"
    )


async def fetch_flags(client: ImapClient, uids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """Current flags of the UIDs the selected folder holds (absent ones are not keys)."""
    res = await client.uid_fetch(_uids(uids).decode(), "(UID FLAGS)")
    out: dict[int, tuple[str, ...]] = {}
    for item in res.items:
        uid = item.get(b"UID")
        if isinstance(uid, int):
            out[uid] = _flags_of(item.get(b"FLAGS"))
    return out


async def uid_store(
    client: ImapClient,
    uids: Iterable[int],
    op: StoreOp,
    flags: Iterable[str],
    *,
    silent: bool = False,
) -> dict[int, tuple[str, ...]]:
    """``UID STORE set ±FLAGS (…)``; returns the flags the server reports afterwards.

    :raises InvalidArgument: a flag that is neither a system flag nor a valid keyword.
    """
    try:
        flag_list = _flag_list(flags)
    except ValueError as exc:
        if isinstance(exc, InvalidArgument):
            raise
        raise InvalidArgument(
            f"unknown system flag: {exc}",
            hint="system flags: " + ", ".join(f.value for f in SystemFlag),
        ) from exc
    item = f"{op.value}FLAGS{'.SILENT' if silent else ''}".encode("ascii")
    out: dict[int, tuple[str, ...]] = {}

    def on_untagged(resp: Response) -> None:
        parsed = fetch_items(resp)
        if parsed is not None and isinstance(uid := parsed.get(b"UID"), int):
            out[uid] = _flags_of(parsed.get(b"FLAGS"))

    await client.command(
        [b"UID", b"STORE", _uids(uids), item, flag_list],
        on_untagged=on_untagged,
        name="UID STORE",
    )
    return out


def _copyuid(tagged: Tagged) -> CopyUid | None:
    texts = [tagged.text, *(r.line for r in tagged.untagged)]
    for text in texts:
        m = _COPYUID.search(text)
        if m:
            src = parse_uid_set(m.group(2))
            dst = parse_uid_set(m.group(3))
            if len(src) == len(dst):
                # RFC 4315: the sets are in the same order, pair by pair.
                return CopyUid(int(m.group(1)), dict(zip(src, dst, strict=True)))
    return None


async def uid_copy(client: ImapClient, uids: Iterable[int], dest: str) -> CopyUid | None:
    """``UID COPY``; the COPYUID mapping when the server sends one (UIDPLUS)."""
    tagged = await client.command(
        [b"UID", b"COPY", _uids(uids), mailbox(check_folder_name(dest))], name="UID COPY"
    )
    return _copyuid(tagged)


async def uid_move(client: ImapClient, uids: Iterable[int], dest: str) -> CopyUid | None:
    """``UID MOVE`` (RFC 6851); the COPYUID of its untagged ``OK`` when sent."""
    tagged = await client.command(
        [b"UID", b"MOVE", _uids(uids), mailbox(check_folder_name(dest))], name="UID MOVE"
    )
    return _copyuid(tagged)


async def uid_expunge(client: ImapClient, uids: Iterable[int]) -> None:
    """``UID EXPUNGE set`` (UIDPLUS): removes only these UIDs, never other \\Deleted ones."""
    await client.command([b"UID", b"EXPUNGE", _uids(uids)], name="UID EXPUNGE")


async def gmail_labels(
    client: ImapClient, uids: Iterable[int], op: StoreOp, labels: Sequence[str]
) -> dict[int, tuple[str, ...]]:
    """``UID STORE set ±X-GM-LABELS (…)``; returns each message's labels afterwards.

    Labels are astrings in modified UTF-7 (Gmail's IMAP extensions document); system
    labels like ``\\Important`` pass as they are.

    :raises InvalidArgument: an empty label, CR/LF/NUL, ``*`` or ``%``.
    """
    if not labels:
        raise InvalidArgument("no labels given", hint="name at least one label")
    parts: list[bytes] = []
    for label in labels:
        if label.startswith("\\") and label[1:].isalpha():
            parts.append(label.encode("ascii"))
            continue
        arg = mailbox(check_folder_name(label))
        assert isinstance(arg, bytes)
        parts.append(arg)
    out: dict[int, tuple[str, ...]] = {}

    def on_untagged(resp: Response) -> None:
        parsed = fetch_items(resp)
        if parsed is not None and isinstance(uid := parsed.get(b"UID"), int):
            raw = parsed.get(b"X-GM-LABELS")
            vals = raw if isinstance(raw, list) else []
            out[uid] = tuple(
                decode_mailbox(v.decode("utf-8", "replace")) for v in vals if isinstance(v, bytes)
            )

    item = f"{op.value}X-GM-LABELS".encode("ascii")
    await client.command(
        [b"UID", b"STORE", _uids(uids), item, b"(" + b" ".join(parts) + b")"],
        on_untagged=on_untagged,
        name="UID STORE",
    )
    return out


# -- one MIME part ---------------------------------------------------------------------------


def _text(v: object) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else ""


def _param(params: object, key: str) -> str | None:
    if not isinstance(params, list):
        return None
    for k in range(0, len(params) - 1, 2):
        if _text(params[k]).lower() == key:
            return _text(params[k + 1]) or None
    return None


def _walk(body: list[object], prefix: str, out: list[BodyPart]) -> None:
    if body and isinstance(body[0], list):  # multipart: children, then the subtype
        for n, child in enumerate(body, 1):
            if not isinstance(child, list):
                break
            _walk(child, f"{prefix}.{n}" if prefix else str(n), out)
        return
    if len(body) < 7:
        return
    ctype = f"{_text(body[0])}/{_text(body[1])}".lower()
    size = body[6] if isinstance(body[6], int) else 0
    # Extension data: disposition sits after md5, which follows size (+ lines for text/*,
    # + envelope, body, lines for message/rfc822).
    ext = 8
    if ctype.startswith("text/"):
        ext = 9
    elif ctype == "message/rfc822":
        ext = 11
    disp = body[ext] if len(body) > ext else None
    filename = _param(disp[1], "filename") if isinstance(disp, list) and len(disp) > 1 else None
    filename = filename or _param(body[2], "name")
    out.append(BodyPart(prefix or "1", ctype, _text(body[5]).lower(), size, filename))


async def body_parts(client: ImapClient, uid: int) -> list[BodyPart] | None:
    """The leaf parts of one message (``UID FETCH uid BODYSTRUCTURE``); None: no such UID."""
    res = await client.uid_fetch(str(uid), "(UID BODYSTRUCTURE)")
    for item in res.items:
        if item.get(b"UID") == uid and isinstance(bs := item.get(b"BODYSTRUCTURE"), list):
            out: list[BodyPart] = []
            _walk(bs, "", out)
            return out
    return None


_SECTION = re.compile(r"^[0-9]+(\.[0-9]+)*\Z")


async def fetch_part(client: ImapClient, uid: int, section: str) -> bytes | None:
    """The raw (still transfer-encoded) bytes of one part, ``BODY.PEEK[section]`` (no \\Seen)."""
    if not _SECTION.match(section):
        raise InvalidArgument(f"bad MIME section {section!r}", hint="sections look like 1.2")
    return await _fetch_section(client, uid, section)


async def fetch_raw(client: ImapClient, uid: int) -> bytes | None:
    """The whole message as the server holds it, ``BODY.PEEK[]`` (no \\Seen); None: no such UID."""
    return await _fetch_section(client, uid, "")


async def _fetch_section(client: ImapClient, uid: int, section: str) -> bytes | None:
    res = await client.uid_fetch(str(uid), f"(UID BODY.PEEK[{section}])")
    key = f"BODY[{section}]".encode("ascii")
    for item in res.items:
        data = item.get(key)
        if item.get(b"UID") == uid and isinstance(data, bytes):
            return data
    return None
