"""The client TLS context: ``ca_file`` adds a private CA and the system trust stays.

Every verification here is a real TLS handshake in memory (``ssl.MemoryBIO``) against a
server certificate from a trustme CA. The "system" CAs are made at test time too and put in
an OpenSSL hashed directory (``<subject hash>.0``) or a bundle file.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
import trustme
from prx_email.errors import ConfigError
from prx_email.mail import _tls
from prx_email.mail._tls import tls_context

HOST = "mail.example.test"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl rehash")


def _handshake(client_ctx: ssl.SSLContext, ca: trustme.CA) -> None:
    """A TLS handshake with a server whose certificate ``ca`` issued; raises on failure."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server_ctx)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=HOST)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def _pem(ca: trustme.CA, path: Path) -> Path:
    ca.cert_pem.write_to_path(str(path))
    return path


def _hashed_dir(ca: trustme.CA, directory: Path) -> Path:
    """``directory`` holding ``ca`` under its OpenSSL subject-hash name, as ``openssl rehash``."""
    directory.mkdir()
    pem = _pem(ca, directory / "system-ca.pem")
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(pem)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (directory / f"{subject_hash}.0").symlink_to(pem.name)
    return directory


def _ders(ctx: ssl.SSLContext) -> list[bytes]:
    return ctx.get_ca_certs(binary_form=True)


def _der(ca: trustme.CA) -> bytes:
    return ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())


@pytest.fixture
def private_ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    return ca, _pem(ca, tmp_path / "private-ca.pem")


def test_ca_file_is_added_to_the_system_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_ca: tuple[trustme.CA, Path]
) -> None:
    private, ca_file = private_ca
    system = trustme.CA()
    monkeypatch.setenv("SSL_CERT_DIR", str(_hashed_dir(system, tmp_path / "certs")))

    ctx = tls_context(ca_file)

    assert _der(private) in _ders(ctx)
    _handshake(ctx, private)
    _handshake(ctx, system)  # the system store, found through SSL_CERT_DIR
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(ctx, trustme.CA())
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2


def _paths(
    cafile: Path | None, capath: Path | None, builtin_file: Path, builtin_dir: Path
) -> ssl.DefaultVerifyPaths:
    """What ``ssl.get_default_verify_paths`` answers; ``None`` where a path does not exist."""
    return ssl.DefaultVerifyPaths(
        str(cafile) if cafile else None,  # type: ignore[arg-type]  # typeshed says str
        str(capath) if capath else None,  # type: ignore[arg-type]
        "SSL_CERT_FILE",
        str(builtin_file),
        "SSL_CERT_DIR",
        str(builtin_dir),
    )


def test_builtin_bundle_is_not_parsed_when_its_directory_is_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_ca: tuple[trustme.CA, Path]
) -> None:
    private, ca_file = private_ca
    system = trustme.CA()
    bundle = _pem(system, tmp_path / "bundle.pem")  # the same CA as the hashed directory
    certs = _hashed_dir(system, tmp_path / "certs")
    paths = _paths(bundle, None, bundle, certs)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)

    ctx = tls_context(ca_file)

    # Only the private CA was parsed up front; the system one is loaded at verification.
    assert _ders(ctx) == [_der(private)]
    _handshake(ctx, system)
    _handshake(ctx, private)
    assert _der(system) in _ders(ctx)


def test_custom_ssl_cert_file_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_ca: tuple[trustme.CA, Path]
) -> None:
    private, ca_file = private_ca
    corporate = trustme.CA()
    monkeypatch.setenv("SSL_CERT_FILE", str(_pem(corporate, tmp_path / "corporate.pem")))

    ctx = tls_context(ca_file)

    assert {_der(private), _der(corporate)} <= set(_ders(ctx))
    _handshake(ctx, corporate)
    _handshake(ctx, private)


def test_no_hash_links_falls_back_to_the_default_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_ca: tuple[trustme.CA, Path]
) -> None:
    private, ca_file = private_ca
    system = trustme.CA()
    bundle = _pem(system, tmp_path / "bundle.pem")
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    _pem(system, plain_dir / "system-ca.pem")  # a certificate, but no hash link to it
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # what load_default_certs reads
    paths = _paths(bundle, None, bundle, plain_dir)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)

    ctx = tls_context(ca_file)

    assert {_der(private), _der(system)} <= set(_ders(ctx))
    _handshake(ctx, system)


def test_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="cannot load ca_file"):
        tls_context(bad)
    with pytest.raises(ConfigError, match="cannot load ca_file"):
        tls_context(tmp_path / "missing.pem")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("002c0b4f.0", True),
        ("002c0b4f.12", True),
        ("002c0b4f.r0", False),  # a CRL link, not a certificate
        ("002C0B4F.0", False),
        ("ca-certificates.crt", False),
        ("002c0b4f", False),
    ],
)
def test_hash_link_names(name: str, expected: bool) -> None:
    assert _tls._is_hash_name(name) is expected
