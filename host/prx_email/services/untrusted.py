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
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..mail.decode import html_to_text, snippet_of
from ..types import (
    Event,
    EventPage,
    Header,
    Message,
    MessagePage,
    MessageSummary,
    Removal,
    Thread,
)

__all__ = [
    "clean_event_page",
    "clean_html",
    "clean_message",
    "clean_page",
    "clean_summaries",
    "clean_text",
    "clean_thread",
]

#: Zero-width characters (and the soft hyphen and Mongolian vowel separator, also invisible).
_ZERO_WIDTH: Final = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064"
#: Bidirectional controls: embeddings, overrides, isolates and the directional marks.
_BIDI: Final = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_ZW_RE: Final = re.compile(f"[{_ZERO_WIDTH}]")
_BIDI_RE: Final = re.compile(f"[{_BIDI}]")
_ANY_CONTROL_RE: Final = re.compile(f"[{_ZERO_WIDTH}{_BIDI}]")


def clean_text(text: str, removed: Counter[str]) -> str:
    """``text`` without zero-width and bidi control characters (counted in ``removed``)."""
    out, zw = _ZW_RE.subn("", text)
    out, bidi = _BIDI_RE.subn("", out)
    if zw:
        removed["zero-width-char"] += zw
    if bidi:
        removed["bidi-control-char"] += bidi
    return out


def clean_html(markup: str, removed: Counter[str]) -> str:
    """Visible, sanitised HTML for ``markup``; what was dropped is counted in ``removed``."""
    # Here, not at the top: listing pages cleans summaries with this module too, and should
    # not pay for the HTML parser and the sanitiser.
    import nh3

    from ..mail.visible import visible_html

    visible, dropped = visible_html(markup)
    removed.update(dropped)
    return clean_text(nh3.clean(visible), removed)


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


def _texts_of(s: MessageSummary) -> list[str]:
    return [s.subject, s.from_, s.snippet, *s.to, *s.cc]


def clean_page(page: MessagePage) -> MessagePage:
    """``page`` (``email.list``, ``email.search``) with :func:`clean_summaries` applied.

    A page is listed often and almost never holds a control character: one search over all
    its texts decides, and the page is copied only when it finds one."""
    texts = [t for s in page.messages for t in _texts_of(s)]
    if not _ANY_CONTROL_RE.search("\n".join(texts)):
        return page
    return dataclasses.replace(page, messages=clean_summaries(page.messages))


def clean_summaries(summaries: Iterable[MessageSummary]) -> tuple[MessageSummary, ...]:
    """Summaries with zero-width and bidi controls stripped from subject, addresses and
    snippet, as in a message; a summary is copied only when it holds one."""
    out = []
    for s in summaries:
        if _ANY_CONTROL_RE.search("\n".join(_texts_of(s))):
            s = _summary(s, Counter())
        out.append(s)
    return tuple(out)


def _clean_detail(value: Any, removed: Counter[str]) -> Any:
    """Every string in an event's detail cleaned (a bounce's reason and an SMTP error are a
    remote server's words: a hostile one can hide text in them like a sender can)."""
    if isinstance(value, str):
        return clean_text(value, removed)
    if isinstance(value, Mapping):
        return {k: _clean_detail(v, removed) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_detail(v, removed) for v in value]
    return value


def clean_event_page(page: EventPage) -> EventPage:
    """``page`` with the sender, subject, snippet and detail texts of each event stripped of
    zero-width and bidi controls, as for a message (an event is what the agent reads first)."""

    def one(e: Event) -> Event:
        removed: Counter[str] = Counter()
        return dataclasses.replace(
            e,
            from_=clean_text(e.from_, removed),
            subject=clean_text(e.subject, removed),
            snippet=clean_text(e.snippet, removed),
            detail=_clean_detail(e.detail, removed),
        )

    return dataclasses.replace(page, events=tuple(one(e) for e in page.events))
