"""Prompts that show a model how to use the tools well for three common jobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mcp.types as types

__all__ = ["PROMPTS", "UnknownPrompt", "get_prompt", "list_prompts"]


@dataclass(frozen=True, slots=True)
class _Prompt:
    name: str
    description: str
    arguments: tuple[tuple[str, str, bool], ...]  # (name, description, required)
    template: str


_ACCOUNT = ("account_id", "Id of the account (see email.accounts); default 1.", False)
_MESSAGE = ("message_id", "Local id of a message of the thread (from email.list).", True)

PROMPTS = (
    _Prompt(
        "triage_unread",
        "Triage the unread mail of one account: what needs an answer, what can wait.",
        (_ACCOUNT,),
        "Triage my unread email in account {account_id}.\n"
        "1. Call email.list with account_id={account_id}, unseen_only=true, limit=50 "
        "(follow next_cursor if there is more).\n"
        "2. For messages whose snippet is not enough, call email.get (or email.get_many).\n"
        "3. Group them: needs a reply from me, needs an action, for information, "
        "probably unwanted. One line each: sender, subject, why, message id.\n"
        "Do not mark, move, delete or send anything: this is a read-only review.",
    ),
    _Prompt(
        "summarise_thread",
        "Summarise the conversation a message belongs to.",
        (_ACCOUNT, _MESSAGE),
        "Summarise the email thread of message {message_id} in account {account_id}.\n"
        "Call email.thread with account_id={account_id}, id={message_id}, then email.get "
        "for the messages you need to read in full. Give: who is involved, what was asked "
        "or decided, open questions, and what (if anything) is expected of me. "
        "Quote sparingly; do not change anything in the mailbox.",
    ),
    _Prompt(
        "draft_reply",
        "Draft a reply to a message and save it as a draft (never sent).",
        (
            _ACCOUNT,
            _MESSAGE,
            ("intent", "What the reply should say, in a few words.", False),
        ),
        "Draft a reply to message {message_id} in account {account_id}. What I want to "
        "say: {intent}.\n"
        "1. Read it with email.get (and email.thread for context).\n"
        "2. Write the reply, then save it with email.draft_create: account_id="
        "{account_id}, in_reply_to={message_id}, to = the sender (or the Reply-To), "
        'subject = "Re: " + the original subject unless it already starts with it, '
        "body_text = your reply.\n"
        "3. Tell me the draft's id and that it is in the Drafts folder.\n"
        "Do NOT call email.send or email.reply: I will review and send it myself.",
    ),
)

_BY_NAME = {p.name: p for p in PROMPTS}


class UnknownPrompt(LookupError):
    """No prompt has that name."""


def list_prompts() -> list[types.Prompt]:
    return [
        types.Prompt(
            name=p.name,
            description=p.description,
            arguments=[
                types.PromptArgument(name=n, description=d, required=r) for n, d, r in p.arguments
            ],
        )
        for p in PROMPTS
    ]


def get_prompt(name: str, arguments: Mapping[str, str] | None) -> types.GetPromptResult:
    """The prompt's message with its arguments filled in.

    :raises UnknownPrompt: no prompt has that name.
    :raises ValueError: a required argument is missing, or an id is not a positive integer.
    """
    prompt = _BY_NAME.get(name)
    if prompt is None:
        raise UnknownPrompt(name)
    given = dict(arguments or {})
    values: dict[str, str] = {}
    for arg, _desc, required in prompt.arguments:
        value = str(given.get(arg, "")).strip()
        if not value:
            if required:
                raise ValueError(f"prompt {name} needs the argument {arg}")
            value = "1" if arg == "account_id" else "(ask me)"
        if arg in {"account_id", "message_id"} and not (value.isdigit() and int(value) > 0):
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
        values[arg] = value
    text = prompt.template.format(**values)
    return types.GetPromptResult(
        description=prompt.description,
        messages=[
            types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))
        ],
    )
