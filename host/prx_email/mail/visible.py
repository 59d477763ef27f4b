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
        self.stack: list[str] = []
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
        if self.skip_at is None:
            reason = self._reason(tag, attrs)
            if reason is not None:
                self.removed[reason] += 1
                if tag in _VOID:
                    return
                self.skip_at = len(self.stack)
            else:
                self.out.append(self.get_starttag_text() or "")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_at is None:
            reason = self._reason(tag, attrs)
            if reason is not None:
                self.removed[reason] += 1
            else:
                self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.stack:
            return  # a stray end tag closes nothing
        while self.stack:
            if self.stack.pop() == tag:
                break
        if self.skip_at is not None:
            if len(self.stack) <= self.skip_at:
                self.skip_at = None
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.skip_at is None:
            self.out.append(html.escape(data, quote=False))

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


def visible_html(markup: str) -> tuple[str, Counter[str]]:
    """``markup`` without what a reader would not see, and what was dropped (by reason)."""
    hidden: dict[str, str] = {}
    if "<style" in markup.lower():
        sheets = _StyleSheets()
        sheets.feed(markup)
        sheets.close()
        hidden = _hidden_selectors("\n".join(sheets.css))
    strip = _Strip(hidden)
    strip.feed(markup)
    strip.close()
    return "".join(strip.out), strip.removed
