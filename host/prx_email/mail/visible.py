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
    {"script", "style", "template", "iframe", "object", "embed", "noscript", "noembed",
     "noframes", "head", "title", "svg", "math"}
)  # fmt: skip
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


# An end tag the way a browser tokenizes it: attributes (quoted ones may hold ">") included.
_END_TAG: Final = re.compile(
    r"""</([a-zA-Z][^\t\n\r\f />\x00]*)(?:[\s/]*(?:(?<=['"\s/])[^\s/>][^\s/=>]*"""
    r"""(?:\s*=+\s*(?:'[^']*'|"[^"]*"|(?!['"])[^>\s]*)\s*)?(?:\s|/(?!>))*)*)?\s*>"""
)
_OPEN_QUOTE: Final = re.compile(r"""[^>]*?=\s*['"]""")
_COMMENT_END: Final = re.compile(r"--!?>")
#: Elements whose end tag a browser ignores when it would cross one of these (HTML5's
#: "has an element in scope"), and the elements "any other end tag" may not cross.
_SCOPE: Final = frozenset(
    {"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "mi",
     "mo", "mn", "ms", "mtext", "annotation-xml", "foreignobject", "desc"}
)  # fmt: skip
_FORMATTING: Final = frozenset(
    {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt",
     "u"}
)  # fmt: skip
#: Start tags that close an open <p> (in button scope), and list items closing list items.
_CLOSES_P: Final = frozenset(
    {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div",
     "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu",
     "nav", "ol", "p", "search", "section", "summary", "ul", "h1", "h2", "h3", "h4", "h5", "h6",
     "pre", "listing", "form", "li", "dd", "dt", "plaintext", "table", "hr", "xmp"}
)  # fmt: skip
_FONT_BREAKS: Final = frozenset({"color", "face", "size"})  # only such a <font> breaks out
_TABLE_PARTS: Final = frozenset(
    {"caption", "col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"}
)
_INTEGRATION: Final = frozenset(
    {"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"}
)
_IN_SELECT: Final = frozenset({"select", "option", "optgroup", "template"})
_CLOSES_ITEM: Final = {"li": ("li",), "dd": ("dd", "dt"), "dt": ("dd", "dt")}
#: End tags with their own scope (list item scope, button scope).
_FENCES: Final = {"li": _SCOPE | {"ol", "ul"}, "p": _SCOPE | {"button"}}
_SPECIAL: Final = _SCOPE | frozenset(
    {"address", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote",
     "body", "br", "button", "center", "col", "colgroup", "dd", "details", "dir", "div", "dl",
     "dt", "embed", "fieldset", "figcaption", "figure", "footer", "form", "frame", "frameset",
     "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr", "iframe", "img",
     "input", "keygen", "li", "link", "listing", "main", "menu", "meta", "nav", "noembed",
     "noframes", "noscript", "ol", "p", "param", "plaintext", "pre", "script", "search",
     "section", "select", "source", "style", "summary", "tbody", "textarea", "tfoot", "thead",
     "title", "tr", "track", "ul", "wbr", "xmp"}
)  # fmt: skip


class _Html5Reading(HTMLParser):
    """HTMLParser where it reads differently from a browser in ways that hide or show text.

    Raw-text elements (a browser does not parse markup inside ``<noscript>``, ``<iframe>``,
    ``<noembed>``, ``<noframes>``, ``<xmp>``, ``<title>``, ``<textarea>``); comments end only
    at ``-->`` or ``--!>``, and ``<!-->``/``<!--->`` are empty ones (the stdlib also ends one at
    ``-- >``, which would show the rest of a comment to the agent); an end tag's quoted
    attribute value may hold ``>``.
    """

    CDATA_CONTENT_ELEMENTS = (  # type: ignore[misc]  # Final in typeshed, a class attribute here
        "script", "style", "iframe", "noembed", "noframes", "noscript", "xmp", "title", "textarea",
    )  # fmt: skip

    def parse_comment(self, i: int, report: bool = True) -> int:
        rawdata = self.rawdata
        for abrupt in ("<!-->", "<!--->"):
            if rawdata.startswith(abrupt, i):
                self.handle_comment("")
                return i + len(abrupt)
        match = _COMMENT_END.search(rawdata, i + 4)
        if not match:
            return -1
        self.handle_comment(rawdata[i + 4 : match.start()])
        return match.end()

    def parse_endtag(self, i: int) -> int:
        if self.cdata_elem is None and (match := _END_TAG.match(self.rawdata, i)):
            self.handle_endtag(match.group(1).lower())
            return match.end()
        if self.cdata_elem is None and _OPEN_QUOTE.match(self.rawdata, i):
            return -1  # an unterminated quoted value: to the end, as in a browser
        return super().parse_endtag(i)


