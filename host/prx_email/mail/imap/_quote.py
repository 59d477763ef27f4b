"""RFC 3501 argument encoding: quoted strings, literals and modified UTF-7 mailbox names.

Every user-supplied string that reaches the wire goes through :func:`astring` (or
:func:`mailbox`): ASCII text becomes a quoted string with ``\\`` and ``"`` escaped
(RFC 3501 section 4.3), anything else a literal (section 4.3, ``{n}``); CR, LF and NUL
are refused outright because they would end the command line and let the rest of the
string run as a new command.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ...errors import InvalidArgument

_FORBIDDEN = re.compile(r"[\x00\r\n]")
# Characters that may appear inside a quoted string unescaped: printable ASCII minus \ and ".
_QUOTABLE = re.compile(r"^[\x20-\x7e]*\Z")


@dataclass(frozen=True, slots=True)
class Literal:
    """A string sent as an IMAP literal (``{n}`` then the raw bytes)."""

    data: bytes


Arg = bytes | Literal


def check_text(value: str, what: str = "argument") -> None:
    """:raises InvalidArgument: the text contains CR, LF or NUL."""
    if _FORBIDDEN.search(value):
        raise InvalidArgument(
            f"{what} must not contain CR, LF or NUL characters",
            hint="remove line breaks from the value",
        )


def quoted(value: str) -> bytes:
    """A quoted string; only for printable ASCII.

    :raises InvalidArgument: CR/LF/NUL or non-ASCII text.
    """
    check_text(value)
    if not _QUOTABLE.match(value):
        raise InvalidArgument("quoted strings carry printable ASCII only")
    return b'"' + value.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'


def astring(value: str, what: str = "argument") -> Arg:
    """Quoted string for printable ASCII, a UTF-8 literal otherwise.

    :raises InvalidArgument: the text contains CR, LF or NUL.
    """
    check_text(value, what)
    if _QUOTABLE.match(value):
        return quoted(value)
    return Literal(value.encode("utf-8"))


def encode_mailbox(name: str) -> str:
    """Modified UTF-7 (RFC 3501 section 5.1.3) for a mailbox name."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
            out.append("&" + b64 + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_mailbox(name: str) -> str:
    """Inverse of :func:`encode_mailbox`; invalid sequences are kept verbatim."""

    def repl(m: re.Match[str]) -> str:
        body = m.group(1)
        if not body:
            return "&"
        b64 = body.replace(",", "/")
        b64 += "=" * (-len(b64) % 4)
        try:
            return base64.b64decode(b64).decode("utf-16-be")
        except ValueError:
            return m.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", repl, name)


def mailbox(name: str) -> Arg:
    """A mailbox name ready for the wire (modified UTF-7, then quoted).

    :raises InvalidArgument: empty, or contains CR, LF or NUL.
    """
    if not name:
        raise InvalidArgument("folder name must not be empty")
    check_text(name, "folder name")
    return quoted(encode_mailbox(name))
