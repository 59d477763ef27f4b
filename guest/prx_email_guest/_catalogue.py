"""The tool catalogue: names, descriptions, argument fields, effects, and the validator.

One ``Field`` list per tool drives both the argument check and the JSON Schema that
``describe()`` publishes, so the two cannot drift apart. Optional arguments may be omitted or
given as ``null`` (same meaning); required ones may not be null.

The bounds (page sizes, recipient cap, attachment and body sizes) belong to the host:
``Catalogue(limits)`` builds the tools from the host's ``tool-limits``; ``DEFAULT_LIMITS``
(equal to the host's defaults) serve natively, where there is no host. The module-level
fields carry the default bounds; handlers read values by name only, so they work with
either.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

from wit_world.imports import types

from prx_email_guest._envelope import show
from prx_email_guest._kinds import (
    U32_MAX,
    U64_MAX,
    Addresses,
    AttachmentArg,
    Attachments,
    Boolean,
    Choice,
    ChoiceList,
    Ids,
    Integer,
    Kind,
    Names,
    Schema,
    Text,
    Timestamp,
    invalid,
)

__all__ = [
    "ALL_GROUPS",
    "DEFAULT_LIMITS",
    "GROUP_OF",
    "TOOL_NAMES",
    "Catalogue",
    "Effects",
    "Field",
    "ToolSpec",
    "validate",
]

T = TypeVar("T")

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_MiB: Final = 1024 * 1024
#: The host's defaults (``prx_email.types.ToolLimits()``; a test keeps them equal).
DEFAULT_LIMITS: Final = types.ToolLimits(
    list_page_max=500,
    list_page_default=50,
    search_page_max=500,
    search_page_default=50,
    outbox_page_max=500,
    outbox_page_default=50,
    max_recipients=100,
    max_attachments=20,
    max_body_chars=4 * _MiB,
    max_attachment_base64_chars=6 * _MiB,
    bulk_limit=100,
    get_many_max=20,
    attachment_inline_max_bytes=256 * 1024,
)
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
    """What a tool may do: reach the network (gated by the host) or change stored state.

    ``annotations()`` is what an adapter publishes (MCP's readOnly/destructive/idempotent/
    openWorld hints): ``read_only`` = changes nothing on the server or in the store;
    ``destructive`` = may remove something for good; ``idempotent`` = repeating the call
    with the same arguments changes nothing more.
    """

    network: bool
    mutates: bool
    destructive: bool = False
    idempotent: bool = False

    def annotations(self) -> dict[str, bool]:
        return {
            "read_only": not self.mutates,
            "destructive": self.destructive,
            "idempotent": self.idempotent or not self.mutates,
            "network": self.network,
        }


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
            "annotations": self.effects.annotations(),
        }


def validate(spec: ToolSpec, args: dict[str, object]) -> dict[str, object]:
    """Check ``args`` against ``spec``: the checked values, with defaults filled in.

    :raises GuestError: ``EMAIL_INVALID_ARGUMENT`` naming the first offending argument.
    """
    unknown = [k for k in args if not any(f.name == k for f in spec.fields)]
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


def _limit(top: int, default: int) -> Field[int]:
    return Field(
        "limit", Integer(1, top, example=default), f"Page size, 1..{top}.", default=default
    )


LIMIT: Final = _limit(DEFAULT_LIMITS.list_page_max, DEFAULT_LIMITS.list_page_default)
CURSOR: Final = Field(
    "cursor",
    Text(CURSOR_MAX, min_length=1, single_line=True),
    "next_cursor of the previous page, to get the next one.",
)
BODY_TEXT: Final = Field("body_text", Text(DEFAULT_LIMITS.max_body_chars), "Plain-text body.")
BODY_HTML: Final = Field("body_html", Text(DEFAULT_LIMITS.max_body_chars), "HTML body.")

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

AUTOMATED: Final = Field(
    "automated",
    Boolean(),
    "true: only automated mail (auto-replies, mailing lists, bulk, your own address); false: "
    "only the rest (mail a person sent); omitted: both. Classified when the mail was stored.",
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
    # The host applies the same rule with the same words (prx_email.types.check_dates).
    since, before = SINCE.maybe(args), BEFORE.maybe(args)
    if since is not None and before is not None and since >= before:
        raise invalid(
            "since must be earlier than before",
            "Swap the two, or drop one of them.",
        )


# --- email.send ----------------------------------------------------------------------------

_ADDRESS_FORMS: Final = 'alice@example.com or "Alice Smith <alice@example.com>", one per item'
SEND_TO: Final = Field(
    "to",
    Addresses(DEFAULT_LIMITS.max_recipients, min_items=1),
    f"Recipient address, or a list of them ({_ADDRESS_FORMS}).",
    required=True,
)
SEND_CC: Final = Field(
    "cc",
    Addresses(DEFAULT_LIMITS.max_recipients),
    f"Cc address(es) ({_ADDRESS_FORMS}).",
    default=[],
)
SEND_BCC: Final = Field(
    "bcc",
    Addresses(DEFAULT_LIMITS.max_recipients),
    f"Bcc address(es) ({_ADDRESS_FORMS}).",
    default=[],
)
SEND_SUBJECT: Final = Field(
    "subject",
    Text(SUBJECT_MAX, single_line=True),
    "Subject line (one line).",
    required=True,
)
ATTACHMENTS: Final = Field(
    "attachments",
    Attachments(DEFAULT_LIMITS.max_attachments, DEFAULT_LIMITS.max_attachment_base64_chars),
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


def _recipient_cap(cap: int) -> Check:
    # The host applies the account's own cap with the same words (ToolLimits.check_outgoing).
    def check(args: dict[str, object]) -> None:
        total = len(SEND_TO.value(args)) + len(SEND_CC.value(args)) + len(SEND_BCC.value(args))
        if total > cap:
            raise invalid(
                f"{total} recipients in to, cc and bcc together, at most {cap}",
                "Split the message into several sends.",
            )

    return check


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

# --- email.forward (issue 11) ----------------------------------------------------------------

FORWARD_OF: Final = Field(
    "message_id",
    REPLY_TO_KEY.kind,
    "Local id (integer) of the stored message to forward, from email.list / email.search; "
    "not the RFC Message-ID header.",
    required=True,
)
FORWARD_NOTE_TEXT: Final = Field(
    "body_text", Text(DEFAULT_LIMITS.max_body_chars), "Optional note above the forwarded text."
)
FORWARD_NOTE_HTML: Final = Field(
    "body_html", Text(DEFAULT_LIMITS.max_body_chars), "Optional HTML note."
)
FORWARD_MODE: Final = Field(
    "mode",
    Choice("inline", "attachment"),
    "inline: the original's text below the note, its attachments attached again; "
    "attachment: the whole original as one message/rfc822 attachment.",
    default="inline",
)
INCLUDE_ATTACHMENTS: Final = Field(
    "include_attachments",
    Boolean(),
    "Attach the original's attachments again (inline mode). Ones not kept at sync time are "
    "fetched from the server; if one cannot be had the forward fails "
    "(EMAIL_ATTACHMENT_UNAVAILABLE) rather than go without it.",
    default=True,
)


def _forward_mode_fits(args: dict[str, object]) -> None:
    # The host's words (services.outbox._compose.check_forward).
    if FORWARD_MODE.value(args) == "attachment" and not INCLUDE_ATTACHMENTS.value(args):
        raise invalid(
            "include_attachments: false does not fit mode: attachment (the attached original "
            "carries its attachments)",
            'Use mode "inline" to forward the text without the attachments.',
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
HEALTH_ACCOUNT: Final = Field(
    "account_id", Integer(1, U32_MAX), "Only this account; every account when omitted."
)
OUTBOX_STATUS: Final = Field(
    "status",
    Choice(*(s.name.lower() for s in types.OutboxStatus)),
    "Only rows in this state.",
)
RETRY_NOW: Final = Field(
    "now",
    Boolean(),
    "Deliver now even if the row is not yet due; also releases a held row.",
    default=False,
)

# --- scheduled send and email.cancel (issue 12) --------------------------------------------

SEND_AT: Final = Field(
    "send_at",
    Text(64, min_length=10, single_line=True),
    "Scheduled send: an ISO-8601 date-time with a zone (e.g. 2026-12-24T09:00:00+01:00 or "
    "…Z), in the future and at most the host's horizon (default 30 days) ahead. The row "
    "waits in the outbox as scheduled and is delivered then; email.cancel stops it. "
    "Omitted: send now.",
)


def _cancel_spec() -> ToolSpec:
    return ToolSpec(
        "email.cancel",
        "Cancel an outbox row that has not started sending: a scheduled one, or one queued "
        "with no attempt that reached the server yet. A row already sending or sent answers "
        "EMAIL_CANCEL_TOO_LATE. Local only: no network needed.",
        (OUTBOX_ID,),
        Effects(network=False, mutates=True, idempotent=True),
    )


# --- email.events --------------------------------------------------------------------------

#: The host's bounds (prx_email.store.events; tests/test_events_guest.py keeps them equal).
EVENTS_LIMIT_MAX: Final = 1000
EVENTS_WAIT_MAX_MS: Final = 30_000
EVENT_TYPES: Final = ("new_mail", "flags_changed", "expunged", "moved", "outbox", "bounce")
EVENTS_AFTER: Final = Field(
    "after",
    Integer(0, U64_MAX, example=0),
    "Only events with an id above this cursor: the id of the last event you processed "
    "(next_after of the previous answer); 0 for the oldest kept.",
    default=0,
)
EVENTS_LIMIT: Final = Field(
    "limit",
    Integer(1, EVENTS_LIMIT_MAX, example=100),
    f"At most this many events, 1..{EVENTS_LIMIT_MAX}.",
    default=100,
)
EVENTS_TYPES: Final = Field(
    "types",
    ChoiceList(*EVENT_TYPES),
    "Only these event types (one or a list); every type when omitted.",
)
EVENTS_ACCOUNT: Final = Field(
    "account_id", Integer(1, U32_MAX), "Only events of this account; all accounts when omitted."
)
EVENTS_WAIT: Final = Field(
    "wait_ms",
    Integer(0, EVENTS_WAIT_MAX_MS, example=25_000),
    f"Long-poll: wait up to this many ms (0..{EVENTS_WAIT_MAX_MS}) for a first event; the "
    "answer comes as soon as one exists. 0 answers at once.",
    default=0,
)

# --- email.draft_* -------------------------------------------------------------------------

DRAFT_TO: Final = Field(
    "to",
    Addresses(DEFAULT_LIMITS.max_recipients),
    f"Recipient address(es) ({_ADDRESS_FORMS}); a draft may have none yet.",
    default=[],
)
DRAFT_SUBJECT: Final = Field(
    "subject", Text(SUBJECT_MAX, single_line=True), "Subject line (one line).", default=""
)
DRAFT_REPLY_TO: Final = Field(
    "in_reply_to",
    Integer(
        1,
        U64_MAX,
        hint="in_reply_to is the local id (an integer from email.list / email.search); give "
        "an RFC Message-ID as in_reply_to_message_id.",
    ),
    "Local id (integer) of the stored message this draft answers: threading headers are set "
    "as email.reply does (the recipients and subject are yours to give).",
)
DRAFT_REPLY_TO_MESSAGE_ID: Final = Field(
    "in_reply_to_message_id",
    Text(SUBJECT_MAX, min_length=3, single_line=True),
    "RFC Message-ID (<…@…>) of the message this draft answers, when it has no local id.",
)
DRAFT_ID: Final = Field(
    "draft_id",
    Text(SUBJECT_MAX, min_length=3, single_line=True),
    "The draft's id: the draft_id returned by email.draft_create (its Message-ID).",
    required=True,
)


def _one_parent(args: dict[str, object]) -> None:
    if DRAFT_REPLY_TO.maybe(args) is not None and DRAFT_REPLY_TO_MESSAGE_ID.maybe(args) is not None:
        raise invalid(
            "give in_reply_to or in_reply_to_message_id, not both",
            "in_reply_to is a local id, in_reply_to_message_id an RFC Message-ID: keep one.",
        )


_READ: Final = Effects(network=False, mutates=False)
_NET_WRITE: Final = Effects(network=True, mutates=True)
# Repeating it is safe: what is so already answers unchanged / already_there.
_NET_IDEMPOTENT: Final = Effects(network=True, mutates=True, idempotent=True)
_NET_DESTRUCTIVE: Final = Effects(network=True, mutates=True, destructive=True, idempotent=True)

# --- mailbox actions (issue 11) ------------------------------------------------------------

#: RFC 6154 roles an agent may name, plus inbox (the host's ``services.actions.ROLES``).
ROLES: Final = ("inbox", "all", "archive", "drafts", "flagged", "junk", "sent", "trash")
NAMES_MAX: Final = 50
NAME_MAX: Final = 200
_BULK_SETTING: Final = "the account's actions.bulk_limit"
_GET_MANY_SETTING: Final = "email.get_many's maximum"


def _ids(top: int, setting: str, what: str) -> Field[list[int]]:
    return Field(
        "ids",
        Ids(top, setting),
        f"Local id of a message, or a list of up to {top} ({what}); repeated ids count once.",
        required=True,
    )


IDS: Final = _ids(DEFAULT_LIMITS.bulk_limit, _BULK_SETTING, "the id field of email.list")
GET_MANY_IDS: Final = _ids(DEFAULT_LIMITS.get_many_max, _GET_MANY_SETTING, "from email.list")
FOLDER_NAME: Final = Field(
    "folder",
    Text(FOLDER_MAX, min_length=1, single_line=True),
    "The folder's full name as email.folders lists it, e.g. Projects/2026.",
    required=True,
)
NEW_NAME: Final = Field(
    "new_name",
    Text(FOLDER_MAX, min_length=1, single_line=True),
    "The folder's new full name.",
    required=True,
)
FORCE: Final = Field(
    "force",
    Boolean(),
    "Also delete a folder that still holds messages (they are lost).",
    default=False,
)
FLAGS_ADD: Final = Field(
    "add",
    Names(NAMES_MAX, NAME_MAX),
    "Flags to set: seen, flagged, answered, draft, or IMAP keywords (e.g. $Important).",
    default=[],
)
FLAGS_REMOVE: Final = Field(
    "remove",
    Names(NAMES_MAX, NAME_MAX),
    "Flags to clear (same names as add).",
    default=[],
)
LABELS_ADD: Final = Field(
    "add",
    Names(NAMES_MAX, NAME_MAX),
    "Labels to add (Gmail labels; IMAP keywords on other servers).",
    default=[],
)
LABELS_REMOVE: Final = Field("remove", Names(NAMES_MAX, NAME_MAX), "Labels to remove.", default=[])
MOVE_FOLDER: Final = Field(
    "folder",
    Text(FOLDER_MAX, min_length=1, single_line=True),
    "Destination folder by name; give this or role.",
)
MOVE_ROLE: Final = Field(
    "role",
    Choice(*ROLES),
    "Destination by role (the folder with that SPECIAL-USE attribute, or the configured "
    "archive/trash folder); give this or folder.",
)
PERMANENT: Final = Field(
    "permanent",
    Boolean(),
    "Expunge for good instead of moving to Trash (cannot be undone).",
    default=False,
)
ATTACHMENT_OF: Final = Field(
    "message_id",
    REPLY_TO_KEY.kind,
    "Local id (integer) of the stored message, from email.list / email.get; not the RFC "
    "Message-ID header.",
    required=True,
)
ATTACHMENT_INDEX: Final = Field(
    "index",
    Integer(0, U32_MAX, example=0),
    "The attachment's index in the message's attachments list (email.get).",
    required=True,
)
INLINE: Final = Field(
    "inline",
    Boolean(),
    "Return the bytes as base64 in the result (only when small enough) instead of a file "
    "under the host's download directory.",
    default=False,
)


def _flags_given(what: str, example: str) -> Check:
    # The host's words (services.actions.flags): an empty add and remove is refused there too.
    def check(args: dict[str, object]) -> None:
        if not FLAGS_ADD.value(args) and not FLAGS_REMOVE.value(args):
            raise invalid(f"no {what} to add or remove", f'e.g. {{"add": ["{example}"]}}')

    return check


def _folder_or_role(args: dict[str, object]) -> None:
    # The host's words (services.actions._session.Session.resolve).
    if (MOVE_FOLDER.maybe(args) is None) == (MOVE_ROLE.maybe(args) is None):
        raise invalid(
            "name a folder or a role, not both and not neither",
            'e.g. {"folder": "Projects"} or {"role": "archive"}',
        )


def _addresses(f: Field[list[str]], cap: int, min_items: int = 0) -> Field[list[str]]:
    return Field(f.name, Addresses(cap, min_items=min_items), f.description, f.required, f.default)


def _tools(limits: types.ToolLimits) -> dict[str, ToolSpec]:
    """Every tool, with the bounds of ``limits``."""
    return {t.name: t for t in _specs(limits)}


def _specs(limits: types.ToolLimits) -> tuple[ToolSpec, ...]:
    # The bounded fields; every other field is the same for any limits.
    body_text = Field(BODY_TEXT.name, Text(limits.max_body_chars), BODY_TEXT.description)
    body_html = Field(BODY_HTML.name, Text(limits.max_body_chars), BODY_HTML.description)
    cap = limits.max_recipients
    send_to = _addresses(SEND_TO, cap, min_items=1)
    send_cc = _addresses(SEND_CC, cap)
    send_bcc = _addresses(SEND_BCC, cap)
    attachments = Field(
        ATTACHMENTS.name,
        Attachments(limits.max_attachments, limits.max_attachment_base64_chars),
        ATTACHMENTS.description,
        default=[],
    )
    list_limit = _limit(limits.list_page_max, limits.list_page_default)
    search_limit = _limit(limits.search_page_max, limits.search_page_default)
    outbox_limit = _limit(limits.outbox_page_max, limits.outbox_page_default)
    ids = _ids(limits.bulk_limit, _BULK_SETTING, "the id field of email.list")
    many = _ids(limits.get_many_max, _GET_MANY_SETTING, "from email.list")
    inline_kib = limits.attachment_inline_max_bytes // 1024
    return (
        ToolSpec(
            "email.accounts",
            "List the configured accounts: id, name, address, whether IMAP and SMTP are set up, "
            "and the folders synced by default. Use the id as account_id in other tools.",
            (),
            _READ,
        ),
        ToolSpec(
            "email.health",
            "Check each account step by step (credentials, DNS, TCP, TLS, login, IMAP "
            "capabilities, folders, SMTP EHLO and login, SPF/DKIM): pass, warn, fail or skip "
            "per step, with the EMAIL_ code of a failure; ok is false when any step failed. "
            "With the host's network flag off only the offline checks run "
            "(network_checked: false) and the rest are skipped.",
            (HEALTH_ACCOUNT,),
            Effects(network=True, mutates=False),
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
            (ACCOUNT_ID, FOLDER, UNSEEN_ONLY, list_limit, CURSOR, AUTOMATED),
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
                search_limit,
                CURSOR,
                REMOTE,
                AUTOMATED,
            ),
            # Worst case: with remote=true the query goes to the server.
            Effects(network=True, mutates=False),
            checks=(_since_before,),
        ),
        ToolSpec(
            "email.send",
            "Queue a new message in the outbox and deliver it over SMTP. From is always the "
            "account's address. If the account holds first contacts, a message to a new "
            "address answers status awaiting_approval (last_error says which addresses): a "
            "person approves it; do not send it again. Needs the host's network flag.",
            (
                ACCOUNT_ID,
                send_to,
                send_cc,
                send_bcc,
                SEND_SUBJECT,
                body_text,
                body_html,
                attachments,
                SEND_AT,
            ),
            _NET_WRITE,
            checks=(_needs_body, _recipient_cap(cap)),
            schema_extra=_BODY_REQUIRED,
        ),
        ToolSpec(
            "email.reply",
            "Reply to a stored message (recipients, Re: subject and threading headers come from "
            "it) through the outbox. Needs the host's network flag.",
            (ACCOUNT_ID, REPLY_TO_KEY, body_text, body_html, REPLY_ALL, SEND_AT),
            _NET_WRITE,
            checks=(_needs_body,),
            schema_extra=_BODY_REQUIRED,
        ),
        ToolSpec(
            "email.retry",
            "Deliver a pending or failed outbox row that is due; with now=true, deliver it even "
            "if not yet due and release a held row. Needs the host's network flag.",
            (OUTBOX_ID, RETRY_NOW),
            _NET_WRITE,
        ),
        ToolSpec(
            "email.outbox",
            "List outbox rows, newest first: what is queued, scheduled (and when: send_at), "
            "sent, failed, dead, cancelled, awaiting_approval or rejected, and why.",
            (OUTBOX_ACCOUNT, OUTBOX_STATUS, outbox_limit, CURSOR),
            _READ,
        ),
        _cancel_spec(),
        ToolSpec(
            "email.events",
            "Read the durable event log, oldest first: new_mail, flags_changed, expunged, "
            "moved, outbox (status changes) and bounce events, each with id, type, account_id, "
            "folder, message_id (for email.get), uid, rfc_message_id, thread_id, from, subject, "
            "snippet, ts and automated. Pass the last id you processed as after (nothing is "
            "lost while you are away); wait_ms long-polls for new events. Works with the "
            "host's network flag off.",
            (EVENTS_AFTER, EVENTS_LIMIT, EVENTS_TYPES, EVENTS_ACCOUNT, EVENTS_WAIT),
            _READ,
        ),
        ToolSpec(
            "email.folders",
            "List the account's folders with their role (inbox, sent, drafts, trash, archive, "
            "junk, all, flagged), message and unseen counts, and whether each is synced. With "
            "the host's network flag off it answers from the local store (source: local).",
            (ACCOUNT_ID,),
            Effects(network=True, mutates=False),
        ),
        ToolSpec(
            "email.folder_create",
            "Create a folder on the server; an existing one answers changed: false. Needs the "
            "host's network flag.",
            (ACCOUNT_ID, FOLDER_NAME),
            _NET_IDEMPOTENT,
        ),
        ToolSpec(
            "email.folder_rename",
            "Rename a folder on the server (not INBOX); already renamed answers changed: "
            "false. Needs the host's network flag.",
            (ACCOUNT_ID, FOLDER_NAME, NEW_NAME),
            _NET_IDEMPOTENT,
        ),
        ToolSpec(
            "email.folder_delete",
            "Delete a folder on the server. Destructive with force=true: a folder holding "
            "messages is refused unless force, and special-use folders and INBOX are always "
            "refused. Needs the host's network flag.",
            (ACCOUNT_ID, FOLDER_NAME, FORCE),
            _NET_DESTRUCTIVE,
        ),
        ToolSpec(
            "email.mark",
            f"Add and/or remove flags (seen, flagged, answered, draft, keywords) on up to "
            f"{limits.bulk_limit} messages; one result per id (changed, unchanged, not_found). "
            "Needs the host's network flag.",
            (ACCOUNT_ID, ids, FLAGS_ADD, FLAGS_REMOVE),
            _NET_IDEMPOTENT,
            checks=(_flags_given("flags", "seen"),),
        ),
        ToolSpec(
            "email.move",
            f"Move up to {limits.bulk_limit} messages to a folder, by name or by role; one "
            "result per id (moved, already_there, not_found) with its new folder and UID. "
            "Needs the host's network flag.",
            (ACCOUNT_ID, ids, MOVE_FOLDER, MOVE_ROLE),
            _NET_IDEMPOTENT,
            checks=(_folder_or_role,),
        ),
        ToolSpec(
            "email.archive",
            f"Move up to {limits.bulk_limit} messages to the archive folder (the configured "
            "one, else the server's \\Archive folder). Needs the host's network flag.",
            (ACCOUNT_ID, ids),
            _NET_IDEMPOTENT,
        ),
        ToolSpec(
            "email.delete",
            f"Delete up to {limits.bulk_limit} messages: moved to Trash by default. "
            "Destructive with permanent=true: the messages are expunged from the server for "
            "good. Needs the host's network flag.",
            (ACCOUNT_ID, ids, PERMANENT),
            _NET_DESTRUCTIVE,
        ),
        ToolSpec(
            "email.label",
            f"Add and/or remove labels on up to {limits.bulk_limit} messages: Gmail labels "
            "when the server has them, IMAP keywords elsewhere. Needs the host's network flag.",
            (ACCOUNT_ID, ids, LABELS_ADD, LABELS_REMOVE),
            _NET_IDEMPOTENT,
            checks=(_flags_given("labels", "Receipts"),),
        ),
        ToolSpec(
            "email.thread",
            "Every stored message of the conversation of a message, oldest first, with the "
            "thread_id (root Message-ID) every summary carries.",
            (ACCOUNT_ID, MESSAGE_KEY),
            _READ,
        ),
        ToolSpec(
            "email.get_many",
            f"Get up to {limits.get_many_max} stored messages in full (as email.get) in one "
            "call; unknown ids are listed in not_found.",
            (ACCOUNT_ID, many),
            _READ,
        ),
        ToolSpec(
            "email.attachment",
            "Get one attachment of a stored message: written to a file under the host's "
            f"download directory (path), or inline as base64 when at most {inline_kib} KiB. "
            "Bytes not kept at sync time are fetched from the server (needs the host's "
            "network flag).",
            (ACCOUNT_ID, ATTACHMENT_OF, ATTACHMENT_INDEX, INLINE),
            Effects(network=True, mutates=False),
        ),
        *_draft_specs(limits, body_text, body_html, attachments),
        _forward_spec(limits),
    )


def _forward_spec(limits: types.ToolLimits) -> ToolSpec:
    cap = limits.max_recipients
    note_text = Field(
        FORWARD_NOTE_TEXT.name, Text(limits.max_body_chars), FORWARD_NOTE_TEXT.description
    )
    note_html = Field(
        FORWARD_NOTE_HTML.name, Text(limits.max_body_chars), FORWARD_NOTE_HTML.description
    )
    return ToolSpec(
        "email.forward",
        "Forward a stored message through the outbox: inline (its text below your optional "
        "note, its attachments included by default) or as an attachment (message/rfc822). "
        "Subject Fwd:, threading headers from the original; recipients as for email.send. "
        "Needs the host's network flag.",
        (
            ACCOUNT_ID,
            FORWARD_OF,
            _addresses(SEND_TO, cap, min_items=1),
            _addresses(SEND_CC, cap),
            _addresses(SEND_BCC, cap),
            note_text,
            note_html,
            FORWARD_MODE,
            INCLUDE_ATTACHMENTS,
            SEND_AT,
        ),
        _NET_WRITE,
        checks=(_recipient_cap(cap), _forward_mode_fits),
    )


def _draft_specs(
    limits: types.ToolLimits,
    body_text: Field[str],
    body_html: Field[str],
    attachments: Field[list[AttachmentArg]],
) -> tuple[ToolSpec, ...]:
    cap = limits.max_recipients
    content = (
        _addresses(DRAFT_TO, cap),
        _addresses(SEND_CC, cap),
        _addresses(SEND_BCC, cap),
        DRAFT_SUBJECT,
        body_text,
        body_html,
        attachments,
        DRAFT_REPLY_TO,
        DRAFT_REPLY_TO_MESSAGE_ID,
    )
    checks = (_recipient_cap(cap), _one_parent)
    return (
        ToolSpec(
            "email.draft_create",
            "Write a draft into the account's Drafts folder (flagged \\Draft) for a person to "
            "review and send from their mail client; nothing is sent. With only body_html, the "
            "text part is derived from it. Answers draft_id (the draft's Message-ID, kept by "
            "every update). Needs the host's network flag.",
            (ACCOUNT_ID, *content),
            _NET_WRITE,
            checks=checks,
        ),
        ToolSpec(
            "email.draft_status",
            "Best-effort state of a draft: drafted (still in Drafts), sent (found in Sent or "
            "another folder that is not Trash or Junk), discarded (found nowhere), or unknown "
            "(the server could not be asked; reason says why). Needs the host's network flag.",
            (ACCOUNT_ID, DRAFT_ID),
            Effects(network=True, mutates=False),
        ),
        ToolSpec(
            "email.draft_update",
            "Replace a draft's whole content, keeping its draft_id: give every field again. "
            "Needs the host's network flag.",
            (ACCOUNT_ID, DRAFT_ID, *content),
            _NET_IDEMPOTENT,  # the same content again leaves one draft with that content
            checks=checks,
        ),
        ToolSpec(
            "email.draft_delete",
            "Remove a draft from the Drafts folder. Needs the host's network flag.",
            (ACCOUNT_ID, DRAFT_ID),
            _NET_DESTRUCTIVE,
        ),
        ToolSpec(
            "email.draft_send",
            "Send a draft from the Drafts folder as it is stored there, through the outbox "
            "under the draft's Message-ID: asking twice queues it once. The draft leaves "
            "Drafts once it is sent. With send_at it is scheduled instead. Refused when the "
            "host runs in draft-only mode. Needs the host's network flag.",
            (ACCOUNT_ID, DRAFT_ID, SEND_AT),
            _NET_IDEMPOTENT,  # one row per draft, however often it is asked
        ),
    )


#: The tool group of every tool (the host's ``[accounts.policy] tools``; a test checks that
#: every tool has one and that the names equal the host's ``ToolGroup``).
GROUP_OF: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "email.accounts",
            "email.sync",
            "email.list",
            "email.get",
            "email.search",
            "email.outbox",
            "email.folders",
            "email.thread",
            "email.get_many",
            "email.attachment",
            "email.health",
            "email.events",
        ),
        "read",
    ),
    **dict.fromkeys(
        ("email.send", "email.reply", "email.forward", "email.retry", "email.cancel"), "send"
    ),
    **dict.fromkeys(
        (
            "email.draft_create",
            "email.draft_status",
            "email.draft_update",
            "email.draft_delete",
        ),
        "drafts",
    ),
    # Sends a draft: it needs the send group (and the send mode), not only drafts.
    "email.draft_send": "send",
    "email.mark": "mark",
    "email.move": "move",
    "email.archive": "move",
    "email.delete": "delete",
    "email.label": "label",
    **dict.fromkeys(
        ("email.folder_create", "email.folder_rename", "email.folder_delete"), "folders"
    ),
}
ALL_GROUPS: Final = frozenset(GROUP_OF.values())


class Catalogue:
    """The tools for one set of limits; ``describe`` lists those of ``groups`` (its JSON is
    built on first use). Every tool stays in ``tools``: the host refuses a disabled one."""

    __slots__ = ("_json", "groups", "limits", "tools")

    def __init__(self, limits: types.ToolLimits, groups: frozenset[str] = ALL_GROUPS) -> None:
        self.limits = limits
        self.groups = groups
        self.tools: Final = _tools(limits)
        self._json: str | None = None

    def listed(self) -> list[ToolSpec]:
        """The tools ``describe`` lists: those whose group is enabled (unmapped: listed)."""
        return [t for t in self.tools.values() if GROUP_OF.get(t.name) in {*self.groups, None}]

    def json(self) -> str:
        """The catalogue as compact JSON: a list of {name, description, input_schema, effects,
        annotations}."""
        if self._json is None:
            self._json = json.dumps(
                [t.entry() for t in self.listed()], ensure_ascii=False, separators=(",", ":")
            )
        return self._json


#: Built at import, so it is in the component's snapshot (and serves a host with defaults).
DEFAULT_CATALOGUE: Final = Catalogue(DEFAULT_LIMITS)
DEFAULT_CATALOGUE.json()
TOOL_NAMES: Final = tuple(DEFAULT_CATALOGUE.tools)
