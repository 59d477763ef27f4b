"""The tool catalogue: names, descriptions, argument fields, effects, and the validator.

One ``Field`` list per tool drives both the argument check and the JSON Schema that
``describe()`` publishes, so the two cannot drift apart. Optional arguments may be omitted or
given as ``null`` (same meaning); required ones may not be null.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

from prx_email_guest._envelope import show
from prx_email_guest._kinds import (
    U32_MAX,
    U64_MAX,
    Addresses,
    Attachments,
    Boolean,
    Choice,
    Integer,
    Kind,
    Schema,
    Text,
    Timestamp,
    invalid,
)

__all__ = ["CATALOGUE_JSON", "TOOLS", "Effects", "Field", "ToolSpec", "validate"]

T = TypeVar("T")

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
LIMIT_MAX: Final = 500
LIMIT_DEFAULT: Final = 50
RECIPIENTS_MAX: Final = 100
ATTACHMENTS_MAX: Final = 20
BODY_MAX: Final = 4 * 1024 * 1024
SUBJECT_MAX: Final = 998  # RFC 5322 §2.1.1 line limit
FOLDER_MAX: Final = 1024
CURSOR_MAX: Final = 4096
CRITERION_MAX: Final = 1000


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """One argument of a tool."""

    name: str
    kind: Kind[T]
    description: str
    required: bool = False
    default: T | None = None

    def value(self, args: Mapping[str, object]) -> T:
        """The checked value of a required or defaulted argument."""
        return cast(T, args[self.name])

    def maybe(self, args: Mapping[str, object]) -> T | None:
        """The checked value of an optional argument, None when omitted."""
        return cast("T | None", args.get(self.name))

    def schema(self) -> Schema:
        s = self.kind.schema()
        if not self.required:
            s = _nullable(s)
        s["description"] = self.description
        if self.default is not None:
            s["default"] = self.default
        return s


def _nullable(s: Schema) -> Schema:
    """The same schema that also accepts null (null means omitted)."""
    if "enum" in s:
        return {**s, "type": [s["type"], "null"], "enum": [*s["enum"], None]}
    if isinstance(s.get("type"), str) and s["type"] != "array":
        return {**s, "type": [s["type"], "null"]}
    if "anyOf" in s:
        return {"anyOf": [*s["anyOf"], {"type": "null"}]}
    return {"anyOf": [s, {"type": "null"}]}


@dataclass(frozen=True, slots=True)
class Effects:
    """What a tool may do: reach the network (gated by the host) or change stored state."""

    network: bool
    mutates: bool


Check = Callable[[dict[str, object]], None]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    fields: tuple[Field[Any], ...]
    effects: Effects
    checks: tuple[Check, ...] = ()
    schema_extra: tuple[tuple[str, Any], ...] = ()

    def input_schema(self) -> Schema:
        s: Schema = {
            "$schema": SCHEMA_DIALECT,
            "type": "object",
            "properties": {f.name: f.schema() for f in self.fields},
            "required": [f.name for f in self.fields if f.required],
            "additionalProperties": False,
        }
        s.update(self.schema_extra)
        return s

    def entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema(),
            "effects": {"network": self.effects.network, "mutates": self.effects.mutates},
        }


def validate(spec: ToolSpec, args: dict[str, object]) -> dict[str, object]:
    """Check ``args`` against ``spec``: the checked values, with defaults filled in.

    :raises GuestError: ``EMAIL_INVALID_ARGUMENT`` naming the first offending argument.
    """
    names = _FIELD_NAMES[spec.name]
    unknown = [k for k in args if k not in names]
    if unknown:
        raise _unknown(spec, unknown)
    out: dict[str, object] = {}
    for f in spec.fields:
        value = args.get(f.name)
        if value is None:
            if f.required:
                raise invalid(
                    f"{spec.name}: missing required argument {f.name}",
                    f"Required: {', '.join(x.name for x in spec.fields if x.required)}.",
                )
            if f.default is not None:
                out[f.name] = f.default
            continue
        out[f.name] = f.kind.check(f.name, value)
    for check in spec.checks:
        check(out)
    return out


def _unknown(spec: ToolSpec, unknown: list[str]) -> Exception:
    accepted = [f.name for f in spec.fields]
    shown = ", ".join(show(k) for k in unknown[:5]) + (", …" if len(unknown) > 5 else "")
    message = f"{spec.name}: unknown argument(s) {shown}"
    close = difflib.get_close_matches(unknown[0][:64], accepted, n=1) if accepted else []
    if close:
        message += f" (did you mean {close[0]}?)"
    hint = (
        f"Accepted arguments: {', '.join(accepted)}."
        if accepted
        else f"{spec.name} takes no arguments: pass {{}}."
    )
    return invalid(message, hint)


# --- shared fields -------------------------------------------------------------------------

ACCOUNT_ID: Final = Field(
    "account_id",
    Integer(1, U32_MAX),
    "Id of a configured account (see email.accounts).",
    required=True,
)
FOLDER: Final = Field(
    "folder",
    Text(FOLDER_MAX, min_length=1, single_line=True),
    "Restrict to one folder, e.g. INBOX; all folders when omitted.",
)
LIMIT: Final = Field(
    "limit",
    Integer(1, LIMIT_MAX, example=LIMIT_DEFAULT),
    f"Page size, 1..{LIMIT_MAX}.",
    default=LIMIT_DEFAULT,
)
CURSOR: Final = Field(
    "cursor",
    Text(CURSOR_MAX, min_length=1, single_line=True),
    "next_cursor of the previous page, to get the next one.",
)
BODY_TEXT: Final = Field("body_text", Text(BODY_MAX), "Plain-text body.")
BODY_HTML: Final = Field("body_html", Text(BODY_MAX), "HTML body.")

# --- email.sync ----------------------------------------------------------------------------

SYNC_FOLDER: Final = Field(
    "folder",
    Text(FOLDER_MAX, min_length=1, single_line=True),
    "The folder to sync; the account's default folders when omitted.",
)
MAX_MESSAGES: Final = Field(
    "max_messages",
    Integer(1, U32_MAX, example=500),
    "Upper bound of new messages fetched in this run; run again to continue.",
)

# --- email.list ----------------------------------------------------------------------------

UNSEEN_ONLY: Final = Field(
    "unseen_only", Boolean(), "Only messages without the \\Seen flag.", default=False
)

# --- email.get -----------------------------------------------------------------------------

MESSAGE_KEY: Final = Field(
    "id",
    Integer(1, U64_MAX),
    "Local id of the message (the id field of email.list / email.search results).",
    required=True,
)

# --- email.search --------------------------------------------------------------------------


def _criterion(name: str, description: str) -> Field[str]:
    return Field(name, Text(CRITERION_MAX, min_length=1, single_line=True), description)


QUERY: Final = _criterion("query", "Free text over subject, from, to and body.")
FROM: Final = _criterion("from", "Sender contains this text.")
TO: Final = _criterion("to", "A recipient (To) contains this text.")
SUBJECT: Final = _criterion("subject", "Subject contains this text.")
BODY: Final = _criterion("body", "Body contains this text.")
SINCE: Final = Field(
    "since",
    Timestamp(),
    "Messages dated at or after this: ISO-8601 date or date-time (no offset = UTC), "
    "or Unix seconds.",
)
BEFORE: Final = Field(
    "before",
    Timestamp(),
    "Messages dated before this: ISO-8601 date or date-time (no offset = UTC), or Unix seconds.",
)
UNSEEN: Final = Field(
    "unseen", Boolean(), "true: only unseen messages; false: only seen ones; omitted: both."
)
REMOTE: Final = Field(
    "remote",
    Boolean(),
    "Run the query as IMAP SEARCH on the server instead of the local store "
    "(needs the host's network flag).",
    default=False,
)


def _since_before(args: dict[str, object]) -> None:
    since, before = SINCE.maybe(args), BEFORE.maybe(args)
    if since is not None and before is not None and since >= before:
        raise invalid(
            "since must be earlier than before",
            "Swap the two, or drop one of them.",
        )


# --- email.send ----------------------------------------------------------------------------

SEND_TO: Final = Field(
    "to",
    Addresses(RECIPIENTS_MAX, min_items=1),
    "Recipient address, or a list of them (bare addresses like alice@example.com).",
    required=True,
)
SEND_CC: Final = Field("cc", Addresses(RECIPIENTS_MAX), "Cc address(es).", default=[])
SEND_BCC: Final = Field("bcc", Addresses(RECIPIENTS_MAX), "Bcc address(es).", default=[])
SEND_SUBJECT: Final = Field(
    "subject",
    Text(SUBJECT_MAX, single_line=True),
    "Subject line (one line).",
    required=True,
)
ATTACHMENTS: Final = Field(
    "attachments",
    Attachments(ATTACHMENTS_MAX),
    "Files to attach: each {path} (under the host's attachment root) or {content_base64}, "
    "with optional filename and content_type.",
    default=[],
)


def _needs_body(args: dict[str, object]) -> None:
    if BODY_TEXT.maybe(args) is None and BODY_HTML.maybe(args) is None:
        raise invalid(
            "a body is required: body_text, body_html or both",
            'Add "body_text": "…" (and/or "body_html").',
        )


def _recipient_cap(args: dict[str, object]) -> None:
    total = len(SEND_TO.value(args)) + len(SEND_CC.value(args)) + len(SEND_BCC.value(args))
    if total > RECIPIENTS_MAX:
        raise invalid(
            f"{total} recipients in to, cc and bcc together, at most {RECIPIENTS_MAX}",
            "Split the message into several sends.",
        )


# At least one body, and null (= omitted) does not count as one.
_BODY_REQUIRED: Final = (
    (
        "anyOf",
        [
            {"required": [name], "properties": {name: {"type": "string"}}}
            for name in ("body_text", "body_html")
        ],
    ),
)

# --- email.reply ---------------------------------------------------------------------------

REPLY_TO_KEY: Final = Field(
    "message_id",
    Integer(
        1,
        U64_MAX,
        hint="message_id is the local id (an integer, the id field of email.list / "
        "email.search results), not the RFC Message-ID header.",
    ),
    "Local id (integer) of the stored message to answer, from email.list / email.search; "
    "not the RFC Message-ID header.",
    required=True,
)
REPLY_ALL: Final = Field(
    "reply_all",
    Boolean(),
    "Also answer the original To and Cc (minus our own address).",
    default=False,
)

# --- email.retry / email.outbox ------------------------------------------------------------

OUTBOX_ID: Final = Field(
    "outbox_id",
    Integer(1, U64_MAX),
    "Id of the outbox row (the id of an email.send / email.reply / email.outbox entry).",
    required=True,
)
OUTBOX_ACCOUNT: Final = Field(
    "account_id", Integer(1, U32_MAX), "Only rows of this account; all accounts when omitted."
)
OUTBOX_STATUS: Final = Field(
    "status",
    Choice("pending", "sending", "sent", "failed", "dead"),
    "Only rows in this state.",
)

_READ: Final = Effects(network=False, mutates=False)
_NET_WRITE: Final = Effects(network=True, mutates=True)

TOOLS: Final[dict[str, ToolSpec]] = {
    t.name: t
    for t in (
        ToolSpec(
            "email.accounts",
            "List the configured accounts: id, name, address, whether IMAP and SMTP are set up, "
            "and the folders synced by default. Use the id as account_id in other tools.",
            (),
            _READ,
        ),
        ToolSpec(
            "email.sync",
            "Fetch new mail from the IMAP server into the local store and reconcile flags and "
            "deletions. Needs the host's network flag.",
            (ACCOUNT_ID, SYNC_FOLDER, MAX_MESSAGES),
            _NET_WRITE,
        ),
        ToolSpec(
            "email.list",
            "List stored messages of an account, newest first, one page at a time.",
            (ACCOUNT_ID, FOLDER, UNSEEN_ONLY, LIMIT, CURSOR),
            _READ,
        ),
        ToolSpec(
            "email.get",
            "Get one stored message with headers, decoded text and HTML bodies and attachment "
            "metadata.",
            (ACCOUNT_ID, MESSAGE_KEY),
            _READ,
        ),
        ToolSpec(
            "email.search",
            "Search messages of an account, newest first: free text plus filters; every given "
            "criterion must match. Local store by default; remote=true asks the IMAP server "
            "(needs the host's network flag).",
            (
                ACCOUNT_ID,
                QUERY,
                FROM,
                TO,
                SUBJECT,
                BODY,
                SINCE,
                BEFORE,
                UNSEEN,
                FOLDER,
                LIMIT,
                CURSOR,
                REMOTE,
            ),
            # Worst case: with remote=true the query goes to the server.
            Effects(network=True, mutates=False),
            checks=(_since_before,),
        ),
        ToolSpec(
            "email.send",
            "Queue a new message in the outbox and deliver it over SMTP. From is always the "
            "account's address. Needs the host's network flag.",
            (
                ACCOUNT_ID,
                SEND_TO,
                SEND_CC,
                SEND_BCC,
                SEND_SUBJECT,
                BODY_TEXT,
                BODY_HTML,
                ATTACHMENTS,
            ),
            _NET_WRITE,
            checks=(_needs_body, _recipient_cap),
            schema_extra=_BODY_REQUIRED,
        ),
        ToolSpec(
            "email.reply",
            "Reply to a stored message (recipients, Re: subject and threading headers come from "
            "it) through the outbox. Needs the host's network flag.",
            (ACCOUNT_ID, REPLY_TO_KEY, BODY_TEXT, BODY_HTML, REPLY_ALL),
            _NET_WRITE,
            checks=(_needs_body,),
            schema_extra=_BODY_REQUIRED,
        ),
        ToolSpec(
            "email.retry",
            "Deliver a pending or failed outbox row that is due now. Needs the host's network "
            "flag.",
            (OUTBOX_ID,),
            _NET_WRITE,
        ),
        ToolSpec(
            "email.outbox",
            "List outbox rows, newest first: what is queued, sent, failed or dead, and why.",
            (OUTBOX_ACCOUNT, OUTBOX_STATUS, LIMIT, CURSOR),
            _READ,
        ),
    )
}

TOOL_NAMES: Final = tuple(TOOLS)
_FIELD_NAMES: Final = {t.name: frozenset(f.name for f in t.fields) for t in TOOLS.values()}

CATALOGUE_JSON: Final = json.dumps(
    [t.entry() for t in TOOLS.values()], ensure_ascii=False, separators=(",", ":")
)
