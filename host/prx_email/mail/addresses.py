"""Address headers → ``(display, bare address)`` pairs, fast on the common shapes.

``email.utils.getaddresses`` is correct but costs tens of microseconds per header; most
headers are ``addr`` or ``Name <addr>``, which we split by hand and only hand the rest
(quoted names, comments, groups) to the stdlib parser.
"""

from __future__ import annotations

from .decode import decode_header_value

__all__ = ["format_address", "parse_addresses"]

_SPECIALS = frozenset('()<>[]:;@\\,."')
_HARD = frozenset('"(;:')  # shapes the hand splitter does not handle
_MAX_CHARS = 65_536  # about 1,500 recipients; past that, the rest of a header is dropped


def format_address(name: str, addr: str) -> str:
    """``Name <addr>`` (name quoted when it holds specials), or the bare address."""
    if not name:
        return addr
    if not _SPECIALS.isdisjoint(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if not addr:
        return name
    return f"{name} <{addr}>"


def _split_simple(value: str) -> list[tuple[str, str]] | None:
    """Hand-split ``a@b, Name <c@d>``; None when the value needs the real parser."""
    if not _HARD.isdisjoint(value):
        return None
    out: list[tuple[str, str]] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        lt = item.find("<")
        if lt == -1:
            if " " in item or ">" in item:
                return None
            out.append(("", item))
            continue
        if not item.endswith(">") or item.count("<") != 1:
            return None
        out.append((item[:lt].strip(), item[lt + 1 : -1].strip()))
    return out


def parse_addresses(raw: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Display strings and bare addresses of one raw (undecoded) address header."""
    if not raw:
        return (), ()
    if len(raw) > _MAX_CHARS:
        raw = raw[: raw.rfind(",", 0, _MAX_CHARS) + 1 or _MAX_CHARS]
    if not raw.isascii():
        # 8-bit header: recover Unicode first; the splitters work on str.
        raw = decode_header_value(raw)
    elif "\n" in raw or "\r" in raw or "\t" in raw:
        raw = raw.replace("\r\n", "").replace("\n", "").replace("\r", "").replace("\t", " ")
    pairs = _split_simple(raw)
    if pairs is None:
        from email.utils import getaddresses  # only here: importing email.utils is slow

        try:
            pairs = getaddresses([raw])
        except Exception:  # the stdlib parser has raised on hostile input before
            pairs = [("", raw.strip())]
    displays: list[str] = []
    addrs: list[str] = []
    for name, addr in pairs:
        if "=?" in name:
            name = decode_header_value(name)
        if not name and not addr:
            continue
        displays.append(format_address(name, addr))
        if addr:
            addrs.append(addr)
    return tuple(displays), tuple(addrs)
