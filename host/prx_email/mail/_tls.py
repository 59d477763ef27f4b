"""The client TLS context shared by IMAP and SMTP: verifying, TLS 1.2 or later.

``ca_file`` *adds* a private CA to the system trust. The system trust is normally loaded
by ``ssl.create_default_context()``, which parses the whole CA bundle file (~55 ms on a
Debian box, more than the rest of a sync process's start-up). When a private CA is given,
the context is built from it and the system store is added through OpenSSL's hashed
certificate directory instead, whose certificates are loaded lazily, only when a chain
needs them. That is the same trust when the bundle file is the distribution's, built from
that same directory (Debian's and Alpine's ``update-ca-certificates``); anything else (a
custom ``SSL_CERT_FILE``, no hashed directory) loads the default certificates as before.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from ..errors import ConfigError

__all__ = ["tls_context"]


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context; ``ca_file`` adds a private CA (verification stays on).

    :raises ConfigError: ``ca_file`` cannot be read or holds no PEM certificate.
    """
    if ca_file is None:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        try:
            # Given a cafile, create_default_context loads only it, not the system store.
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load ca_file {ca_file}: {exc}",
                hint="point ca_file at a PEM file with the server's CA certificate",
            ) from exc
        _add_system_trust(ctx)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _add_system_trust(ctx: ssl.SSLContext) -> None:
    """What ``load_default_certs`` trusts, through hashed directories where that is the same.

    OpenSSL's defaults are a bundle file (``SSL_CERT_FILE`` or the built-in one) plus a
    directory (``SSL_CERT_DIR`` or the built-in one); ``get_default_verify_paths`` reads both
    variables. The built-in bundle is replaced by the built-in directory only when the
    bundle in use *is* the built-in one and the directory holds hash links.
    """
    paths = ssl.get_default_verify_paths()
    system_dir = paths.openssl_capath
    bundle_is_builtin = paths.cafile is None or _same_file(paths.cafile, paths.openssl_cafile)
    if not (bundle_is_builtin and _has_hash_links(system_dir)):
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return
    ctx.load_verify_locations(capath=system_dir)
    if paths.capath is not None and not _same_file(paths.capath, system_dir):
        ctx.load_verify_locations(capath=paths.capath)  # SSL_CERT_DIR, as OpenSSL adds it


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _has_hash_links(directory: str) -> bool:
    """True if ``directory`` holds OpenSSL ``<subject hash>.<n>`` names (``openssl rehash``)."""
    try:
        with os.scandir(directory) as entries:
            return any(_is_hash_name(entry.name) for entry in entries)
    except OSError:
        return False


def _is_hash_name(name: str) -> bool:
    stem, dot, n = name.partition(".")
    return (
        len(stem) == 8 and dot == "." and n.isdigit() and all(c in "0123456789abcdef" for c in stem)
    )
