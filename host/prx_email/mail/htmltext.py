"""The plain-text alternative of an HTML body, derived with ``html2text``.

html2text (pure Python, no dependencies, maintained since 2012) renders HTML as readable
Markdown-like text: paragraphs, lists, emphasis and links survive, scripts and styles do not.
Lines are not re-wrapped (``body_width = 0``): mail clients wrap themselves, and hard
breaks inside a URL would break the link.

html2text reads with the standard library's ``HTMLParser``, which is quadratic on some
malformed input (an unterminated tag at the end, runs of ``&#``): it is given
:func:`~prx_email.mail.visible.visible_html`'s output, balanced markup with text escaped, and
the text shows what a reader of the HTML sees (no hidden elements).
"""

from __future__ import annotations


def html_to_text(html: str) -> str:
    """Readable plain text for ``html``."""
    import html2text  # imported on use: only drafts and sends with HTML-only bodies need it

    from .visible import visible_html

    conv = html2text.HTML2Text()
    conv.body_width = 0
    conv.ignore_images = True
    conv.unicode_snob = True  # keep non-ASCII characters rather than ASCII look-alikes
    return conv.handle(visible_html(html)[0]).strip() + "\n"
