"""Build outgoing MIME messages, once, from validated parts.

- ``From`` is always the account's address; ``Bcc`` never appears in the headers (it is only
  in the SMTP envelope).
- The ``Message-ID`` is generated once, ``<random@domain-of-the-account>``, and stored with
  the bytes, so every retry is byte-for-byte the same message.
- Text and HTML become ``multipart/alternative``; attachments wrap that in
  ``multipart/mixed``; non-ASCII filenames use RFC 2231 (``filename*=utf-8''…``).
- Replies: ``In-Reply-To`` is the parent's Message-ID, ``References`` the parent's chain plus
  the parent; the subject gets one ``Re:`` (``Re:``, ``RE:``, ``Re[2]:``, ``AW:``, ``SV:`` …
  prefixes are folded into it, never stacked).
- Forwards set the same threading headers; ``parts`` are ready-made attachments (the
  original as ``message/rfc822``, see ``mail.forward``) added after the file attachments.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime

from ..errors import InvalidArgument


class _CachedHeaderRegistry(HeaderRegistry):
    # The stdlib registry builds a new header class with type() on every lookup, which is
    # a third of the time spent building a message; the classes are the same every time.
    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


# SMTP line endings, and 7bit-safe bodies (quoted-printable/base64 for non-ASCII) so the
# message needs no 8BITMIME/SMTPUTF8 support from the server.
POLICY = email_policy.SMTP.clone(cte_type="7bit", header_factory=_CachedHeaderRegistry())

MAX_SUBJECT = 998
_CTL = re.compile(r"[\x00-\x1f\x7f]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*\Z")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_ANGLE = re.compile(r"^(?P<name>[^<>]*)<(?P<addr>[^<>]*)>\s*\Z")
# Characters that would let a display name smuggle another address or header.
_NAME_FORBIDDEN = re.compile(r'[<>@,;:"\\\[\]]')
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|odp)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+",
    re.IGNORECASE,
)
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\Z")


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One validated address: ``addr_spec`` goes to the envelope, ``display`` to headers."""

    addr_spec: str
    display_name: str = ""

    @property
    def header(self) -> Address:
        local, _, domain = self.addr_spec.rpartition("@")
        return Address(display_name=self.display_name, username=local, domain=domain)

    @property
    def key(self) -> str:
        return self.addr_spec.lower()


@dataclass(frozen=True, slots=True)
class AttachmentData:
    """An attachment already read and checked against the attachment policy."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Composed:
    """The exact bytes to store and send, with the SMTP envelope."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes = field(repr=False)


def _domain(domain: str) -> str:
    """Validate a domain and return its ASCII (IDNA) form."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise InvalidArgument(f"invalid domain in address: {domain!r}") from None
    labels = ascii_domain.rstrip(".").split(".")
    if not ascii_domain or len(ascii_domain) > 253 or not all(_LABEL.match(x) for x in labels):
        raise InvalidArgument(f"invalid domain in address: {domain!r}")
    return ascii_domain


def parse_addr_spec(value: str) -> str:
    """Validate ``local@domain`` (ASCII local part); returns it with an IDNA domain."""
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not _LOCAL.match(local) or len(local) > 64:
        raise InvalidArgument(
            f"invalid email address: {value!r}",
            hint="use a plain address like name@example.com",
        )
    return f"{local}@{_domain(domain)}"


def parse_mailbox(value: str) -> Mailbox:
    """One address, bare or ``Display Name <addr>``; exactly one, no header injection.

    :raises InvalidArgument: control characters, several addresses, or a malformed address.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument("empty email address")
    if _CTL.search(value):
        raise InvalidArgument(
            "email address contains control characters (CR/LF are not allowed)",
            hint="pass one address per list item, without line breaks",
        )
    if len(value) > 512:
        raise InvalidArgument("email address is too long")
    m = _ANGLE.match(value.strip())
    if m is None:
        if "<" in value or ">" in value:
            raise InvalidArgument(f"invalid email address: {value!r}")
        return Mailbox(parse_addr_spec(value))
    name = m.group("name").strip()
    if len(name) >= 2 and name[0] == name[-1] == "'":
        name = name[1:-1].strip()
    if _NAME_FORBIDDEN.search(name):
        raise InvalidArgument(
            f'display name must not contain <>@,;:"\\[] : {value!r}',
            hint='use "Name <name@example.com>" with a plain name, or just the address',
        )
    return Mailbox(parse_addr_spec(m.group("addr")), name)


