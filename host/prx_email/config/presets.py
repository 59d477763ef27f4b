"""Well-known providers: IMAP/SMTP endpoints filled in when the config omits them.

A preset is chosen by the account's ``provider`` key, else by the domain of its address.
Only host, port and TLS mode come from here (and the OAuth2 provider name for XOAUTH2, and
whether the provider files sent mail into Sent itself); credentials always come from the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import TlsMode


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    tls: TlsMode


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    imap: Endpoint
    smtp: Endpoint
    oauth2_provider: str | None = None
    #: The provider files every message sent over its SMTP into the Sent folder itself.
    server_files_sent: bool = False


_GMAIL = Preset(
    "gmail",
    Endpoint("imap.gmail.com", 993, TlsMode.IMPLICIT),
    Endpoint("smtp.gmail.com", 465, TlsMode.IMPLICIT),
    "google",
    server_files_sent=True,
)
_OUTLOOK = Preset(
    "outlook",
    Endpoint("outlook.office365.com", 993, TlsMode.IMPLICIT),
    Endpoint("smtp.office365.com", 587, TlsMode.STARTTLS),
    "microsoft",
    server_files_sent=True,
)
_YAHOO = Preset(
    "yahoo",
    Endpoint("imap.mail.yahoo.com", 993, TlsMode.IMPLICIT),
    Endpoint("smtp.mail.yahoo.com", 465, TlsMode.IMPLICIT),
)
_ICLOUD = Preset(
    "icloud",
    Endpoint("imap.mail.me.com", 993, TlsMode.IMPLICIT),
    Endpoint("smtp.mail.me.com", 587, TlsMode.STARTTLS),
)

PRESETS: dict[str, Preset] = {
    "gmail": _GMAIL,
    "google": _GMAIL,
    "outlook": _OUTLOOK,
    "office365": _OUTLOOK,
    "microsoft": _OUTLOOK,
    "yahoo": _YAHOO,
    "icloud": _ICLOUD,
}

DOMAINS: dict[str, Preset] = {
    "gmail.com": _GMAIL,
    "googlemail.com": _GMAIL,
    "outlook.com": _OUTLOOK,
    "hotmail.com": _OUTLOOK,
    "live.com": _OUTLOOK,
    "msn.com": _OUTLOOK,
    "office365.com": _OUTLOOK,
    "yahoo.com": _YAHOO,
    "ymail.com": _YAHOO,
    "icloud.com": _ICLOUD,
    "me.com": _ICLOUD,
    "mac.com": _ICLOUD,
}

DEFAULT_PORTS: dict[tuple[str, TlsMode], int] = {
    ("imap", TlsMode.IMPLICIT): 993,
    ("imap", TlsMode.STARTTLS): 143,
    ("imap", TlsMode.NONE): 143,
    ("smtp", TlsMode.IMPLICIT): 465,
    ("smtp", TlsMode.STARTTLS): 587,
    ("smtp", TlsMode.NONE): 25,
}


def preset_for(address: str, provider: str | None = None) -> Preset | None:
    """The preset named by ``provider``, else the one for the address's domain."""
    if provider:
        return PRESETS.get(provider.lower())
    domain = address.rpartition("@")[2].lower()
    if domain in DOMAINS:
        return DOMAINS[domain]
    # Regional variants: hotmail.co.uk, yahoo.fr, outlook.de, ...
    label = domain.split(".", 1)[0]
    for name in ("hotmail", "outlook", "live", "yahoo"):
        if label == name:
            return DOMAINS[f"{name}.com"]
    return None
