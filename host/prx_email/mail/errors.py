"""The one place where mail-library exceptions become ``prx_email.errors``.

Modelled on httpx's ``map_httpcore_exceptions``: each boundary has one context manager,
the most specific match wins, the original is chained with ``from``. Messages name the
server and what failed, never a credential.

- IMAP: :func:`map_imap_errors` (aioimaplib, our reader, ssl, socket, asyncio timeouts)
- SMTP: ``map_smtp_errors`` (added with the SMTP client)
"""

from __future__ import annotations

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
    OperationTimeout,
    ProtocolError,
    TlsFailed,
)
from .imap._client import CommandFailed
from .imap._response import ParseError

__all__ = ["map_imap_errors"]


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


@contextmanager
def map_imap_errors(host: str, port: int, *, folder: str | None = None) -> Iterator[None]:
    """Run an IMAP exchange; library and socket failures leave as our errors.

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
        raise OperationTimeout(
            f"IMAP server {where} did not answer in time",
            hint="the server is slow or unreachable; raise timeout in the account's imap table",
        ) from exc
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
