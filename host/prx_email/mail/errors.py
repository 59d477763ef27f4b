"""The one place where mail-library exceptions become ``prx_email.errors``.

Modelled on httpx's ``map_httpcore_exceptions``: each boundary has one context manager,
the most specific match wins, the original is chained with ``from``. Messages name the
server and what failed, never a credential.

- IMAP: :func:`map_imap_errors` (aioimaplib, our reader, ssl, socket, asyncio timeouts)
- SMTP: :func:`map_smtp_errors` (aiosmtplib, ssl, socket); reply codes decide the class:
  ``4xx`` → :class:`SmtpTransientReply` (retry later), ``5xx`` → :class:`SmtpPermanentReply`
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import aioimaplib

from ..errors import (
    AuthFailed,
    ConnectionFailed,
    EmailError,
    FolderNotFound,
    InvalidArgument,
    OperationTimeout,
    ProtocolError,
    SmtpPermanent,
    SmtpTransient,
    TlsFailed,
)
from .imap import CommandFailed, ParseError

__all__ = [
    "SmtpPermanentReply",
    "SmtpTransientReply",
    "is_transient",
    "map_imap_errors",
    "map_smtp_errors",
    "reply_error",
]


def _tls_error(where: str, exc: ssl.SSLError) -> TlsFailed:
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "verification failed"
        return TlsFailed(
            f"TLS certificate of {where} was not accepted: {detail}",
            hint="if the server uses a private CA, set ca_file to its CA certificate; "
            "certificate verification is never disabled",
        )
    return TlsFailed(
        f"TLS handshake with {where} failed: {exc.reason or exc.__class__.__name__}",
        hint="check the port and tls mode (implicit is usually 993, starttls 143)",
    )


def _imap_timeout(where: str, timeout: float | None) -> OperationTimeout:
    if timeout is None:
        return OperationTimeout(
            f"IMAP server {where} did not answer in time",
            hint="the server is slow or unreachable; raise timeout in the account's imap table",
        )
    # The inactivity timeout fired (a long FETCH that keeps streaming never trips it), so
    # say which setting it was; fewer messages per run would not have helped.
    return OperationTimeout(
        f"IMAP server {where} did not answer within {timeout:g} s"
        f" ([accounts.imap] timeout = {timeout:g})",
        hint=f"check that {where} is an IMAP server that answers; if it is just slow, "
        "raise timeout in the account's [accounts.imap] table",
    )


@contextmanager
def map_imap_errors(
    host: str, port: int, *, folder: str | None = None, timeout: float | None = None
) -> Iterator[None]:
    """Run an IMAP exchange; library and socket failures leave as our errors.

    ``timeout`` is the server's configured inactivity timeout, named when it fires.

    :raises TlsFailed: certificate or handshake failure.
    :raises ConnectionFailed: refused, unreachable, reset, name not resolved.
    :raises OperationTimeout: connect or command inactivity timeout.
    :raises AuthFailed, FolderNotFound, ProtocolError: server said NO/BAD or spoke nonsense.
    """
    where = f"{host}:{port}"
    try:
        yield
    except EmailError:
        raise
    except ssl.SSLError as exc:  # before OSError: SSLError is an OSError
        raise _tls_error(where, exc) from exc
    except (TimeoutError, aioimaplib.CommandTimeout) as exc:
        raise _imap_timeout(where, timeout) from exc
    except ConnectionRefusedError as exc:
        raise ConnectionFailed(
            f"connection to IMAP server {where} was refused",
            hint="check host and port in the config and that the server is running",
        ) from exc
    except socket.gaierror as exc:
        raise ConnectionFailed(
            f"cannot resolve IMAP host {host}",
            hint="check the host name in the config and your DNS",
        ) from exc
    except (ConnectionError, EOFError) as exc:
        raise ConnectionFailed(
            f"connection to IMAP server {where} was lost",
            hint="the server closed the connection; check the tls mode and port, then retry",
        ) from exc
    except OSError as exc:
        raise ConnectionFailed(
            f"cannot reach IMAP server {where}: {exc.strerror or exc.__class__.__name__}",
            hint="check the network, host and port",
        ) from exc
    except CommandFailed as exc:
        code = exc.tagged.code
        text = exc.tagged.text.decode("utf-8", "replace")
        if code == "NONEXISTENT" and folder is not None:
            raise FolderNotFound(
                f"folder {folder!r} does not exist on the server", hint="check the folder name"
            ) from exc
        if code in ("AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED"):
            raise AuthFailed(f"IMAP server {where} refused: {text}") from exc
        raise ProtocolError(
            f"IMAP {exc.command} failed on {where}: {exc.tagged.status} {text}",
            hint="the server refused the command; retry later or report it",
        ) from exc
    except ParseError as exc:
        raise ProtocolError(f"unparseable response from IMAP server {where}: {exc}") from exc
    except aioimaplib.AioImapException as exc:
        raise ProtocolError(f"IMAP protocol error with {where}: {exc}") from exc


# -- SMTP ------------------------------------------------------------------------------


class SmtpTransientReply(SmtpTransient):
    """A 4xx reply (or a reply the server did not give because it went away)."""

    def __init__(self, message: str, *, smtp_code: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.smtp_code = smtp_code


class SmtpPermanentReply(SmtpPermanent):
    """A 5xx reply: retrying the same message will not help."""

    def __init__(self, message: str, *, smtp_code: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.smtp_code = smtp_code


def _clean(text: str) -> str:
    return " ".join(text.split())[:500]


def reply_error(code: int, text: str, what: str) -> EmailError:
    """Classify one SMTP reply by its code."""
    detail = f"{what}: {code} {_clean(text)}"
    if 400 <= code < 500:
        return SmtpTransientReply(
            f"SMTP server deferred {detail}",
            smtp_code=code,
            hint="transient; the outbox retries automatically",
        )
    if 500 <= code < 600:
        return SmtpPermanentReply(
            f"SMTP server rejected {detail}",
            smtp_code=code,
            hint="permanent; fix the message or recipients and send again",
        )
    return ProtocolError(f"unexpected SMTP reply to {detail}")


def is_transient(exc: EmailError) -> bool:
    """Whether the outbox should retry after this error (vs. mark the row dead)."""
    return not isinstance(exc, SmtpPermanent | InvalidArgument | ProtocolError)


@contextmanager
def map_smtp_errors(what: str, host: str) -> Iterator[None]:
    """Translate library exceptions raised inside the block. Our own errors pass through."""
    # Imported here: IMAP-only processes (sync) do not pay for aiosmtplib's import.
    import aiosmtplib

    try:
        yield
    except EmailError:
        raise
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise AuthFailed(
            f"SMTP authentication failed at {host}: {exc.code} {_clean(exc.message)}",
            hint="check the username and password/token in the account config",
        ) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        worst = min(codes) if any(400 <= c < 500 for c in codes) else max(codes, default=550)
        raise reply_error(worst, "all recipients refused", what) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise reply_error(exc.code, exc.message, what) from exc
    except aiosmtplib.SMTPTimeoutError as exc:
        raise OperationTimeout(
            f"SMTP {what} timed out at {host}",
            hint="the server is slow or unreachable; the outbox retries automatically",
        ) from exc
    except aiosmtplib.SMTPNotSupported as exc:
        raise TlsFailed(f"SMTP server {host} cannot do {what}: {_clean(str(exc))}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise TlsFailed(
            f"TLS certificate of {host} not trusted: {exc.verify_message}",
            hint="set ca_file for a private CA, or fix the server certificate",
        ) from exc
    except ssl.SSLError as exc:
        raise TlsFailed(f"TLS with {host} failed: {exc.reason or exc}") from exc
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError) as exc:
        raise ConnectionFailed(
            f"SMTP connection to {host} failed during {what}: {_clean(str(exc))}",
            hint="transient; the outbox retries automatically",
        ) from exc
    except aiosmtplib.SMTPException as exc:
        if "STARTTLS" in str(exc):
            raise TlsFailed(f"SMTP server {host} does not offer STARTTLS") from exc
        raise ProtocolError(f"SMTP {what} with {host} failed: {_clean(str(exc))}") from exc
    except TimeoutError as exc:
        raise OperationTimeout(f"SMTP {what} timed out at {host}") from exc
    except asyncio.IncompleteReadError as exc:
        raise ConnectionFailed(f"SMTP connection to {host} closed during {what}") from exc
    except OSError as exc:
        raise ConnectionFailed(
            f"cannot reach SMTP server {host}: {exc.strerror or exc}",
            hint="check host and port; the outbox retries automatically",
        ) from exc
