"""Connections are released before our close/abort returns — on success, refusal and TLS failure.

Each test records the sockets our clients open (a wrapper around the running loop's
``create_connection``) and checks they are closed the moment the awaited call returns, with
no ``sleep`` or ``gc.collect`` in between: a transport still closing when the loop ends is
the ``ResourceWarning: unclosed transport`` that warnings-as-errors turns into a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import trustme
from fixtures.dovecot import DovecotServer, account
from fixtures.smtpd import SmtpSink
from helpers.outbox import account as smtp_account
from prx_email.auth.credentials import Password, StaticCredentialProvider
from prx_email.config.model import PasswordAuth, TlsMode
from prx_email.errors import AuthFailed, TlsFailed
from prx_email.mail.errors import map_imap_errors
from prx_email.mail.imap import connect
from prx_email.mail.smtp import SmtpConnection

pytestmark = pytest.mark.integration


def track_sockets(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    loop = asyncio.get_running_loop()
    real = loop.create_connection
    socks: list[Any] = []

    async def create_connection(*args: Any, **kw: Any) -> Any:
        transport, protocol = await real(*args, **kw)
        socks.append(transport.get_extra_info("socket"))
        return transport, protocol

    monkeypatch.setattr(loop, "create_connection", create_connection)
    return socks


def all_closed(socks: list[Any]) -> bool:
    assert socks, "no connection was made"
    return all(s.fileno() == -1 for s in socks)


async def test_imap_logout_releases_the_socket(dovecot: DovecotServer, monkeypatch) -> None:
    socks = track_sockets(monkeypatch)
    imap = account(dovecot).imap
    assert imap is not None
    client = await connect(imap, Password(dovecot.user, dovecot.password))
    assert not all_closed(socks)
    await client.logout()
    assert all_closed(socks)


@pytest.mark.parametrize("tls", [TlsMode.IMPLICIT, TlsMode.STARTTLS])
async def test_imap_refused_login_releases_the_socket(
    dovecot: DovecotServer, monkeypatch, tls: TlsMode
) -> None:
    socks = track_sockets(monkeypatch)
    imap = account(dovecot, tls=tls).imap
    assert imap is not None
    with pytest.raises(AuthFailed), map_imap_errors(imap.host, imap.port):
        await connect(imap, Password(dovecot.user, "wrong"))
    assert all_closed(socks)


async def test_imap_starttls_failure_releases_the_socket(
    dovecot: DovecotServer, monkeypatch, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))  # not the CA of Dovecot's certificate
    socks = track_sockets(monkeypatch)
    imap = account(dovecot, tls=TlsMode.STARTTLS, ca_file=other_ca).imap
    assert imap is not None
    with pytest.raises(TlsFailed), map_imap_errors(imap.host, imap.port):
        await connect(imap, Password(dovecot.user, dovecot.password))
    assert all_closed(socks)


async def test_smtp_close_and_abort_release_the_socket(smtpd: SmtpSink, monkeypatch) -> None:
    socks = track_sockets(monkeypatch)
    conn = SmtpConnection(smtp_account(smtpd), StaticCredentialProvider())
    await conn.connect()
    await conn.close()
    assert len(socks) == 1 and all_closed(socks)
    await conn.connect()
    await conn.abort()
    assert len(socks) == 2 and all_closed(socks)


async def test_smtp_refused_login_releases_the_socket(smtpd: SmtpSink, monkeypatch) -> None:
    monkeypatch.setenv("PRX_TEST_WRONG_PW", "wrong")
    acc = smtp_account(smtpd)
    assert acc.smtp is not None
    bad = dataclasses.replace(acc.smtp, auth=PasswordAuth(password_env="PRX_TEST_WRONG_PW"))
    socks = track_sockets(monkeypatch)
    conn = SmtpConnection(dataclasses.replace(acc, smtp=bad), StaticCredentialProvider())
    with pytest.raises(AuthFailed):
        await conn.connect()
    assert all_closed(socks)
