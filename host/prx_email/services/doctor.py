"""``prx-email doctor``: per account, each step from config to login checked and explained.

::

    config ─► imap.credentials  imap.dns ─► imap.tcp ─► imap.tls ─► imap.login ─► imap.capabilities
                                                                               └─► imap.folders
              smtp.credentials  smtp.dns ─► smtp.tcp ─► smtp.tls ─► smtp.ehlo ─► smtp.login
              mail-dns(.spf, .dkim): the From domain's SPF record and DKIM key (warnings only)

A login is skipped when its credentials step failed; the network steps run regardless.
With the network switch off, only the credentials steps run and ``network`` fails.
:func:`health` is the agent's summary (``email.health``): each step's status and code only
(details and hints name hosts and paths), and with the network off ``network`` is a skip.

Each step is a :class:`Check` (pass / warn / fail / skip; a fail carries a hint and its
``EMAIL_…`` code). A step whose prerequisite failed is skipped, so the first fail is the
cause. The checks reuse the plugin's own code paths: ``mail.imap.open_transport`` and
``services.sync.open_imap`` for IMAP, ``mail.smtp.SmtpConnection`` for SMTP, the credential
manager for secrets; errors are mapped by ``mail.errors`` exactly as a sync or send maps them.
No check prints a secret: details are built from our own error messages and the manager's
status, which never hold one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..auth.credentials import read_secret_file
from ..auth.manager import CredentialManager
from ..config.model import AccountConfig, Config, PasswordAuth, ServerConfig, TlsMode
from ..errors import EmailError
from ..mail.errors import map_imap_errors, map_smtp_errors
from ..mail.imap import ImapClient, ListEntry, list_entries, open_transport
from ..mail.smtp import SmtpConnection
from .context import ServiceContext
from .watch import IdleUnavailable, watch_mode

if TYPE_CHECKING:
    from ..types import HealthReport

__all__ = [
    "CAPABILITY_EFFECTS",
    "AccountReport",
    "Check",
    "DnsUnavailable",
    "DoctorReport",
    "Status",
    "TxtLookup",
    "config_check",
    "diagnose",
    "dns_txt_lookup",
    "health",
]

#: A certificate expiring sooner than this is a warning.
CERT_WARN_DAYS = 14
#: DKIM selectors tried on the From domain (a selector cannot be listed, only guessed).
DKIM_SELECTORS = ("default", "selector1", "selector2", "google", "k1", "s1", "s2", "dkim", "mail")

#: IMAP capability → what the plugin does without it (shown when it is missing).
CAPABILITY_EFFECTS: Mapping[str, str] = {
    "IDLE": "`prx-email watch` finds new mail by polling every interval_seconds, not pushed "
    '(idle = "required" refuses to start)',
    "MOVE": "moves are done as UID COPY, STORE \\Deleted and UID EXPUNGE of exactly those "
    "messages (that needs UIDPLUS)",
    "UIDPLUS": "no COPYUID, so moved messages are re-read by the next sync of the destination; "
    "without MOVE as well, moves and deletes are refused",
    "CONDSTORE": "each sync re-reads the flags of every stored message (full UID FLAGS scan)",
    "QRESYNC": "expunged messages are found by that full scan, not by VANISHED",
    "SPECIAL-USE": "folder roles are not announced: set archive_folder / trash_folder in "
    "[accounts.actions] (Sent is [accounts.send] sent_folder)",
}
#: Informational: present on Gmail only, so its absence is no warning.
_GMAIL_CAP = "X-GM-EXT-1"


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # a prerequisite failed


@dataclass(frozen=True, slots=True)
class Check:
    """One step's outcome; ``hint`` is set on every warn and fail."""

    step: str
    status: Status
    detail: str
    hint: str | None = None
    error_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "status": self.status.value,
            "detail": self.detail,
            "hint": self.hint,
            "error_code": self.error_code,
        }


