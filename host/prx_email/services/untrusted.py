"""Inbound content is untrusted: what the agent gets of a stored message is cleaned first.

A message is written by whoever sent it, and an agent reading it may take its words as
instructions (prompt injection). On the way out of ``email.get``, ``email.get_many`` and
``email.thread`` (never in the store: the raw message stays there for the operator):

- HTML: elements a person would not see are dropped with their content (``display:none``,
  ``visibility:hidden``, zero font size, ``opacity:0``, off-screen positioning, zero-size
  boxes with hidden overflow, transparent text, the ``hidden`` attribute, classes a
  ``<style>`` block hides), and so are comments, scripts, styles and other active content;
  then nh3 (the maintained Rust ``ammonia`` sanitiser) applies its allowlist to what is left.
- Text everywhere (subject, addresses, snippet, headers, bodies, attachment names):
  zero-width and bidirectional control characters are stripped.

The result says ``untrusted = True`` and lists what was removed (reason, count).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections import Counter
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Final

import nh3

from ..mail.decode import html_to_text, snippet_of
from ..types import Event, EventPage, Header, Message, MessageSummary, Removal, Thread

__all__ = ["clean_html", "clean_message", "clean_text", "clean_thread"]

#: Zero-width characters (and the soft hyphen and Mongolian vowel separator, also invisible).
_ZERO_WIDTH: Final = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064"
#: Bidirectional controls: embeddings, overrides, isolates and the directional marks.
_BIDI: Final = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_ZW_RE: Final = re.compile(f"[{_ZERO_WIDTH}]")
_BIDI_RE: Final = re.compile(f"[{_BIDI}]")

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


def clean_text(text: str, removed: Counter[str]) -> str:
    """``text`` without zero-width and bidi control characters (counted in ``removed``)."""
    out, zw = _ZW_RE.subn("", text)
    out, bidi = _BIDI_RE.subn("", out)
    if zw:
        removed["zero-width-char"] += zw
    if bidi:
        removed["bidi-control-char"] += bidi
    return out


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


def clean_html(markup: str, removed: Counter[str]) -> str:
    """Visible, sanitised HTML for ``markup``; what was dropped is counted in ``removed``."""
    sheets = _StyleSheets()
    hidden: dict[str, str] = {}
    if "<style" in markup.lower():
        sheets.feed(markup)
        sheets.close()
        hidden = _hidden_selectors("\n".join(sheets.css))
    strip = _Strip(hidden)
    strip.feed(markup)
    strip.close()
    removed.update(strip.removed)
    return clean_text(nh3.clean("".join(strip.out)), removed)


def _texts(values: Iterable[str], removed: Counter[str]) -> tuple[str, ...]:
    return tuple(clean_text(v, removed) for v in values)


def _summary(s: MessageSummary, removed: Counter[str]) -> MessageSummary:
    return dataclasses.replace(
        s,
        subject=clean_text(s.subject, removed),
        from_=clean_text(s.from_, removed),
        to=_texts(s.to, removed),
        cc=_texts(s.cc, removed),
        snippet=clean_text(s.snippet, removed),
    )


def _removals(removed: Counter[str]) -> tuple[Removal, ...]:
    return tuple(Removal(reason, count) for reason, count in sorted(removed.items()))


def _visible_snippet(summary: MessageSummary, visible_html: str) -> MessageSummary:
    # The stored snippet of an HTML-only message was derived with the hidden text in.
    return dataclasses.replace(summary, snippet=snippet_of(html_to_text(visible_html)))


def clean_message(m: Message) -> Message:
    """``m`` as the agent may see it: cleaned, ``untrusted``, with what was removed."""
    removed: Counter[str] = Counter()
    text = None if m.body_text is None else clean_text(m.body_text, removed)
    body_html = None if m.body_html is None else clean_html(m.body_html, removed)
    summary = _summary(m.summary, removed)
    if text is None and body_html is not None:
        summary = _visible_snippet(summary, body_html)
    return dataclasses.replace(
        m,
        summary=summary,
        reply_to=_texts(m.reply_to, removed),
        headers=tuple(Header(h.name, clean_text(h.value, removed)) for h in m.headers),
        body_text=text,
        body_html=body_html,
        attachments=tuple(
            a
            if a.filename is None
            else dataclasses.replace(a, filename=clean_text(a.filename, removed))
            for a in m.attachments
        ),
        untrusted=True,
        removed=_removals(removed),
    )


def clean_thread(t: Thread, full: Iterable[Message | None] = ()) -> Thread:
    """``t`` with every summary cleaned, ``untrusted``, with what was removed over all.

    ``full``: the thread's messages in full, where known: the snippet of an HTML-only one is
    derived again from its visible text.
    """
    removed: Counter[str] = Counter()
    html_only = {
        m.summary.id: m.body_html
        for m in full
        if m is not None and m.body_text is None and m.body_html is not None
    }
    out = []
    for s in t.messages:
        summary = _summary(s, removed)
        markup = html_only.get(s.id)
        if markup is not None:
            # What this removes is in the body, which the thread does not carry: not counted.
            summary = _visible_snippet(summary, clean_html(markup, Counter()))
        out.append(summary)
    return dataclasses.replace(t, messages=tuple(out), untrusted=True, removed=_removals(removed))


def clean_event_page(page: EventPage) -> EventPage:
    """``page`` with the sender, subject and snippet of each event stripped of zero-width
    and bidi controls, as for a message (an event is what the agent reads first)."""

    def one(e: Event) -> Event:
        removed: Counter[str] = Counter()
        return dataclasses.replace(
            e,
            from_=clean_text(e.from_, removed),
            subject=clean_text(e.subject, removed),
            snippet=clean_text(e.snippet, removed),
        )

    return dataclasses.replace(page, events=tuple(one(e) for e in page.events))
