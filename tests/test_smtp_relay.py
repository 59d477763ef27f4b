"""A loopback SMTP relay configured with no credential delivers through a real aiosmtpd.

The config goes through the real loader (issue 10 item 18): `[accounts.smtp]` to a
loopback host may omit password_env / password_file; the client then never sends AUTH.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.smtpd import SmtpSink
from prx_email.config.loader import parse_config
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.types import OutboxStatus, OutgoingMessage

pytestmark = pytest.mark.integration


@pytest.fixture
def relay() -> Iterator[SmtpSink]:
    """Loopback plaintext, no AUTH offered at all (a typical local MTA)."""
    sink = SmtpSink(tls="none", auth=False).start()
    try:
        yield sink
    finally:
        sink.stop()


def _context(tmp_path: Path, port: int, host: str = "127.0.0.1") -> ServiceContext:
    config = parse_config(
        f"""[[accounts]]
id = 1
address = "me@example.com"
[accounts.smtp]
host = "{host}"
port = {port}
tls = "none"
[accounts.send]
append_to_sent = false
"""
    )
    return ServiceContext(config=config, db=Database(tmp_path / "db"))


def _msg() -> OutgoingMessage:
    return OutgoingMessage(
        account_id=1, to=("Bob <bob@example.org>",), subject="via relay", body_text="hi"
    )


async def test_relay_without_auth_delivers(relay: SmtpSink, tmp_path: Path) -> None:
    entry = await outbox.send(_context(tmp_path, relay.port), _msg())
    assert entry.status is OutboxStatus.SENT
    (got,) = relay.received
    assert got.auth_user is None and got.rcpt_tos == ["bob@example.org"]
    assert got.message["Subject"] == "via relay"


async def test_relay_offering_auth_is_not_asked_to_authenticate(
    smtpd_plain: SmtpSink, tmp_path: Path
) -> None:
    # The relay advertises AUTH but accepts mail without it: we must not log in.
    entry = await outbox.send(_context(tmp_path, smtpd_plain.port, "localhost"), _msg())
    assert entry.status is OutboxStatus.SENT
    assert smtpd_plain.received[0].auth_user is None
    assert smtpd_plain.authenticator.attempts == 0  # type: ignore[attr-defined]