@dataclass(frozen=True, slots=True)
class AccountReport:
    account_id: int
    name: str
    checks: tuple[Check, ...]

    def check(self, step: str) -> Check | None:
        return next((c for c in self.checks if c.step == step), None)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    config: Check
    accounts: tuple[AccountReport, ...] = ()

    @property
    def ok(self) -> bool:
        """No step failed (warnings allowed)."""
        checks = [self.config, *(c for a in self.accounts for c in a.checks)]
        return all(c.status is not Status.FAIL for c in checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "config": self.config.to_json(),
            "accounts": [
                {
                    "account_id": a.account_id,
                    "name": a.name,
                    "checks": [c.to_json() for c in a.checks],
                }
                for a in self.accounts
            ],
        }


def _failed(step: str, exc: EmailError) -> Check:
    return Check(
        step,
        Status.FAIL,
        exc.message,
        hint=exc.hint or exc.code.default_hint,
        error_code=exc.code.envelope,
    )


def _skip(step: str, because: str) -> Check:
    return Check(step, Status.SKIP, f"not checked: {because} failed")


def config_check(config: Config) -> Check:
    """The config loaded (the loader already refused anything invalid)."""
    n = len(config.accounts)
    where = config.describe_source()
    if config.source_missing:
        return Check(
            "config",
            Status.WARN,
            f"{where}: only the local account (no servers to check)",
            hint="write a config file (see docs/config.md) or name one with --config",
        )
    return Check("config", Status.PASS, f"{where}: {n} account{'s' * (n != 1)}")


# -- DNS for SPF / DKIM -------------------------------------------------------------------


class DnsUnavailable(Exception):
    """No resolver answered (no network, no resolv.conf): the mail-DNS checks are skipped."""


#: TXT strings of a name; ``[]`` when the name or record does not exist.
TxtLookup = Callable[[str], Awaitable[list[str]]]


def dns_txt_lookup(timeout: float = 3.0, nameservers: Sequence[str] | None = None) -> TxtLookup:
    """A TXT lookup on dnspython's async resolver (system resolv.conf unless ``nameservers``)."""
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    try:
        resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
    except dns.resolver.NoResolverConfiguration as exc:
        err = DnsUnavailable(f"no resolver configured ({exc.__class__.__name__})")

        async def unavailable(_name: str) -> list[str]:
            raise err

        return unavailable
    if nameservers is not None:
        resolver.nameservers = list(nameservers)
    resolver.lifetime = timeout

    checked: list[bool] = []

    async def working() -> None:
        # A sinkhole resolver (as on sandboxed machines) answers NXDOMAIN for every name, so
        # "no SPF record" could be a lie: a resolver that cannot find the root zone has no DNS.
        if checked:
            return
        try:
            await resolver.resolve(".", "NS")
        except dns.exception.DNSException as exc:
            raise DnsUnavailable(
                f"the resolver cannot find the root zone ({exc.__class__.__name__}): no working DNS"
            ) from exc
        checked.append(True)

    async def lookup(name: str) -> list[str]:
        await working()
        try:
            answer = await resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DnsUnavailable(f"DNS lookup failed ({exc.__class__.__name__})") from exc
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]

    return lookup


async def _mail_dns(address: str, lookup: TxtLookup) -> list[Check]:
    domain = address.rpartition("@")[2].lower()
    if not domain or domain == "localhost" or domain.endswith((".localhost", ".local")):
        return [Check("mail-dns", Status.PASS, f"{domain or address}: local domain, not checked")]
    try:
        spf = [t for t in await lookup(domain) if t.lower().startswith("v=spf1")]
        dkim: tuple[str, str] | None = None
        for selector in DKIM_SELECTORS:
            keys = [t for t in await lookup(f"{selector}._domainkey.{domain}") if "p=" in t]
            if keys:
                dkim = (selector, keys[0])
                break
    except DnsUnavailable as exc:
        return [
            Check(
                "mail-dns",
                Status.WARN,
                f"SPF and DKIM of {domain} not checked: {exc}",
                hint="run doctor where DNS works to check the sender domain's SPF and DKIM",
            )
        ]
    checks = [
        Check("mail-dns.spf", Status.PASS, f"{domain}: {spf[0]}")
        if spf
        else Check(
            "mail-dns.spf",
            Status.WARN,
            f"{domain} has no SPF record",
            hint=f"publish a TXT record 'v=spf1 …' on {domain} naming the SMTP server, "
            "or receivers may mark the mail as spam",
        ),
        Check("mail-dns.dkim", Status.PASS, f"{domain}: selector {dkim[0]} has a key")
        if dkim
        else Check(
            "mail-dns.dkim",
            Status.WARN,
            f"no DKIM key found at the usual selectors of {domain} ({', '.join(DKIM_SELECTORS)})",
            hint="selectors cannot be listed; check your provider's DKIM setup (a key under "
            "another selector is fine)",
        ),
    ]
    return checks


