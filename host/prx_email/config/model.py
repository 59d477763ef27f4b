"""Typed configuration: what ``config.loader`` produces from the TOML file.

Credentials are references (an env var name, a file path, a token store entry),
never the secret itself, so a config object can be logged or printed safely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class UnknownOutcome(enum.StrEnum):
    """What the outbox does with a message whose DATA started and whose outcome is unknown."""

    RESEND = "resend"
    HOLD = "hold"


class IdleMode(enum.StrEnum):
    """Whether ``watch`` waits in IMAP IDLE (RFC 2177) or polls."""

    AUTO = "auto"  # IDLE when the server offers it, else poll at interval_seconds
    REQUIRED = "required"  # IDLE or a startup error: never a silent degrade to polling
    OFF = "off"  # always poll


class TlsMode(enum.StrEnum):
    IMPLICIT = "implicit"
    STARTTLS = "starttls"
    NONE = "none"  # only allowed to a loopback host


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """Password from an environment variable or a 0600 file."""

    password_env: str | None = None
    password_file: Path | None = None


@dataclass(frozen=True, slots=True)
class OAuth2Auth:
    """XOAUTH2 with an access token kept fresh by a refresh provider."""

    provider: str | None = None  # "microsoft" | "google" | None (custom endpoint)
    token_endpoint: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    scopes: tuple[str, ...] = ()
    # Where the (encrypted) token set lives; default: the per-user token store.
    token_file: Path | None = None
    access_token_env: str | None = None
    refresh_token_env: str | None = None


Auth = PasswordAuth | OAuth2Auth


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One IMAP or SMTP server: where, how it is secured and who logs in."""

    host: str
    port: int
    tls: TlsMode
    username: str
    auth: Auth
    ca_file: Path | None = None
    timeout: float = 30.0

    @property
    def logs_in(self) -> bool:
        """False for a server configured with no credential (only a loopback SMTP relay)."""
        a = self.auth
        return not (
            isinstance(a, PasswordAuth) and a.password_env is None and a.password_file is None
        )


#: Seconds between two syncs of a folder that is not pushed (the default of every schedule).
DEFAULT_SYNC_INTERVAL = 300.0


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """What a sync fetches and how: folders, batch size, body limit, schedule."""

    folders: tuple[str, ...] = ("INBOX",)
    batch_size: int = 500
    max_body_bytes: int = 1_048_576
    interval_seconds: float = DEFAULT_SYNC_INTERVAL
    idle: IdleMode = IdleMode.AUTO
    #: RFC 2177: a client re-issues IDLE at least every 29 minutes (servers may log it out).
    idle_reissue_minutes: float = 28.0


@dataclass(frozen=True, slots=True)
class AttachmentPolicy:
    """Where attachment bytes may be read from and saved to, and what is allowed."""

    root: Path | None = None
    max_bytes: int = 25 * 1024 * 1024
    allowed_types: tuple[str, ...] = (
        "text/*",
        "image/*",
        "application/pdf",
        "application/zip",
        "application/json",
        "application/octet-stream",
        "application/vnd.openxmlformats-officedocument.*",
        "application/msword",
        "application/vnd.ms-excel",
        "message/rfc822",
    )
    # email.attachment writes downloads here (never outside it); None: inline base64 only.
    download_dir: Path | None = None
    # Largest attachment email.attachment returns inline as base64.
    inline_max_bytes: int = 256 * 1024


@dataclass(frozen=True, slots=True)
class SendSettings:
    """Outbox limits and retries, the Sent copy and the SMTP circuit breaker."""

    max_recipients: int = 100
    max_attempts: int = 6
    backoff_base_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    lease_seconds: float = 300.0
    # None: discover the Sent folder from the server (SPECIAL-USE \Sent, RFC 6154).
    sent_folder: str | None = None
    # Append a copy to the Sent folder after sending (never when the server files it itself).
    append_to_sent: bool = True
    # The SMTP server files sent mail into the Sent folder itself (Gmail, Outlook): that copy
    # is the evidence lease recovery looks for, and we append none of our own.
    server_files_sent: bool = False
    # DATA started, the outcome is unknown and nothing can settle it: send again (the same
    # Message-ID; RFC 5321 6.1 prefers a duplicate to a loss) or hold it for email.retry.
    unknown_outcome: UnknownOutcome = UnknownOutcome.RESEND
    # Host-side cap on one composed message (headers, bodies, encoded attachments).
    max_message_bytes: int = 25 * 1024 * 1024
    # SMTP circuit breaker: after this many consecutive server-level failures, sending pauses
    # for the cooldown (doubling with each further failure, up to 15 minutes or the cooldown).
    circuit_failures: int = 5
    circuit_cooldown_seconds: float = 60.0
    # IMAP folder for drafts; None: the folder the server marks SPECIAL-USE \Drafts.
    drafts_folder: str | None = None
    # Scheduled send: how far ahead `send_at` may be (the host refuses later times).
    schedule_horizon_days: float = 30.0


class PolicyMode(enum.StrEnum):
    """What an account may do: ``send`` (everything), ``draft_only``, ``read_only``."""

    READ_ONLY = "read_only"
    DRAFT_ONLY = "draft_only"
    SEND = "send"


class FirstContact(enum.StrEnum):
    """``[accounts.policy] first_contact``: what a send to a never-seen address does."""

    ALLOW = "allow"
    #: Held as ``awaiting_approval`` until an operator approves it (issue 16).
    APPROVE = "approve"


