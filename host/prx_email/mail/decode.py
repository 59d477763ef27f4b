"""Text decoding for parsed mail: header values, body charsets, HTML to plain text.

Every function here is total: bad charsets, stray 8-bit bytes and broken encoded-words
degrade to replacement characters, never to an exception.
"""

from __future__ import annotations

import codecs
import re

__all__ = [
    "MAX_HEADER_CHARS",
    "decode_bytes",
    "decode_header_value",
    "html_to_text",
    "snippet_of",
    "unfold",
]

# Charsets seen in the wild under names Python does not know.
_CHARSET_ALIASES = {
    "unknown-8bit": "cp1252",
    "x-unknown": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac_roman",
    "windows-874": "cp874",
    "gb2312": "gb18030",  # superset; senders routinely mislabel GBK text as gb2312
    "gbk": "gb18030",
    "iso-2022-jp": "iso2022_jp_ext",
}
_codec_cache: dict[str, str | None] = {}


def _codec(charset: str | None) -> str | None:
    """Python codec name for a MIME charset, or None when unknown."""
    if not charset:
        return None
    try:
        return _codec_cache[charset]
    except KeyError:
        pass
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        found: str | None = codecs.lookup(name).name
    except (LookupError, ValueError):
        found = None
    if len(_codec_cache) < 512:
        _codec_cache[charset] = found
    return found


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` as its declared charset; without one, UTF-8 then cp1252.

    A declared charset that does not fit the bytes gets UTF-8 as a second chance, then
    replacement characters (a mislabelled body stays mostly readable).
    """
    codec = _codec(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except Exception:  # UnicodeDecodeError, and a few codecs raise odd errors on garbage
            pass
    if codec != "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec or "cp1252", "replace")
    except Exception:
        return data.decode("utf-8", "replace")


def unfold(value: str) -> str:
    """Undo RFC 5322 folding and drop stray line breaks (they would forge header lines)."""
    if "\n" in value or "\r" in value:
        value = value.replace("\r\n", "").replace("\n", "").replace("\r", "")
    if "\t" in value:
        value = value.replace("\t", " ")
    return value.strip()


def _from_8bit(value: str) -> str:
    """Header text that the ASCII parser surrogate-escaped: recover the bytes, decode them."""
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already real Unicode
    return decode_bytes(raw, None)


MAX_HEADER_CHARS = 16_384  # RFC 5322 lines stop at 998; longer values are cut, not decoded


def decode_header_value(value: str) -> str:
    """One header value as Unicode: 8-bit bytes recovered, RFC 2047 encoded-words decoded.

    Values over ``MAX_HEADER_CHARS`` are cut first (the stdlib decoder is quadratic in the
    number of encoded-words).
    """
    if len(value) > MAX_HEADER_CHARS:
        value = value[:MAX_HEADER_CHARS]
    if not value.isascii():
        value = _from_8bit(value)
    value = unfold(value)
    if "=?" not in value:
        return value
    # Imported on first use: email.header pulls in email.charset and the codec modules.
    from email.errors import HeaderParseError
    from email.header import decode_header

    try:
        parts = decode_header(value)
    except (HeaderParseError, ValueError, LookupError, UnicodeError, AssertionError):
        return value
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset or "utf-8"))
    text = "".join(out)
    if "\n" in text or "\r" in text or "\x00" in text:
        text = text.replace("\r", " ").replace("\n", " ").replace("\x00", "")
    return text.strip()


def snippet_of(text: str, length: int = 200) -> str:
    """The first ``length`` characters of ``text`` with whitespace collapsed."""
    window = length * 2
    while True:
        words = text[:window].split()
        out = " ".join(words)
        if len(out) >= length or window >= len(text):
            return out[:length]
        window *= 4


_TAG = re.compile(r"<[^<>]*>")
_BLOCK_TAG = re.compile(r"<(?:br|/p|/div|/tr|/li|/h[1-6])\b[^<>]*>", re.IGNORECASE)
_HIDDEN = ("script", "style", "head", "title")


def _drop_hidden(markup: str) -> str:
    """Drop <script>/<style>/<head>/<title> elements in one linear pass (no backtracking)."""
    lower = markup.lower()
    if not any("<" + name in lower for name in _HIDDEN):
        return markup
    n = len(markup)
    # Next start of each element at or after `pos`, cached so every search is linear.
    starts = {name: lower.find("<" + name) for name in _HIDDEN}
    out: list[str] = []
    pos = 0
    while pos < n:
        for name, at in starts.items():
            if at != -1 and at < pos:
                starts[name] = lower.find("<" + name, pos)
        live = [(at, name) for name, at in starts.items() if at != -1]
        if not live:
            out.append(markup[pos:])
            break
        best, name = min(live)
        out.append(markup[pos:best])
        end = lower.find("</" + name, best)
        if end == -1:
            break  # unterminated: the rest is hidden
        close = lower.find(">", end)
        pos = n if close == -1 else close + 1
        out.append(" ")
    return "".join(out)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body: hidden elements dropped, tags removed, entities decoded."""
    # An empty comment separates nothing a reader sees (visible_html splits long text with
    # them); any other tag becomes a space.
    text = _drop_hidden(markup.replace("<!---->", "") if "<!---->" in markup else markup)
    text = _BLOCK_TAG.sub("\n", text)
    text = _TAG.sub(" ", text)
    if "&" in text:
        import html  # only here: html.entities is a large table

        text = html.unescape(text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)
