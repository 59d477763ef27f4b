"""Bounds of tool arguments: the WIT ``tool-limits`` record, and the host's own checks of them.

The guest receives these values (host function ``limits``), publishes them in its JSON Schema
and refuses anything outside them before calling the host. The host checks them again here,
because a guest is not trusted; each message is word for word the guest's, so a caller sees
the same refusal whichever side caught it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidArgument
from ._send import AttachmentBase64, OutgoingMessage

MiB = 1024 * 1024

PagedTool = Literal["list", "search", "outbox"]


@dataclass(frozen=True, slots=True)
class ToolLimits:
    """Mirrors WIT ``tool-limits``; defaults are those of an empty configuration."""

    list_page_max: int = 500
    list_page_default: int = 50
    search_page_max: int = 500
    search_page_default: int = 50
    outbox_page_max: int = 500
    outbox_page_default: int = 50
    #: The largest per-account cap (the host also applies each account's own).
    max_recipients: int = 100
    max_attachments: int = 20
    max_body_chars: int = 4 * MiB
    max_attachment_base64_chars: int = 6 * MiB
    #: Ids of one bulk action: the largest per-account ``actions.bulk_limit`` (the host also
    #: applies each account's own).
    bulk_limit: int = 100
    #: Ids of one email.get_many (``services.actions.GET_MANY_LIMIT``).
    get_many_max: int = 20
    #: Bytes email.attachment returns inline (``[attachments] inline_max_bytes``).
    attachment_inline_max_bytes: int = 256 * 1024

    def page_bounds(self, tool: PagedTool) -> tuple[int, int]:
        """``(max, default)`` of ``limit`` for one paged tool."""
        if tool == "list":
            return self.list_page_max, self.list_page_default
        if tool == "search":
            return self.search_page_max, self.search_page_default
        return self.outbox_page_max, self.outbox_page_default

    def check_page(self, tool: PagedTool, limit: int) -> None:
        """:raises InvalidArgument: ``limit`` outside 1..max (the guest's words)."""
        top, default = self.page_bounds(tool)
        if not 1 <= limit <= top:
            raise InvalidArgument(
                f"limit must be between 1 and {top}, got {limit}",
                hint=f"Give limit within 1..{top}, e.g. {default}.",
            )

    def check_bodies(self, body_text: str | None, body_html: str | None) -> None:
        """:raises InvalidArgument: a body longer than ``max_body_chars``."""
        for name, body in (("body_text", body_text), ("body_html", body_html)):
            if body is not None and len(body) > self.max_body_chars:
                raise InvalidArgument(
                    f"{name} is too long: {len(body)} characters, at most {self.max_body_chars}",
                    hint=f"Shorten {name}.",
                )

    def check_outgoing(self, msg: OutgoingMessage, max_recipients: int) -> None:
        """Recipients (against the account's cap), attachments and bodies of ``msg``.

        :raises InvalidArgument: the first bound ``msg`` exceeds.
        """
        total = len(msg.to) + len(msg.cc) + len(msg.bcc)
        if total > max_recipients:
            raise InvalidArgument(
                f"{total} recipients in to, cc and bcc together, at most {max_recipients}",
                hint="Split the message into several sends.",
            )
        if len(msg.attachments) > self.max_attachments:
            raise InvalidArgument(
                f"attachments has {len(msg.attachments)} items, at most {self.max_attachments}",
                hint=f"Send at most {self.max_attachments} attachments per message.",
            )
        for i, a in enumerate(msg.attachments):
            if (
                isinstance(a.source, AttachmentBase64)
                and len(a.source.data) > self.max_attachment_base64_chars
            ):
                raise InvalidArgument(
                    f"attachments[{i}].content_base64 is larger than "
                    f"{self.max_attachment_base64_chars} characters",
                    hint="Attach a large file by path (under the host's attachment root).",
                )
        self.check_bodies(msg.body_text, msg.body_html)


def check_dates(since: int | None, before: int | None) -> None:
    """The one date rule, in guest and host alike: ``since`` strictly earlier than ``before``.

    :raises InvalidArgument: ``since >= before``.
    """
    if since is not None and before is not None and since >= before:
        raise InvalidArgument(
            "since must be earlier than before", hint="Swap the two, or drop one of them."
        )