def parse_mailboxes(values: Iterable[str], field_name: str) -> list[Mailbox]:
    out: list[Mailbox] = []
    for v in values:
        try:
            out.append(parse_mailbox(v))
        except InvalidArgument as exc:
            raise InvalidArgument(f"{field_name}: {exc.message}", hint=exc.hint) from None
    return out


def check_subject(subject: str) -> str:
    if _CTL.search(subject.replace("\t", " ")):
        raise InvalidArgument("subject must not contain control characters or line breaks")
    if len(subject) > MAX_SUBJECT:
        raise InvalidArgument(f"subject is longer than {MAX_SUBJECT} characters")
    return subject


def check_content_type(value: str) -> str:
    if not _TYPE.match(value) or len(value) > 127:
        raise InvalidArgument(f"invalid content type: {value!r}", hint="use type/subtype")
    return value.lower()


def safe_filename(name: str) -> str:
    """The last path component, without control characters; never empty."""
    base = re.split(r"[\\/]", name)[-1]
    base = _CTL.sub("", base).strip().strip(".") or "attachment"
    return base[:255]


def new_message_id(sender: str) -> str:
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{secrets.token_hex(16)}@{domain}>"


def dedup(boxes: Iterable[Mailbox], exclude: Iterable[str] = ()) -> list[Mailbox]:
    """Drop repeats (case-insensitive on the address) and excluded addresses, keep order."""
    seen = {e.lower() for e in exclude}
    out = []
    for b in boxes:
        if b.key not in seen:
            seen.add(b.key)
            out.append(b)
    return out


def reply_subject(subject: str) -> str:
    """``Re: <subject>`` without stacking reply prefixes."""
    stripped = _REPLY_PREFIX.sub("", subject).strip()
    return f"Re: {stripped}" if stripped else "Re:"


def references_chain(
    parent_message_id: str | None, parent_references: Sequence[str], parent_in_reply_to: str | None
) -> list[str]:
    """The parent's References (or its In-Reply-To) followed by the parent's Message-ID."""
    chain = [r for r in parent_references if r]
    if not chain and parent_in_reply_to:
        chain = [parent_in_reply_to]
    if parent_message_id:
        chain.append(parent_message_id)
    seen: set[str] = set()
    out = []
    for ref in chain:
        ref = ref.strip()
        if ref and ref not in seen and not _CTL.search(ref):
            seen.add(ref)
            out.append(ref)
    return out


def compose(
    *,
    sender: str,
    to: Sequence[Mailbox],
    cc: Sequence[Mailbox] = (),
    bcc: Sequence[Mailbox] = (),
    subject: str,
    body_text: str | None,
    body_html: str | None,
    attachments: Sequence[AttachmentData] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    now: float,
    message_id: str | None = None,
    bcc_header: bool = False,
    parts: Sequence[EmailMessage] = (),
) -> Composed:
    """Build the complete message. Inputs must already be validated.

    ``bcc_header``: keep Bcc in the headers (a draft, as mail clients store them: the
    person who sends it must see who gets a blind copy); never for a message sent as is.
    """
    if body_text is None and body_html is None:
        raise InvalidArgument("a message needs body_text or body_html")
    sender_spec = parse_addr_spec(sender)
    msg_id = message_id or new_message_id(sender_spec)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Mailbox(sender_spec).header
    if to:
        msg["To"] = [b.header for b in to]
    if cc:
        msg["Cc"] = [b.header for b in cc]
    if bcc and bcc_header:
        msg["Bcc"] = [b.header for b in bcc]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = msg_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg["MIME-Version"] = "1.0"
    if body_text is not None:
        msg.set_content(body_text, subtype="plain", charset="utf-8")
        if body_html is not None:
            msg.add_alternative(body_html, subtype="html", charset="utf-8")
    else:
        assert body_html is not None
        msg.set_content(body_html, subtype="html", charset="utf-8")
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(
            att.data, maintype=maintype, subtype=subtype, filename=safe_filename(att.filename)
        )
    if parts:
        msg.make_mixed()
        for extra in parts:
            msg.attach(extra)
    for part in msg.iter_parts() if msg.is_multipart() else ():
        _drop_inner_mime_version(part)
    envelope = [b.addr_spec for b in dedup([*to, *cc, *bcc])]
    return Composed(
        message_id=msg_id,
        sender=sender_spec,
        recipients=tuple(envelope),
        subject=subject,
        raw=msg.as_bytes(policy=POLICY),
    )


def _drop_inner_mime_version(part: MIMEPart) -> None:
    # EmailMessage.add_* stamps MIME-Version on every subpart; RFC 2045 wants it on top only.
    del part["MIME-Version"]
    if part.is_multipart():
        for sub in part.iter_parts():
            _drop_inner_mime_version(sub)