class ToolGroup(enum.StrEnum):
    """A switchable group of tools (``[accounts.policy] tools`` / ``deny_tools``)."""

    READ = (
        "read"  # accounts, sync, list, get, get_many, search, thread, attachment, folders, outbox
    )
    SEND = "send"  # send, reply, retry (and every other path that delivers mail)
    DRAFTS = "drafts"  # draft_create, draft_status, draft_update, draft_delete
    MARK = "mark"
    MOVE = "move"  # move, archive
    DELETE = "delete"
    LABEL = "label"
    FOLDERS = "folders"  # folder_create, folder_rename, folder_delete


ALL_TOOL_GROUPS: frozenset[ToolGroup] = frozenset(ToolGroup)


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """``[accounts.policy]``: mode, tool groups, recipient lists and quotas of an account.

    ``allow``/``deny`` hold lower-case addresses and ``*@domain`` patterns; an empty
    ``allow`` allows every address. A quota of None is no limit.
    """

    mode: PolicyMode = PolicyMode.SEND
    tools: frozenset[ToolGroup] = ALL_TOOL_GROUPS
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    sends_per_hour: int | None = None
    sends_per_day: int | None = None
    new_recipients_per_day: int | None = None
    first_contact: FirstContact = FirstContact.ALLOW
    #: How long a held first contact may be approved; after it, it can only be rejected.
    approval_ttl_hours: float = 72.0


@dataclass(frozen=True, slots=True)
class ToolLimitSettings:
    """``[limits]``: bounds of tool arguments (the guest publishes and checks them too)."""

    #: Largest page (``limit``) of email.list, email.search and email.outbox.
    page_max: int = 500
    #: Page size when ``limit`` is omitted (at most ``page_max``).
    page_default: int = 50
    #: Attachments of one outgoing message.
    max_attachments: int = 20
    #: Characters of ``body_text`` and of ``body_html``.
    max_body_chars: int = 4 * 1024 * 1024
    #: Characters of one inline ``content_base64`` attachment.
    max_attachment_base64_chars: int = 6 * 1024 * 1024


#: ``[logging] format`` values: text lines, or one JSON object per line.
LOG_FORMATS = ("text", "json")
#: ``[logging] level`` values, least to most severe.
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """``[logging]``: how the CLI writes log lines to stderr (flags and env vars win)."""

    format: str = "text"
    level: str = "warning"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """``[metrics]``: the HTTP endpoint of the long-running commands (``--metrics`` wins)."""

    #: ``HOST:PORT`` to serve on; None: no endpoint unless ``--metrics`` asks.
    listen: str | None = None
    #: Serve on a non-loopback address (the page names accounts and folders).
    allow_remote: bool = False


@dataclass(frozen=True, slots=True)
class EventSettings:
    """``[events]``: retention of the durable event log (issue 13)."""

    #: Events older than this many days are pruned (0: no age limit).
    max_age_days: int = 30
    #: At most this many newest events are kept (0: no count limit).
    max_count: int = 100_000
    #: Prune events a registered consumer has not acknowledged yet, too.
    prune_unacked: bool = False


@dataclass(frozen=True, slots=True)
class AccountEventSettings:
    """``[accounts.events]``: which stored mail becomes a ``new_mail`` event (issue 13)."""

    #: ``flag``: automated mail's new_mail events say so; ``suppress``: it has none.
    automated: str = "flag"
    #: Addresses or domains; when any is given, only mail from them makes new_mail events.
    allow_senders: tuple[str, ...] = ()
    #: Addresses or domains whose mail never makes new_mail events (stored all the same).
    deny_senders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One ``[[webhooks]]`` table: where events are POSTed and how hard to try (issue 13).

    Holds where the secret is, never the secret itself (``services.webhooks`` reads it).
    """

    name: str
    url: str
    secret_env: str | None = None
    secret_file: Path | None = None
    #: Event types delivered (empty: every type).
    types: tuple[str, ...] = ()
    #: Only this account's events (None: every account).
    account: int | None = None
    #: Seconds one POST may take (connect + response).
    timeout: float = 10.0
    #: Attempts per event before it is dead-lettered and delivery moves on.
    max_attempts: int = 8
    #: First retry delay; doubled per attempt (with jitter), capped at backoff_max_seconds.
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class ActionSettings:
    """Mailbox actions (issue 11): where archive and delete move to, how many ids per call."""

    # None: the folder with the SPECIAL-USE \Archive (\Trash) attribute.
    archive_folder: str | None = None
    trash_folder: str | None = None
    bulk_limit: int = 100


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account: its address, servers, sync and send settings."""

    id: int
    name: str
    address: str
    imap: ServerConfig | None = None
    smtp: ServerConfig | None = None
    sync: SyncSettings = field(default_factory=SyncSettings)
    send: SendSettings = field(default_factory=SendSettings)
    actions: ActionSettings = field(default_factory=ActionSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    events: AccountEventSettings = field(default_factory=AccountEventSettings)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration: accounts and the attachment policy.

    ``source`` is the file read (or looked for); ``source_missing`` is true when that was
    the default path and no file was there, so the config holds only the local account.
    """

    accounts: tuple[AccountConfig, ...] = ()
    attachments: AttachmentPolicy = field(default_factory=AttachmentPolicy)
    source: Path | None = None
    limits: ToolLimitSettings = field(default_factory=ToolLimitSettings)
    source_missing: bool = False
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    events: EventSettings = field(default_factory=EventSettings)
    webhooks: tuple[WebhookConfig, ...] = ()

    def describe_source(self) -> str:
        """The file this config came from, for messages: ``… (default, not found)`` if none."""
        if self.source is None:
            return "no config file"
        return f"{self.source} (default, not found)" if self.source_missing else str(self.source)

    def account(self, account_id: int) -> AccountConfig | None:
        for acc in self.accounts:
            if acc.id == account_id:
                return acc
        return None
