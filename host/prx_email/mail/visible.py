"""What a person would see of an HTML body: hidden elements, comments and active content out.

An HTML mail can carry text no reader sees — ``display:none``, ``visibility:hidden``, zero
font size, ``opacity:0``, off-screen positioning, zero-size boxes with hidden overflow,
transparent text, the ``hidden`` attribute, classes or ids a ``<style>`` block hides — and an
agent reading the markup would take it in (prompt injection). :func:`visible_html` drops
those elements with their content, and comments, scripts, styles and other active content,
and counts what it dropped by reason. The store derives an HTML-only message's snippet and
search text from it; ``services.untrusted`` applies it (then nh3's allowlist) to what the
agent receives.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from html.parser import HTMLParser
from typing import Final

__all__ = ["visible_html"]

# Hidden-content tests on a style declaration list (lower-cased, whitespace removed).
_ZERO = r"-?0*\.?0+(?:px|pt|em|rem|ex|ch|%|vw|vh|cm|mm|in)?(?:!important)?(?:;|$)"
_HIDDEN_STYLE: Final = (
    ("display-none", re.compile(r"(?:^|;)display:none")),
    ("visibility-hidden", re.compile(r"(?:^|;)visibility:(?:hidden|collapse)")),
    ("zero-font-size", re.compile(r"(?:^|;)font-size:" + _ZERO)),
    ("zero-font-size", re.compile(r"(?:^|;)font:(?:[^;]*\s)?" + _ZERO)),
    ("opacity-zero", re.compile(r"(?:^|;)opacity:" + _ZERO)),
    (
        "off-screen",
        re.compile(r"(?:^|;)(?:left|top|right|bottom|text-indent|margin-left|margin-top):-\d{3,}"),
    ),
    ("off-screen", re.compile(r"(?:^|;)clip:rect\(0")),
    ("zero-size", re.compile(r"(?:^|;)(?:max-)?(?:height|width):" + _ZERO)),
    ("transparent-text", re.compile(r"(?:^|;)color:transparent")),
)
_RULE: Final = re.compile(r"([^{}]+)\{([^{}]*)\}")
_SIMPLE_SELECTOR: Final = re.compile(r"^([a-z0-9]*)(?:([.#])([a-z0-9_-]+))?$")
#: Elements nested deeper than this are not emitted (their content is): the sanitiser's
#: HTML5 tree builder checks element scopes along the open elements, so its time grows with
#: depth times elements (``"<div>" * 20_000`` took nh3 ~0.8 s, four times that 16 times).
_MAX_DEPTH: Final = 256
#: At most this many start tags are emitted (the text after them still is): the bound on
#: the sanitiser's work whatever tree it builds from them (~1 s for 20,000 nested ones).
_MAX_TAGS: Final = 20_000
#: HTML elements that end SVG/MathML content in a browser: there "/>" is ignored again.
_BREAKOUT: Final = frozenset(
    {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em",
     "embed", "font", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li",
     "listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span",
     "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var"}
)  # fmt: skip
#: The sanitiser's time grows with the square of the ``&`` in one text node or attribute
#: value (400,000 took nh3 ~1.7 s, 4 times as many 16 times that): long text is emitted in
#: pieces split by an empty comment (which it removes), and an attribute value with more
#: ampersands than any real URL is dropped.
_TEXT_PIECE: Final = 2048
_SPLIT: Final = "<!---->"
_MAX_AMPERSANDS: Final = 256
#: A ``<`` that cannot open markup (not before a letter, ``/``, ``!`` or ``?``): the parser
#: reads it as text one character at a time, so a run of them is escaped up front.
_LONE_LT: Final = re.compile(r"<(?![a-zA-Z/!?])")
#: Elements dropped with their content: active or invisible by nature.
_ACTIVE: Final = frozenset(
    {"script", "style", "template", "iframe", "object", "embed", "noscript", "head", "title"}
)
_VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip


def _hidden_by_style(style: str) -> str | None:
    compact = re.sub(r"\s+", "", style.lower())
    for reason, pattern in _HIDDEN_STYLE:
        if pattern.search(compact):
            if reason == "zero-size" and "overflow:hidden" not in compact:
                continue  # a zero-height box shows its overflow
            return reason
    return None


def _hidden_selectors(css: str) -> dict[str, str]:
    """Simple selectors (``.c``, ``#id``, ``tag``) a style sheet hides → the reason."""
    out: dict[str, str] = {}
    for selectors, body in _RULE.findall(css.lower()):
        reason = _hidden_by_style(body)
        if reason is None:
            continue
        for sel in selectors.split(","):
            m = _SIMPLE_SELECTOR.match(sel.strip())
            if m:
                out[sel.strip()] = reason
    return out


class _Strip(HTMLParser):
    """Re-emits HTML without hidden elements, comments and active content."""

    def __init__(self, hidden: dict[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = hidden
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # open elements, and whether each was emitted
        self.open: Counter[str] = Counter()  # open elements by name (a stray end tag is O(1))
        self.tags = 0  # start tags emitted
        self.skip_at: int | None = None  # stack depth where the dropped element started
        self.removed: Counter[str] = Counter()

    def _reason(self, tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
        if tag in _ACTIVE:
            return "active-content"
        values = {k: v or "" for k, v in attrs}
        if "hidden" in values:
            return "hidden-attribute"
        style = values.get("style")
        if style:
            reason = _hidden_by_style(style)
            if reason:
                return reason
        if self.hidden:
            keys = [tag]
            keys += [f"{p}.{c}" for c in values.get("class", "").lower().split() for p in ("", tag)]
            if values.get("id"):
                keys += [f"#{values['id'].lower()}", f"{tag}#{values['id'].lower()}"]
            for key in keys:
                if key in self.hidden:
                    return self.hidden[key]
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, opens=tag not in _VOID)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A browser ignores "/>" on an HTML element (<div style="display:none"/> hides what
        # follows it); only void elements and SVG/MathML content close there.
        foreign = tag not in _BREAKOUT and (self.open["svg"] > 0 or self.open["math"] > 0)
        self._start(tag, attrs, opens=not (tag in _VOID or foreign))

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, opens: bool) -> None:
        shown = False
        if self.skip_at is None:
            reason = self._reason(tag, attrs)
            if reason is not None:
                self.removed[reason] += 1
                if opens:
                    self.skip_at = len(self.stack)
            elif self.tags >= _MAX_TAGS:
                self.removed["excess-markup"] += 1
            elif not opens or len(self.stack) < _MAX_DEPTH:
                self.out.append(self._tag_text(tag, attrs))
                self.tags += 1
                shown = opens
            else:
                self.removed["excess-nesting"] += 1
        if opens:
            self.stack.append((tag, shown))
            self.open[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if not self.open[tag]:
            return  # a stray end tag closes nothing
        while self.stack:  # closes what it implies closed too: the output stays balanced
            name, shown = self.stack.pop()
            self.open[name] -= 1
            if shown:
                self.out.append(f"</{name}>")
            if name == tag:
                break
        if self.skip_at is not None and len(self.stack) <= self.skip_at:
            self.skip_at = None

    def finish(self) -> None:
        """Close what the markup left open (the output stays balanced)."""
        self.out.extend(f"</{name}>" for name, shown in reversed(self.stack) if shown)
        self.stack.clear()

    def handle_data(self, data: str) -> None:
        if self.skip_at is None:
            if len(data) <= _TEXT_PIECE:
                self.out.append(html.escape(data, quote=False))
            else:  # an empty comment between pieces: the sanitiser makes each its own node
                pieces = range(0, len(data), _TEXT_PIECE)
                self.out.append(
                    _SPLIT.join(html.escape(data[i : i + _TEXT_PIECE], quote=False) for i in pieces)
                )

    def _tag_text(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        text = self.get_starttag_text() or ""
        if len(text) <= _TEXT_PIECE or text.count("&") <= _MAX_AMPERSANDS:
            return text
        kept = [(k, v) for k, v in attrs if v is None or v.count("&") <= _MAX_AMPERSANDS]
        self.removed["excess-markup"] += len(attrs) - len(kept)
        end = "/>" if text.endswith("/>") else ">"
        return (
            f"<{tag}"
            + "".join(f" {k}" if v is None else f' {k}="{html.escape(v)}"' for k, v in kept)
            + end
        )

    def handle_comment(self, data: str) -> None:
        self.removed["html-comment"] += 1

    def unknown_decl(self, data: str) -> None:  # <![CDATA[...]]>: not for a mail body
        self.removed["html-comment"] += 1


class _StyleSheets(HTMLParser):
    """Collects the text of every ``<style>`` element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.css: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.css.append(data)


def _parse_all(parser: HTMLParser, markup: str) -> bool:
    """Feed ``markup`` to ``parser`` and close it in linear time; True if a tail was dropped.

    ``HTMLParser.close()`` (CPython gh-135462, fixed in releases after the 3.11 we run) re-reads
    an unterminated tag, comment or declaration at the end from each following ``<`` up to the
    end of the text: quadratic, so ``"<a " * 40_000`` took minutes. What ``feed`` leaves
    unconsumed is exactly such a construct (a ``<`` it could not finish), and a browser shows
    nothing of it either (EOF in a tag, comment or attribute value): it is dropped before
    closing.
    """
    parser.feed(_LONE_LT.sub("&lt;", markup) if "<" in markup else markup)
    tail = parser.rawdata  # HTMLParser's unconsumed input
    dropped = len(tail) > 1 and tail[0] == "<" and parser.cdata_elem is None
    if dropped:
        parser.rawdata = ""
    parser.close()
    return dropped


def visible_html(markup: str) -> tuple[str, Counter[str]]:
    """``markup`` without what a reader would not see, and what was dropped (by reason)."""
    hidden: dict[str, str] = {}
    if "<style" in markup.lower():
        sheets = _StyleSheets()
        _parse_all(sheets, markup)
        hidden = _hidden_selectors("\n".join(sheets.css))
    strip = _Strip(hidden)
    if _parse_all(strip, markup):
        strip.removed["unterminated-markup"] += 1
    strip.finish()
    return "".join(strip.out), strip.removed