# -- shared network steps ----------------------------------------------------------------

ErrorMap = Callable[[], AbstractContextManager[None]]


async def _dns_tcp(proto: str, server: ServerConfig, errors: ErrorMap) -> list[Check]:
    """Resolve and connect once; a fail ends the list."""
    loop = asyncio.get_running_loop()
    try:
        with errors():
            infos = await asyncio.wait_for(
                loop.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM),
                server.timeout,
            )
    except EmailError as exc:
        return [_failed(f"{proto}.dns", exc)]
    addrs = ", ".join(dict.fromkeys(str(info[4][0]) for info in infos))
    checks = [Check(f"{proto}.dns", Status.PASS, f"{server.host} → {addrs}")]
    start = time.monotonic()
    try:
        with errors():
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(server.host, server.port), server.timeout
            )
            writer.transport.abort()  # nothing said: the next step opens its own session
    except EmailError as exc:
        return [*checks, _failed(f"{proto}.tcp", exc)]
    ms = (time.monotonic() - start) * 1000
    checks.append(Check(f"{proto}.tcp", Status.PASS, f"{server.host}:{server.port} in {ms:.0f} ms"))
    return checks


def _cert_check(
    step: str, server: ServerConfig, cert: Mapping[str, Any] | None, extra: str
) -> Check:
    if server.tls is TlsMode.NONE:
        return Check(step, Status.PASS, f"plaintext (tls = none, loopback only){extra}")
    how = "implicit TLS" if server.tls is TlsMode.IMPLICIT else "STARTTLS"
    if not cert or "notAfter" not in cert:
        return Check(step, Status.PASS, f"{how}, certificate verified for {server.host}{extra}")
    expires = ssl.cert_time_to_seconds(str(cert["notAfter"]))
    days = int((expires - time.time()) // 86400)
    date = time.strftime("%Y-%m-%d", time.gmtime(expires))
    detail = f"{how}, certificate verified for {server.host}, expires {date} ({days} days){extra}"
    if days < CERT_WARN_DAYS:
        return Check(step, Status.WARN, detail, hint="renew the server certificate soon")
    return Check(step, Status.PASS, detail)


def _credentials(
    proto: str, acc: AccountConfig, server: ServerConfig, manager: CredentialManager
) -> Check:
    step = f"{proto}.credentials"
    if not server.logs_in:
        return Check(step, Status.PASS, "no credential (loopback relay)")
    auth = server.auth
    if isinstance(auth, PasswordAuth) and auth.password_file is not None:
        try:
            read_secret_file(auth.password_file)  # the same check a login makes
        except EmailError as exc:
            return _failed(step, exc)
        return Check(step, Status.PASS, f"password file {auth.password_file} (mode 0600)")
    status = manager.status(acc, "imap" if proto == "imap" else "smtp")
    assert status is not None
    if status.problem:
        return Check(
            step,
            Status.FAIL,
            f"{status.mechanism} from {status.source}: {status.problem}",
            hint="export the variable before running prx-email"
            if status.mechanism == "password"
            else "run `prx-email oauth bootstrap` or set the token variables",
            error_code="EMAIL_AUTH_FAILED",
        )
    detail = f"{status.mechanism} from {status.source}"
    if status.expires_at is not None:
        left = status.expires_at - time.time()
        detail += (
            f", token expires in {int(left // 60)} min"
            if left > 0
            else ", token expired" + (" (will be refreshed)" if status.has_refresh_token else "")
        )
        if left <= 0 and not status.has_refresh_token:
            return Check(
                step,
                Status.FAIL,
                detail,
                hint="run `prx-email oauth bootstrap` for a new token",
                error_code="EMAIL_AUTH_FAILED",
            )
    return Check(step, Status.PASS, detail)


# -- IMAP ------------------------------------------------------------------------------


async def _imap(ctx: ServiceContext, acc: AccountConfig, server: ServerConfig) -> list[Check]:
    manager = ctx.credentials
    assert isinstance(manager, CredentialManager)
    cred = _credentials("imap", acc, server, manager)
    checks = [cred]

    def errors() -> AbstractContextManager[None]:
        return map_imap_errors(server.host, server.port, timeout=server.timeout)

    checks += await _dns_tcp("imap", server, errors)
    if checks[-1].status is Status.FAIL:
        return _skipped(checks, ("imap.tcp", "imap.tls", "imap.login", "imap.capabilities",
                                 "imap.folders"))  # fmt: skip
    try:
        with errors():
            reader, caps = await open_transport(server, server.timeout)
            greeted = ImapClient(reader, caps, server.timeout)
            cert = reader.transport.get_extra_info("peercert") if reader.transport else None
            await greeted.logout()
    except EmailError as exc:
        return _skipped([*checks, _failed("imap.tls", exc)],
                        ("imap.login", "imap.capabilities", "imap.folders"))  # fmt: skip
    checks.append(_cert_check("imap.tls", server, cert, ", greeting read"))
    if cred.status is Status.FAIL:
        return _skipped(checks, ("imap.login", "imap.capabilities", "imap.folders"), "credentials")
    from .sync import open_imap  # the sync's own login (with the one OAuth2 refresh retry)

    try:
        client = await open_imap(ctx, acc)
    except EmailError as exc:
        return _skipped([*checks, _failed("imap.login", exc)],
                        ("imap.capabilities", "imap.folders"))  # fmt: skip
    try:
        checks.append(Check("imap.login", Status.PASS, f"logged in as {server.username}"))
        checks.append(_capabilities(acc, client.capabilities))
        try:
            with errors():
                folders = await list_entries(client)
        except EmailError as exc:
            checks.append(_failed("imap.folders", exc))
        else:
            checks.append(_folders(acc, folders))
    finally:
        await client.logout()
    return checks


def _skipped(checks: list[Check], steps: Sequence[str], because: str | None = None) -> list[Check]:
    cause = because or checks[-1].step.partition(".")[2]
    done = {c.step for c in checks}
    return checks + [_skip(s, cause) for s in steps if s not in done]


def _capabilities(acc: AccountConfig, caps: frozenset[str]) -> Check:
    missing = [c for c in CAPABILITY_EFFECTS if c not in caps]
    offered = [c for c in (*CAPABILITY_EFFECTS, _GMAIL_CAP) if c in caps]
    gmail = " (Gmail extensions)" if _GMAIL_CAP in caps else ""
    detail = f"offers {' '.join(offered) or 'none of the ones that matter'}{gmail}"
    try:
        mode, why = watch_mode(acc, caps)
    except IdleUnavailable as exc:  # the watcher would refuse to start
        return dataclasses.replace(
            _failed("imap.capabilities", exc), detail=f"{detail}; {exc.message}"
        )
    detail += f"; watch mode: {mode.value} ({why})"
    if not missing:
        return Check("imap.capabilities", Status.PASS, detail)
    return Check(
        "imap.capabilities",
        Status.WARN,
        f"{detail}; missing {' '.join(missing)}",
        hint="; ".join(f"without {c}: {CAPABILITY_EFFECTS[c]}" for c in missing),
    )


def _folders(acc: AccountConfig, entries: Sequence[ListEntry]) -> Check:
    """Each role resolved the way the plugin resolves it when it needs the folder.

    Sent: ``[accounts.send] sent_folder`` (needed only when SMTP is configured). Archive and
    Trash: ``[accounts.actions] archive_folder`` / ``trash_folder``, else the SPECIAL-USE
    role (as ``services.actions`` does). Drafts: the SPECIAL-USE role.
    """
    names = {e.name.lower(): e.name for e in entries if e.selectable}
    by_role: dict[str, str] = {}
    for e in entries:
        if e.selectable and e.role is not None:
            by_role.setdefault(e.role, e.name)
    found: list[str] = []
    problems: list[tuple[str, str]] = []  # (what is wrong, how to fix it)

    def named(label: str, name: str, key: str) -> None:
        if name.lower() in names:
            found.append(f"{label} = {names[name.lower()]} ({key})")
        else:
            marked = by_role.get(label.lower())
            also = f" (the server marks {marked!r} as {label})" if marked else ""
            problems.append(
                (f"{key} {name!r} does not exist", f"set {key} to an existing folder{also}")
            )

    sent = acc.send.sent_folder
    if acc.smtp is not None and sent:
        named("Sent", sent, "sent_folder")
    elif "sent" in by_role:
        found.append(f"Sent = {by_role['sent']}")
    for label, key, configured in (
        ("Archive", "archive_folder", acc.actions.archive_folder),
        ("Trash", "trash_folder", acc.actions.trash_folder),
        ("Drafts", None, None),
    ):
        if configured and key:
            named(label, configured, key)
        elif label.lower() in by_role:
            found.append(f"{label} = {by_role[label.lower()]}")
        else:
            where = f"set {key} in [accounts.actions], or " if key else ""
            problems.append(
                (
                    f"no folder has the \\{label} role",
                    f"{where}give a folder the \\{label} special-use attribute on the server",
                )
            )
    detail = ", ".join(found) or "no special folders"
    if problems:
        return Check(
            "imap.folders",
            Status.WARN,
            f"{detail}; " + "; ".join(p for p, _ in problems),
            hint="; ".join(h for _, h in problems),
        )
    return Check("imap.folders", Status.PASS, detail)


# -- SMTP ------------------------------------------------------------------------------


async def _smtp(ctx: ServiceContext, acc: AccountConfig, server: ServerConfig) -> list[Check]:
    manager = ctx.credentials
    assert isinstance(manager, CredentialManager)
    where = f"{server.host}:{server.port}"
    cred = _credentials("smtp", acc, server, manager)
    checks = [cred]

    def errors() -> AbstractContextManager[None]:
        return map_smtp_errors("connect", where)

    checks += await _dns_tcp("smtp", server, errors)
    if checks[-1].status is Status.FAIL:
        return _skipped(checks, ("smtp.tcp", "smtp.tls", "smtp.ehlo", "smtp.login"))
    # EHLO without AUTH: the same connect as a send, configured as an unauthenticated relay.
    anonymous = dataclasses.replace(server, auth=PasswordAuth())
    probe = SmtpConnection(dataclasses.replace(acc, smtp=anonymous), ctx.credentials)
    try:
        await probe.connect()
        ext = probe.extensions
        cert = probe.peer_certificate
    except EmailError as exc:
        return _skipped([*checks, _failed("smtp.tls", exc)], ("smtp.ehlo", "smtp.login"))
    finally:
        await probe.close()
    checks.append(_cert_check("smtp.tls", server, cert, ""))
    checks.append(_ehlo(server, ext))
    if cred.status is Status.FAIL:
        return _skipped(checks, ("smtp.login",), "credentials")
    if not server.logs_in:
        return checks
    conn = SmtpConnection(acc, ctx.credentials)
    try:
        await conn.connect()
    except EmailError as exc:
        checks.append(_failed("smtp.login", exc))
    else:
        checks.append(Check("smtp.login", Status.PASS, f"authenticated as {server.username}"))
    finally:
        await conn.close()
    return checks


def _ehlo(server: ServerConfig, ext: Mapping[str, str]) -> Check:
    mechs = ext.get("auth", "").upper().split()
    size = ext.get("size", "").strip()
    parts = [
        "STARTTLS used" if server.tls is TlsMode.STARTTLS else f"tls = {server.tls.value}",
        f"AUTH {' '.join(mechs) or 'none offered'}",
        f"SIZE {int(size) // (1024 * 1024)} MiB"
        if size.isdigit() and int(size)
        else "no SIZE limit",
    ]
    detail = ", ".join(parts)
    if not server.logs_in:
        return Check("smtp.ehlo", Status.PASS, detail)
    wanted = ("PLAIN", "LOGIN") if isinstance(server.auth, PasswordAuth) else ("XOAUTH2",)
    if not any(m in mechs for m in wanted):
        return Check(
            "smtp.ehlo",
            Status.FAIL,
            f"{detail}: none of {'/'.join(wanted)} offered",
            hint="check the port and tls mode (AUTH is often offered only after STARTTLS), "
            "or use the mechanism the server offers",
            error_code="EMAIL_PROTOCOL",
        )
    return Check("smtp.ehlo", Status.PASS, detail)


# -- entry point -----------------------------------------------------------------------


async def diagnose(
    ctx: ServiceContext,
    *,
    account_id: int | None = None,
    txt_lookup: TxtLookup | None = None,
    network_refused: EmailError | None = None,
) -> DoctorReport:
    """Run every check for one account (``account_id``) or all configured ones.

    ``ctx.credentials`` must be a :class:`CredentialManager` (for token status).
    ``network_refused`` (the gate's ``NetworkDisabled``, checked by the caller): only the
    offline checks run, and a ``network`` step fails with its hint.

    :raises AccountNotFound: ``account_id`` is not configured.
    """
    accounts = (ctx.account(account_id),) if account_id is not None else ctx.config.accounts
    lookup = txt_lookup or dns_txt_lookup()
    reports = []
    for acc in accounts:
        checks: list[Check] = []
        if acc.imap is None and acc.smtp is None:
            checks.append(Check("servers", Status.PASS, "no servers configured: nothing to check"))
        elif network_refused is not None:
            manager = ctx.credentials
            assert isinstance(manager, CredentialManager)
            for proto, server in (("imap", acc.imap), ("smtp", acc.smtp)):
                if server is not None:
                    checks.append(_credentials(proto, acc, server, manager))
            checks.append(_failed("network", network_refused))
            reports.append(AccountReport(acc.id, acc.name, tuple(checks)))
            continue
        if acc.imap is not None:
            checks += await _imap(ctx, acc, acc.imap)
        if acc.smtp is not None:
            checks += await _smtp(ctx, acc, acc.smtp)
            checks += await _mail_dns(acc.address, lookup)
        reports.append(AccountReport(acc.id, acc.name, tuple(checks)))
    return DoctorReport(config_check(ctx.config), tuple(reports))


async def health(
    ctx: ServiceContext,
    account_id: int | None = None,
    *,
    network: bool,
    txt_lookup: TxtLookup | None = None,
) -> HealthReport:
    """The checks of :func:`diagnose` as statuses and codes (``network``: the gate is open).

    :raises AccountNotFound: ``account_id`` is not configured.
    :raises ConfigError: the plugin runs with a custom credential provider (no token status).
    """
    from ..auth.deferred import resolved
    from ..errors import ConfigError, NetworkDisabled
    from ..types import AccountHealth, HealthReport, HealthStatus, HealthStep

    # A plugin opened by the API defers creating its manager until a connection needs it.
    ctx.credentials = resolved(ctx.credentials)  # type: ignore[assignment]
    if not isinstance(ctx.credentials, CredentialManager):
        raise ConfigError(
            "health checks need the plugin's own credential manager",
            hint="open the plugin without a custom credential provider",
        )
    refused = None if network else NetworkDisabled("the network flag is off")
    report = await diagnose(
        ctx,
        account_id=account_id,
        txt_lookup=txt_lookup or dns_txt_lookup(timeout=2.0),
        network_refused=refused,
    )
    accounts = []
    for acc in report.accounts:
        steps = []
        for c in acc.checks:
            status = HealthStatus(c.status.value)
            if c.step == "network" and refused is not None:
                status = HealthStatus.SKIP  # not a failure of the account: the flag is off
            steps.append(HealthStep(c.step, status, c.error_code))
        accounts.append(AccountHealth(acc.account_id, tuple(steps)))
    ok = all(s.status is not HealthStatus.FAIL for a in accounts for s in a.steps)
    return HealthReport(ok=ok, network_checked=refused is None, accounts=tuple(accounts))
