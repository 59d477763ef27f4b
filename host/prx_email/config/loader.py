"""Load the TOML config file into :class:`~prx_email.config.model.Config`.

Every error names the file, the line and the dotted key (``accounts[0].imap.tls``).
``tomllib`` reports positions only for syntax errors, so :class:`_Lines` scans the source
for table headers and ``key =`` lines to place semantic errors. Unknown keys are refused
with a "did you mean" suggestion, so a typo never silently disables a setting.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..auth.validate import validate_auth, validate_oauth2
from ..errors import ConfigError
from .hosts import is_loopback as _is_loopback
from .model import (
    LOG_FORMATS,
    LOG_LEVELS,
    AccountConfig,
    AccountEventSettings,
    ActionSettings,
    AttachmentPolicy,
    Auth,
    Config,
    EventSettings,
    FirstContact,
    IdleMode,
    LoggingSettings,
    MetricsSettings,
    OAuth2Auth,
    PasswordAuth,
    PolicyMode,
    PolicySettings,
    SendSettings,
    ServerConfig,
    SyncSettings,
    TlsMode,
    ToolGroup,
    ToolLimitSettings,
    UnknownOutcome,
    WebhookConfig,
)
from .presets import DEFAULT_PORTS, PRESETS, preset_for

__all__ = ["SECTIONS", "load_config", "parse_config"]

T = TypeVar("T")
KeyPath = tuple[str | int, ...]

_TOP_KEYS = ("accounts", "attachments", "events", "limits", "logging", "metrics", "webhooks")
_ACCOUNT_KEYS = (
    "id",
    "name",
    "address",
    "provider",
    "imap",
    "smtp",
    "sync",
    "send",
    "actions",
    "policy",
    "events",
)
_SERVER_KEYS = (
    "host",
    "port",
    "tls",
    "username",
    "auth",
    "password_env",
    "password_file",
    "ca_file",
    "timeout",
    "oauth2",
)
_OAUTH_KEYS = (
    "provider",
    "token_endpoint",
    "client_id",
    "client_secret_env",
    "scopes",
    "token_file",
    "access_token_env",
    "refresh_token_env",
)
_SYNC_KEYS = (
    "folders",
    "batch_size",
    "max_body_bytes",
    "interval_seconds",
    "idle",
    "idle_reissue_minutes",
)
_SEND_KEYS = (
    "max_recipients",
    "max_attempts",
    "backoff_base_seconds",
    "backoff_max_seconds",
    "lease_seconds",
    "sent_folder",
    "append_to_sent",
    "server_files_sent",
    "unknown_outcome",
    "max_message_bytes",
    "circuit_failures",
    "circuit_cooldown_seconds",
    "drafts_folder",
    "schedule_horizon_days",
)
_ATTACH_KEYS = ("root", "max_bytes", "allowed_types", "download_dir", "inline_max_bytes")
_ACTION_KEYS = ("archive_folder", "trash_folder", "bulk_limit")
_POLICY_KEYS = (
    "mode",
    "tools",
    "deny_tools",
    "allow",
    "deny",
    "sends_per_hour",
    "sends_per_day",
    "new_recipients_per_day",
    "first_contact",
    "approval_ttl_hours",
)
_LIMIT_KEYS = (
    "page_max",
    "page_default",
    "max_attachments",
    "max_body_chars",
    "max_attachment_base64_chars",
)
_U32_MAX = 2**32 - 1

# Every table the loader reads, by its TOML name, and the keys it accepts there.
# docs/config.md documents exactly these (tests/test_config_docs.py): a new key goes into
# its tuple above and a row of the doc; a new table also gets an entry here.
_LOGGING_KEYS = ("format", "level")
_METRICS_KEYS = ("listen", "allow_remote")
_EVENT_KEYS = ("max_age_days", "max_count", "prune_unacked")
_ACCOUNT_EVENT_KEYS = ("automated", "allow_senders", "deny_senders")
_WEBHOOK_KEYS = (
    "name",
    "url",
    "secret_env",
    "secret_file",
    "types",
    "account",
    "timeout",
    "max_attempts",
    "backoff_base_seconds",
    "backoff_max_seconds",
)

SECTIONS: Mapping[str, tuple[str, ...]] = {
    "": _TOP_KEYS,
    "accounts": _ACCOUNT_KEYS,
    "accounts.imap": _SERVER_KEYS,
    "accounts.smtp": _SERVER_KEYS,
    "accounts.imap.oauth2": _OAUTH_KEYS,
    "accounts.smtp.oauth2": _OAUTH_KEYS,
    "accounts.sync": _SYNC_KEYS,
    "accounts.send": _SEND_KEYS,
    "accounts.actions": _ACTION_KEYS,
    "accounts.policy": _POLICY_KEYS,
    "attachments": _ATTACH_KEYS,
    "limits": _LIMIT_KEYS,
    "logging": _LOGGING_KEYS,
    "metrics": _METRICS_KEYS,
    "events": _EVENT_KEYS,
    "accounts.events": _ACCOUNT_EVENT_KEYS,
    "webhooks": _WEBHOOK_KEYS,
}

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEYLINE = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")


class _Lines:
    """Where each table and key of the source sits, by key path (array entries indexed)."""

    def __init__(self, text: str) -> None:
        self.where: dict[KeyPath, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        table: KeyPath = ()
        for lineno, line in enumerate(text.splitlines(), 1):
            m = _HEADER.match(line)
            if m:
                names = tuple(p.strip().strip("\"'") for p in m.group(2).split("."))
                table = self._resolve(names, counts, is_array=m.group(1) == "[[")
                self.where.setdefault(table, lineno)
                continue
            k = _KEYLINE.match(line)
            if k:
                key = tuple(p.strip().strip("\"'") for p in k.group(1).split("."))
                self.where.setdefault(table + key, lineno)

    def _resolve(
        self, names: tuple[str, ...], counts: dict[tuple[str, ...], int], *, is_array: bool
    ) -> KeyPath:
        # [accounts.imap] after the 2nd [[accounts]] is accounts[1].imap
        out: list[str | int] = []
        for i in range(len(names)):
            prefix = names[: i + 1]
            out.append(names[i])
            last = i == len(names) - 1
            if last and is_array:
                counts[prefix] = counts.get(prefix, -1) + 1
                out.append(counts[prefix])
            elif prefix in counts:
                out.append(counts[prefix])
        return tuple(out)

    def line(self, path: KeyPath) -> int | None:
        p = path
        while p:
            if p in self.where:
                return self.where[p]
            p = p[:-1]
        return None


def _dotted(path: KeyPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


class _Ctx:
    def __init__(self, source: Path | None, lines: _Lines, *, file_modes: bool = True) -> None:
        self.source = source
        self.lines = lines
        #: Refuse a password file others can read (off for ``doctor``, whose credentials
        #: step reports it, so that the other steps still run).
        self.file_modes = file_modes

    def where(self, path: KeyPath) -> str:
        """``file:line: dotted.key`` (what every message starts with)."""
        line = self.lines.line(path)
        where = str(self.source) if self.source else "<config>"
        if line is not None:
            where += f":{line}"
        key = _dotted(path)
        return f"{where}: {key}" if key else where

    def error(self, path: KeyPath, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.where(path)}: {message}", hint=hint)

    def table(self, value: Any, path: KeyPath, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, "must be a table")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
                raise self.error((*path, key), "unknown key", hint)
        return value

    def get(
        self,
        t: Mapping[str, Any],
        path: KeyPath,
        key: str,
        kind: type[T] | tuple[type, ...],
        default: T | None = None,
        *,
        required: bool = False,
    ) -> Any:
        if key not in t:
            if required:
                raise self.error((*path, key), "is required")
            return default
        value = t[key]
        types = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            ok = True
            value = float(value)
        if not ok:
            names = " or ".join(_TYPE_NAMES.get(x, x.__name__) for x in types)
            raise self.error(
                (*path, key),
                f"must be {names}, got {_TYPE_NAMES.get(type(value), type(value).__name__)}",
            )
        return value

    def positive(self, t: Mapping[str, Any], path: KeyPath, key: str, default: T) -> T:
        value = self.get(t, path, key, type(default), default)
        if value <= 0:
            raise self.error((*path, key), "must be greater than zero")
        return value  # type: ignore[no-any-return]

    def at_least(
        self, t: Mapping[str, Any], path: KeyPath, key: str, default: T, minimum: float
    ) -> T:
        value = self.get(t, path, key, type(default), default)
        # Not `value < minimum`: NaN compares false both ways.
        if not minimum <= value < float("inf"):
            raise self.error((*path, key), f"must be at least {minimum:g} and finite, got {value}")
        return value  # type: ignore[no-any-return]

    def path(self, t: Mapping[str, Any], path: KeyPath, key: str) -> Path | None:
        raw = self.get(t, path, key, str)
        if raw is None:
            return None
        if not raw:
            raise self.error((*path, key), "must not be empty")
        p = Path(os.path.expanduser(raw))
        if not p.is_absolute() and self.source is not None:
            p = self.source.parent / p
        return p

    def strings(self, t: Mapping[str, Any], path: KeyPath, key: str) -> tuple[str, ...] | None:
        raw = self.get(t, path, key, list)
        if raw is None:
            return None
        if not all(isinstance(x, str) and x for x in raw):
            raise self.error((*path, key), "must be a list of non-empty strings")
        return tuple(raw)


_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _enum(
    ctx: _Ctx, t: Mapping[str, Any], path: KeyPath, key: str, choices: tuple[str, ...]
) -> str | None:
    value = ctx.get(t, path, key, str)
    if value is not None and value not in choices:
        raise ctx.error((*path, key), f"must be one of {', '.join(choices)}, got {value!r}")
    return value  # type: ignore[no-any-return]


def _auth(
    ctx: _Ctx,
    t: Mapping[str, Any],
    path: KeyPath,
    default_provider: str | None,
    *,
    optional: bool = False,
) -> Auth:
    """The credential of one server table; ``optional`` for a loopback SMTP relay."""
    mech = _enum(ctx, t, path, "auth", ("password", "oauth2"))
    has_pw = "password_env" in t or "password_file" in t
    has_oauth = "oauth2" in t or mech == "oauth2"
    if mech == "password" and not has_pw:
        raise ctx.error((*path, "auth"), "is password but no password_env or password_file is set")
    if optional and not (has_pw or has_oauth):
        return PasswordAuth()  # no AUTH: a local relay that accepts mail from loopback
    validate_auth(ctx.where(path), password=has_pw, oauth2=has_oauth)
    if has_oauth:
        o = ctx.table(t.get("oauth2", {}), (*path, "oauth2"), _OAUTH_KEYS)
        op = (*path, "oauth2")
        provider = ctx.get(o, op, "provider", str, default_provider)
        auth = OAuth2Auth(
            provider=provider,
            token_endpoint=ctx.get(o, op, "token_endpoint", str),
            client_id=ctx.get(o, op, "client_id", str),
            client_secret_env=ctx.get(o, op, "client_secret_env", str),
            scopes=ctx.strings(o, op, "scopes") or (),
            token_file=ctx.path(o, op, "token_file"),
            access_token_env=ctx.get(o, op, "access_token_env", str),
            refresh_token_env=ctx.get(o, op, "refresh_token_env", str),
        )
        validate_oauth2(ctx.where(op), auth)
        return auth
    if "password_env" in t and "password_file" in t:
        raise ctx.error((*path, "password_file"), "set only one of password_env and password_file")
    env = ctx.get(t, path, "password_env", str)
    if env is not None and not env:
        raise ctx.error((*path, "password_env"), "must not be empty")
    return PasswordAuth(password_env=env, password_file=_secret_file(ctx, t, path, "password_file"))


def _secret_file(ctx: _Ctx, t: Mapping[str, Any], path: KeyPath, key: str) -> Path | None:
    """The path of a file holding a secret, refused when group or others can read it."""
    pfile = ctx.path(t, path, key)
    if pfile is not None:
        try:
            mode = stat.S_IMODE(pfile.stat().st_mode)
        except OSError:
            raise ctx.error((*path, key), f"{pfile} does not exist or is unreadable") from None
        if mode & 0o077 and ctx.file_modes:
            raise ctx.error(
                (*path, key),
                f"{pfile} is readable by group or others",
                hint=f"run: chmod 600 {pfile}",
            )
    return pfile


def _server(
    ctx: _Ctx, raw: Any, path: KeyPath, proto: str, address: str, provider: str | None
) -> ServerConfig:
    t = ctx.table(raw, path, _SERVER_KEYS)
    preset = preset_for(address, provider)
    endpoint = (preset.imap if proto == "imap" else preset.smtp) if preset else None
    host = ctx.get(t, path, "host", str, endpoint.host if endpoint else None)
    if not host:
        raise ctx.error(
            (*path, "host"),
            "is required",
            hint="no provider preset matches this address; set host (and port, tls)",
        )
    tls_raw = _enum(ctx, t, path, "tls", tuple(m.value for m in TlsMode))
    if tls_raw is not None:
        tls = TlsMode(tls_raw)
    elif endpoint and host == endpoint.host:
        tls = endpoint.tls
    else:
        tls = TlsMode.IMPLICIT
    if tls is TlsMode.NONE and not _is_loopback(host):
        raise ctx.error(
            (*path, "tls"),
            f'"none" (plain text) is only allowed to a loopback host, not {host}',
            hint='use tls = "implicit" or "starttls"',
        )
    default_port = (
        endpoint.port
        if endpoint and host == endpoint.host and tls is endpoint.tls
        else DEFAULT_PORTS[(proto, tls)]
    )
    port = ctx.get(t, path, "port", int, default_port)
    if not 0 < port < 65536:
        raise ctx.error((*path, "port"), f"must be between 1 and 65535, got {port}")
    username = ctx.get(t, path, "username", str, address)
    timeout = ctx.positive(t, path, "timeout", 30.0)
    return ServerConfig(
        host=host,
        port=port,
        tls=tls,
        username=username,
        auth=_auth(
            ctx,
            t,
            path,
            preset.oauth2_provider if preset else None,
            # A relay on this machine may accept mail without AUTH; anything else must log in.
            optional=proto == "smtp" and _is_loopback(host),
        ),
        ca_file=ctx.path(t, path, "ca_file"),
        timeout=timeout,
    )


def _sync(ctx: _Ctx, raw: Any, path: KeyPath) -> SyncSettings:
    t = ctx.table(raw, path, _SYNC_KEYS)
    d = SyncSettings()
    folders = ctx.strings(t, path, "folders")
    if folders is not None and not folders:
        raise ctx.error((*path, "folders"), "must list at least one folder")
    for f in folders or ():
        if any(c in f for c in "\r\n\x00"):
            raise ctx.error((*path, "folders"), "folder names must not contain CR, LF or NUL")
    return SyncSettings(
        folders=folders or d.folders,
        batch_size=ctx.positive(t, path, "batch_size", d.batch_size),
        max_body_bytes=ctx.positive(t, path, "max_body_bytes", d.max_body_bytes),
        # Below 1 s a watch loop would hammer the server with logins (issue 10 item 10).
        interval_seconds=ctx.at_least(t, path, "interval_seconds", d.interval_seconds, 1),
        idle=IdleMode(_enum(ctx, t, path, "idle", tuple(IdleMode)) or d.idle),
        idle_reissue_minutes=_reissue_minutes(ctx, t, path, d.idle_reissue_minutes),
    )


def _reissue_minutes(ctx: _Ctx, t: Mapping[str, Any], path: KeyPath, default: float) -> float:
    value: float = ctx.get(t, path, "idle_reissue_minutes", float, default)
    # RFC 2177: servers may drop a client idle for 30 minutes; 29 is the RFC's own bound.
    # Written so that NaN fails too.
    if not 0 < value <= 29:
        raise ctx.error(
            (*path, "idle_reissue_minutes"),
            f"must be greater than 0 and at most 29 (RFC 2177), got {value:g}",
            hint="the default, 28, re-issues IDLE before any server's 30-minute timeout",
        )
    return value


def _send(ctx: _Ctx, raw: Any, path: KeyPath, files_sent: bool = False) -> SendSettings:
    t = ctx.table(raw, path, _SEND_KEYS)
    d = SendSettings()
    outcome = _enum(ctx, t, path, "unknown_outcome", tuple(o.value for o in UnknownOutcome))
    sent = ctx.get(t, path, "sent_folder", str, d.sent_folder)
    return SendSettings(
        max_recipients=ctx.positive(t, path, "max_recipients", d.max_recipients),
        max_attempts=ctx.positive(t, path, "max_attempts", d.max_attempts),
        backoff_base_seconds=ctx.positive(t, path, "backoff_base_seconds", d.backoff_base_seconds),
        backoff_max_seconds=ctx.positive(t, path, "backoff_max_seconds", d.backoff_max_seconds),
        lease_seconds=ctx.positive(t, path, "lease_seconds", d.lease_seconds),
        sent_folder=sent or None,
        append_to_sent=ctx.get(t, path, "append_to_sent", bool, d.append_to_sent),
        server_files_sent=ctx.get(t, path, "server_files_sent", bool, files_sent),
        unknown_outcome=UnknownOutcome(outcome) if outcome else d.unknown_outcome,
        max_message_bytes=ctx.positive(t, path, "max_message_bytes", d.max_message_bytes),
        circuit_failures=ctx.positive(t, path, "circuit_failures", d.circuit_failures),
        circuit_cooldown_seconds=ctx.positive(
            t, path, "circuit_cooldown_seconds", d.circuit_cooldown_seconds
        ),
        drafts_folder=ctx.get(t, path, "drafts_folder", str, "") or None,
        schedule_horizon_days=ctx.positive(
            t, path, "schedule_horizon_days", d.schedule_horizon_days
        ),
    )


def _policy(ctx: _Ctx, raw: Any, path: KeyPath) -> PolicySettings:
    t = ctx.table(raw, path, _POLICY_KEYS)
    d = PolicySettings()
    mode = _enum(ctx, t, path, "mode", tuple(m.value for m in PolicyMode))
    tools = _groups(ctx, t, path, "tools")
    denied = _groups(ctx, t, path, "deny_tools") or frozenset()
    quotas = {
        key: ctx.positive(t, path, key, 0) if key in t else None
        for key in ("sends_per_hour", "sends_per_day", "new_recipients_per_day")
    }
    first = _enum(ctx, t, path, "first_contact", tuple(f.value for f in FirstContact))
    return PolicySettings(
        mode=PolicyMode(mode) if mode is not None else d.mode,
        tools=(d.tools if tools is None else tools) - denied,
        allow=_patterns(ctx, t, path, "allow"),
        deny=_patterns(ctx, t, path, "deny"),
        **quotas,
        first_contact=FirstContact(first) if first is not None else d.first_contact,
        approval_ttl_hours=ctx.at_least(
            t, path, "approval_ttl_hours", d.approval_ttl_hours, 1 / 60
        ),
    )


def _groups(
    ctx: _Ctx, t: Mapping[str, Any], path: KeyPath, key: str
) -> frozenset[ToolGroup] | None:
    names = ctx.strings(t, path, key)
    if names is None:
        return None
    out: set[ToolGroup] = set()
    for name in names:
        try:
            out.add(ToolGroup(name.strip().lower()))
        except ValueError:
            groups = ", ".join(g.value for g in ToolGroup)
            raise ctx.error((*path, key), f"unknown tool group {name!r}", f"use {groups}") from None
    return frozenset(out)


def _patterns(ctx: _Ctx, t: Mapping[str, Any], path: KeyPath, key: str) -> tuple[str, ...]:
    """Addresses and ``*@domain`` patterns, lower-cased (recipients match case-insensitively)."""
    out: list[str] = []
    for raw in ctx.strings(t, path, key) or ():
        value = raw.strip().lower()
        local, at, domain = value.rpartition("@")
        # "*" only as the whole local part: *@domain, no other glob.
        wild = "*" in domain or ("*" in local and local != "*")
        bad = wild or any(c in value for c in " \t\r\n\x00<>,")
        if not at or not local or not domain or bad:
            raise ctx.error(
                (*path, key),
                f"{raw!r} is neither an address nor *@domain",
                'e.g. "bob@example.org" or "*@example.org"',
            )
        out.append(value)
    return tuple(out)


def _account_events(ctx: _Ctx, raw: Any, path: KeyPath) -> AccountEventSettings:
    t = ctx.table(raw, path, _ACCOUNT_EVENT_KEYS)
    d = AccountEventSettings()
    senders: dict[str, tuple[str, ...]] = {}
    for key in ("allow_senders", "deny_senders"):
        values = ctx.strings(t, path, key) or ()
        for v in values:
            if not v.strip() or any(c in v for c in " \r\n\x00<>,"):
                raise ctx.error((*path, key), f"is not an address or domain: {v!r}")
        senders[key] = tuple(v.strip().lower() for v in values)
    return AccountEventSettings(
        automated=_enum(ctx, t, path, "automated", ("flag", "suppress")) or d.automated,
        allow_senders=senders["allow_senders"],
        deny_senders=senders["deny_senders"],
    )


def _attachments(ctx: _Ctx, raw: Any) -> AttachmentPolicy:
    path: KeyPath = ("attachments",)
    t = ctx.table(raw, path, _ATTACH_KEYS)
    d = AttachmentPolicy()
    return AttachmentPolicy(
        root=ctx.path(t, path, "root"),
        max_bytes=ctx.positive(t, path, "max_bytes", d.max_bytes),
        allowed_types=ctx.strings(t, path, "allowed_types") or d.allowed_types,
        download_dir=ctx.path(t, path, "download_dir"),
        inline_max_bytes=ctx.positive(t, path, "inline_max_bytes", d.inline_max_bytes),
    )


def _actions(ctx: _Ctx, raw: Any, path: KeyPath) -> ActionSettings:
    t = ctx.table(raw, path, _ACTION_KEYS)
    d = ActionSettings()
    folders: dict[str, str | None] = {}
    for key in ("archive_folder", "trash_folder"):
        name = ctx.get(t, path, key, str)
        if name is not None and (not name or any(c in name for c in '\r\n\x00*%"\\')):
            raise ctx.error(
                (*path, key), 'must be a folder name without CR, LF, NUL, *, %, " or \\'
            )
        folders[key] = name
    return ActionSettings(
        archive_folder=folders["archive_folder"],
        trash_folder=folders["trash_folder"],
        bulk_limit=ctx.positive(t, path, "bulk_limit", d.bulk_limit),
    )


def _limits(ctx: _Ctx, raw: Any) -> ToolLimitSettings:
    path: KeyPath = ("limits",)
    t = ctx.table(raw, path, _LIMIT_KEYS)
    d = ToolLimitSettings()
    values = {key: ctx.positive(t, path, key, getattr(d, key)) for key in _LIMIT_KEYS}
    for key, value in values.items():
        if value > _U32_MAX:  # they cross the WIT boundary as u32
            raise ctx.error((*path, key), f"must be at most {_U32_MAX}")
    if values["page_default"] > values["page_max"]:
        raise ctx.error((*path, "page_default"), f"must be at most page_max ({values['page_max']})")
    return ToolLimitSettings(**values)


def _logging(ctx: _Ctx, raw: Any) -> LoggingSettings:
    path: KeyPath = ("logging",)
    t = ctx.table(raw, path, _LOGGING_KEYS)
    d = LoggingSettings()
    return LoggingSettings(
        format=_enum(ctx, t, path, "format", LOG_FORMATS) or d.format,
        level=_enum(ctx, t, path, "level", LOG_LEVELS) or d.level,
    )


def _metrics(ctx: _Ctx, raw: Any) -> MetricsSettings:
    from ..metrics import parse_listen

    path: KeyPath = ("metrics",)
    t = ctx.table(raw, path, _METRICS_KEYS)
    listen = ctx.get(t, path, "listen", str)
    if listen is not None:
        try:
            parse_listen(listen)
        except ConfigError as exc:
            raise ctx.error((*path, "listen"), exc.message, exc.hint) from None
    return MetricsSettings(
        listen=listen, allow_remote=ctx.get(t, path, "allow_remote", bool, False)
    )


def _events(ctx: _Ctx, raw: Any) -> EventSettings:
    path: KeyPath = ("events",)
    t = ctx.table(raw, path, _EVENT_KEYS)
    d = EventSettings()
    return EventSettings(
        max_age_days=int(ctx.at_least(t, path, "max_age_days", d.max_age_days, 0)),
        max_count=int(ctx.at_least(t, path, "max_count", d.max_count, 0)),
        prune_unacked=bool(ctx.get(t, path, "prune_unacked", bool, d.prune_unacked)),
    )


_WEBHOOK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,48}\Z")


def _webhook(ctx: _Ctx, raw: Any, index: int, account_ids: set[int]) -> WebhookConfig:
    from urllib.parse import urlsplit

    from ..types import EVENT_TYPES

    path: KeyPath = ("webhooks", index)
    t = ctx.table(raw, path, _WEBHOOK_KEYS)
    d = WebhookConfig(name="", url="")
    name = ctx.get(t, path, "name", str, required=True)
    if not _WEBHOOK_NAME.match(name):
        raise ctx.error((*path, "name"), "must be 1 to 48 letters, digits, '.', '_' or '-'")
    url = ctx.get(t, path, "url", str, required=True)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ctx.error((*path, "url"), f"must be an http:// or https:// URL, got {url!r}")
    if parts.username is not None or parts.password is not None:
        # It would end up in logs and error messages: the signature authenticates instead.
        raise ctx.error((*path, "url"), "must not carry a user or password", "use secret_file")
    if ("secret_env" in t) == ("secret_file" in t):
        raise ctx.error(path, "set exactly one of secret_env and secret_file")
    env = ctx.get(t, path, "secret_env", str)
    if env is not None and not env:
        raise ctx.error((*path, "secret_env"), "must not be empty")
    types = ctx.strings(t, path, "types") or ()
    for kind in types:
        if kind not in EVENT_TYPES:
            raise ctx.error(
                (*path, "types"), f"unknown event type {kind!r}", ", ".join(EVENT_TYPES)
            )
    account = ctx.get(t, path, "account", int)
    if account is not None and account not in account_ids:
        raise ctx.error((*path, "account"), f"no account with id {account} is configured")
    base = ctx.at_least(t, path, "backoff_base_seconds", d.backoff_base_seconds, 0.001)
    return WebhookConfig(
        name=name,
        url=url,
        secret_env=env,
        secret_file=_secret_file(ctx, t, path, "secret_file"),
        types=tuple(dict.fromkeys(types)),
        account=account,
        timeout=ctx.positive(t, path, "timeout", d.timeout),
        max_attempts=ctx.positive(t, path, "max_attempts", d.max_attempts),
        backoff_base_seconds=base,
        backoff_max_seconds=ctx.at_least(
            t, path, "backoff_max_seconds", d.backoff_max_seconds, base
        ),
    )


def _webhooks(
    ctx: _Ctx, raw: Any, accounts: tuple[AccountConfig, ...]
) -> tuple[WebhookConfig, ...]:
    if not isinstance(raw, list):
        raise ctx.error(("webhooks",), "must be an array of tables ([[webhooks]])")
    ids = {a.id for a in accounts}
    hooks = tuple(_webhook(ctx, h, i, ids) for i, h in enumerate(raw))
    names = [h.name for h in hooks]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ctx.error(("webhooks", i, "name"), f"duplicates webhook {name!r}")
    return hooks


def _account(ctx: _Ctx, raw: Any, index: int) -> AccountConfig:
    path: KeyPath = ("accounts", index)
    t = ctx.table(raw, path, _ACCOUNT_KEYS)
    acc_id = ctx.get(t, path, "id", int, required=True)
    if acc_id <= 0:
        raise ctx.error((*path, "id"), "must be a positive integer")
    address = ctx.get(t, path, "address", str, required=True)
    if "@" not in address or any(c in address for c in " \r\n\x00<>"):
        raise ctx.error((*path, "address"), f"is not an email address: {address!r}")
    provider = _enum(ctx, t, path, "provider", tuple(sorted(PRESETS)))
    name = ctx.get(t, path, "name", str, address)
    build: Callable[[str], ServerConfig | None] = lambda proto: (  # noqa: E731
        _server(ctx, t[proto], (*path, proto), proto, address, provider) if proto in t else None
    )
    return AccountConfig(
        id=acc_id,
        name=name,
        address=address,
        imap=build("imap"),
        smtp=build("smtp"),
        sync=_sync(ctx, t.get("sync", {}), (*path, "sync")),
        send=_send(
            ctx,
            t.get("send", {}),
            (*path, "send"),
            # The provider's default (Gmail, Outlook file sent mail themselves) when its
            # SMTP is the preset's, i.e. no other host is configured.
            _files_sent(address, provider, t.get("smtp")),
        ),
        actions=_actions(ctx, t.get("actions", {}), (*path, "actions")),
        policy=_policy(ctx, t.get("policy", {}), (*path, "policy")),
        events=_account_events(ctx, t.get("events", {}), (*path, "events")),
    )


def _files_sent(address: str, provider: str | None, smtp: Any) -> bool:
    preset = preset_for(address, provider)
    if preset is None or not preset.server_files_sent:
        return False
    host = smtp.get("host") if isinstance(smtp, dict) else None
    return host is None or str(host).lower() == preset.smtp.host


def parse_config(text: str, source: Path | None = None, *, file_modes: bool = True) -> Config:
    """Parse config text (``file_modes`` False: accept a loose password file; the doctor).

    :raises ConfigError: syntax or semantic error, naming the line and key.
    """
    where = str(source) if source else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{where}: invalid TOML: {exc}", hint="fix the syntax at that line"
        ) from None
    ctx = _Ctx(source, _Lines(text), file_modes=file_modes)
    top = ctx.table(data, (), _TOP_KEYS)
    raw_accounts = top.get("accounts", [])
    if not isinstance(raw_accounts, list):
        raise ctx.error(("accounts",), "must be an array of tables ([[accounts]])")
    accounts = tuple(_account(ctx, a, i) for i, a in enumerate(raw_accounts))
    seen: dict[int, int] = {}
    for i, acc in enumerate(accounts):
        if acc.id in seen:
            raise ctx.error(("accounts", i, "id"), f"duplicates the id of accounts[{seen[acc.id]}]")
        seen[acc.id] = i
    return Config(
        accounts=accounts,
        attachments=_attachments(ctx, top.get("attachments", {})),
        source=source,
        limits=_limits(ctx, top.get("limits", {})),
        logging=_logging(ctx, top.get("logging", {})),
        metrics=_metrics(ctx, top.get("metrics", {})),
        events=_events(ctx, top.get("events", {})),
        webhooks=_webhooks(ctx, top.get("webhooks", []), accounts),
    )


def load_config(path: str | os.PathLike[str], *, file_modes: bool = True) -> Config:
    """Read and validate the config file.

    :raises ConfigError: unreadable file, syntax error, or invalid values (with line and key).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {p} does not exist",
            hint='create it (see README "Configuration") or pass --config',
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    return parse_config(text, p.resolve(), file_modes=file_modes)