class _Strip(_Html5Reading):
    """Re-emits HTML without hidden elements, comments and active content."""

    def __init__(self, hidden: dict[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = hidden
        self.out: list[str] = []
        # Open elements: name, whether emitted, whether a formatting element hidden itself.
        self.stack: list[tuple[str, bool, bool]] = []
        self.open: Counter[str] = Counter()  # open elements by name (a stray end tag is O(1))
        self.tags = 0  # start tags emitted
        self.skip_at: int | None = None  # stack depth where the dropped element started
        # Hidden formatting elements (<b style="display:none">) that another tag closed: a
        # browser reopens them for the text that follows, until their own end tag.
        self.linger: set[str] = set()
        self.form = False  # a browser's "form element pointer": set by <form>, until </form>
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
        foreign = self.open["svg"] > 0 or self.open["math"] > 0
        if (
            foreign
            and tag in _BREAKOUT
            and (tag != "font" or any(k in _FONT_BREAKS for k, _ in attrs))
        ):
            foreign = self._break_out()
        if self.open["select"] and tag in ("select", "input", "keygen", "textarea"):
            self._close_within("select", _SCOPE)  # these end an open select
            if tag == "select":
                return  # and a select in a select is not itself opened
        if not foreign and not self.open["select"]:  # HTML's rules (elsewhere other elements)
            if tag == "form":
                if self.form:
                    return  # a form inside a form is ignored, tag and all
                self.form = True
            if tag in _TABLE_PARTS and not self.open["table"]:
                return  # a browser ignores a cell or row outside a table
            if tag in _CLOSES_P and self.open["p"]:
                self._close_within("p", _SCOPE | {"button"})
            elif tag in _CLOSES_ITEM:
                for item in _CLOSES_ITEM[tag]:
                    if self.open[item]:
                        self._close_within(item, _SPECIAL - {"address", "div", "p"})
        shown = False
        # Inside a dropped element only a formatting element's own hiding still matters.
        needed = self.skip_at is None or tag in _FORMATTING
        reason = self._reason(tag, attrs) if needed else None
        veiled = opens and tag in _FORMATTING and reason is not None
        if self.skip_at is not None or self.linger:
            if reason is not None and opens and self.skip_at is None:
                self.skip_at = len(self.stack)  # hidden itself, inside a reopened hidden <b>
        elif reason is not None:
            self.removed[reason] += 1
            if opens:
                self.skip_at = len(self.stack)
        else:
            if tag == "form":
                pass  # not emitted: its end tag closes only itself (below), and nh3 drops it
            elif self.tags >= _MAX_TAGS:
                self.removed["excess-markup"] += 1
            elif not opens or len(self.stack) < _MAX_DEPTH:
                self.out.append(self._tag_text(tag, attrs))
                self.tags += 1
                shown = opens
            else:
                self.removed["excess-nesting"] += 1
        if opens:
            self.stack.append((tag, shown, veiled))
            self.open[tag] += 1

    def _break_out(self) -> bool:
        """An HTML element in SVG/MathML content closes it, unless inside an integration point
        (then it is HTML there): whether foreign content is still open."""
        root = None
        for steps, (name, _, _) in enumerate(reversed(self.stack)):
            if name in _INTEGRATION or steps == _MAX_DEPTH:
                break
            if name in ("svg", "math"):
                root = len(self.stack) - 1 - steps  # the outermost one counts
        if root is not None:
            self._pop_to(root, self.stack[root][0])
        return self.open["svg"] > 0 or self.open["math"] > 0

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form = False
        if tag in ("p", "br") and (self.open["svg"] or self.open["math"]):
            self._break_out()  # these two end tags end SVG/MathML content too
        if not self.open[tag]:
            self.linger.discard(tag)  # the reopened hidden one, if any, ends here
            return  # a stray end tag closes nothing else
        if tag in _TABLE_PARTS and not self.open["table"]:
            return
        if self.open["select"] and tag not in _IN_SELECT:
            return  # inside a <select> a browser ignores other end tags
        # A browser ignores an end tag that would cross a scope boundary (for the "special"
        # elements: div, p, li, ...) or any special element (for the others: span, b, ...).
        self._close_within(tag, _FENCES.get(tag, _SCOPE if tag in _SPECIAL else _SPECIAL))

    def _pop_to(self, at: int, tag: str) -> None:
        """Close the open element at ``at`` (``tag``) and, implied, every one above it."""
        if tag == "form":  # removes the form alone; what it holds stays open
            del self.stack[at]
            self.open[tag] -= 1
            if self.skip_at is not None and at < self.skip_at:
                self.skip_at -= 1
        while tag != "form" and len(self.stack) > at:  # implied end tags too: output balanced
            name, shown, veiled = self.stack.pop()
            self.open[name] -= 1
            if shown:
                self.out.append(f"</{name}>")
            if veiled and name != tag:
                self.linger.add(name)
        if self.skip_at is not None and len(self.stack) <= self.skip_at:
            self.skip_at = None

    def _close_within(self, tag: str, fence: frozenset[str]) -> None:
        """Close the innermost open ``tag`` unless one of ``fence`` is open inside it.

        Looked for at most _MAX_DEPTH deep (past that nothing is closed: hiding more, never
        less), so that tags which close nothing cost no more than that each.
        """
        for steps, (name, _, _) in enumerate(reversed(self.stack)):
            if name == tag:
                break
            if name in fence or steps == _MAX_DEPTH:
                return
        else:
            return
        self._pop_to(len(self.stack) - 1 - steps, tag)

    def finish(self) -> None:
        """Close what the markup left open (the output stays balanced)."""
        self.out.extend(f"</{name}>" for name, shown, _ in reversed(self.stack) if shown)
        self.stack.clear()

    def handle_data(self, data: str) -> None:
        if self.skip_at is None and not self.linger:
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


class _StyleSheets(_Html5Reading):
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
