"""The plain-text alternative of an HTML body, derived with ``html2text``.

html2text (pure Python, no dependencies, maintained since 2012) renders HTML as readable
Markdown-like text: paragraphs, lists, emphasis and links survive, scripts and styles do not.
Lines are not re-wrapped (``body_width = 0``): mail clients wrap themselves, and hard
breaks inside a URL would break the link.
"""

from __future__ import annotations


def html_to_text(html: str) -> str:
    """Readable plain text for ``html``."""
    import html2text  # imported on use: only drafts and sends with HTML-only bodies need it

    conv = html2text.HTML2Text()
    conv.body_width = 0
    conv.ignore_images = True
    conv.unicode_snob = True  # keep non-ASCII characters rather than ASCII look-alikes
    return conv.handle(html).strip() + "\n"
