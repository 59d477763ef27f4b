"""Outbox semantics of issue 10 against the real aiosmtpd: what counts as an attempt, the
unknown-outcome policy, errors that say the row is queued, retry now, the size caps, the
breaker's consecutive count, and the Sent copy repaired after a failure."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.smtpd import SmtpSink
from helpers.outbox import Clock, account, context, smtp_server, undelivered
from prx_email.config.model import SendSettings, UnknownOutcome
from prx_email.errors import (
    ConnectionFailed,
    EmailError,
    ErrorCode,
    InvalidArgument,
    InvalidState,
    SmtpPermanent,
    SmtpTransient,
)
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.outbox import OutboxRepo
from prx_email.types import OutboxStatus, OutgoingAttachment, OutgoingMessage

pytestmark = pytest.mark.integration


def msg(**kw: object) -> OutgoingMessage:
    base: dict[str, object] = {
        "account_id": 1,
        "to": ("bob@example.org",),
        "subject": "semantics",
        "body_text": "hello",
    }
    base.update(kw)
    return OutgoingMessage(**base)  # type: ignore[arg-type]


def settings(**kw: object) -> SendSettings:
    base: dict[str, object] = {"backoff_base_seconds": 1.0, "append_to_sent": False}
    base.update(kw)
    return SendSettings(**base)  # type: ignore[arg-type]


def closed_port_sink() -> SmtpSink:
    sink = SmtpSink(tls="none").start()
    sink.stop()  # nothing listens there now: connection refused
    return sink


def die_mid_send(ctx: ServiceContext, oid: int, clock: Clock, *, data: bool) -> None:
    """What a worker SIGKILLed after its claim (and, with ``data``, after DATA began) leaves."""
    repo = OutboxRepo(ctx.db)
    (row,) = repo.claim(
        token=secrets.token_hex(8), worker_id="dead", now=clock.now,
        lease_until=clock.now + 5, limit=1, ids=[oid],
    )  # fmt: skip
    if data:
        assert repo.mark_data(
            oid, row.token, attempt=row.attempt, now=clock.now, lease_until=clock.now + 5
        )
    clock.advance(10)  # the lease is over


# -- item 1: what counts as an attempt --------------------------------------------------------


async def test_refused_connections_cost_no_attempt_and_never_kill(tmp_path: Path, smtp_password):
    clock = Clock()
    sink = closed_port_sink()
    ctx = context(tmp_path / "db", account(sink, send=settings(max_attempts=2)), clock=clock)
    entry = await undelivered(ctx, outbox.send(ctx, msg()), ConnectionFailed)
    assert entry.status is OutboxStatus.FAILED and entry.attempts == 0
    for _ in range(5):  # far more tries than max_attempts
        clock.advance(3600)
        report = await outbox.drain_due(ctx)
        assert report.failed == 1 and report.dead == 0
    entry = outbox.get_entry(ctx, entry.id)
    assert entry.status is OutboxStatus.FAILED and entry.attempts == 0
    assert "no attempt counted" in (entry.last_error or "")


async def test_an_unreachable_server_is_tried_once_per_drain(tmp_path: Path, smtp_password):
    sink = closed_port_sink()
    # Due again at once: without the per-run skip the drain would spin on the dead server.
    ctx = context(tmp_path / "db", account(sink, send=settings(backoff_base_seconds=0.0001)))
    for _ in range(3):
        outbox.queue(ctx, msg())
    report = await outbox.drain_due(ctx)
    assert report.claimed == 3 and report.failed == 3


async def test_a_lease_lost_before_data_costs_nothing(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    down = context(tmp_path / "x", account(closed_port_sink(), send=settings(max_attempts=1)))
    up = context(tmp_path / "y", account(smtpd, send=settings(max_attempts=1)))
    ctx = context(tmp_path / "db", *down.config.accounts, clock=clock)
    oid = outbox.queue(ctx, msg())
    for _ in range(3):  # three workers died before DATA, the server was down meanwhile
        die_mid_send(ctx, oid, clock, data=False)
        report = await outbox.drain_due(ctx)
        assert report.requeued == 1 and report.failed == 1 and report.dead == 0
        assert outbox.get_entry(ctx, oid).attempts == 0
        clock.advance(3600)
    ctx.config = up.config
    report = await outbox.drain_due(ctx)
    entry = outbox.get_entry(ctx, oid)
    assert report.sent == 1 and entry.status is OutboxStatus.SENT and entry.attempts == 1
    assert smtpd.handler.count(entry.message_id) == 1


# -- items 2/3: DATA started, outcome unknown, no Sent evidence -------------------------------


async def test_unknown_outcome_resend_is_never_dead(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    ctx = context(tmp_path / "db", account(smtpd, send=settings(max_attempts=1)), clock=clock)
    oid = outbox.queue(ctx, msg())
    die_mid_send(ctx, oid, clock, data=True)  # its only attempt, maybe delivered
    report = await outbox.drain_due(ctx)
    entry = outbox.get_entry(ctx, oid)
    assert report.requeued == 1 and report.dead == 0
    assert entry.status is OutboxStatus.SENT  # sent again, same Message-ID
    assert smtpd.handler.count(entry.message_id) == 1


async def test_unknown_outcome_hold_parks_the_row_until_retry_now(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    send = settings(unknown_outcome=UnknownOutcome.HOLD)
    ctx = context(tmp_path / "db", account(smtpd, send=send), clock=clock)
    oid = outbox.queue(ctx, msg())
    die_mid_send(ctx, oid, clock, data=True)
    report = await outbox.drain_due(ctx)
    entry = outbox.get_entry(ctx, oid)
    assert report.held == 1 and entry.status is OutboxStatus.HELD and entry.attempts == 1
    assert "email.retry" in (entry.last_error or "")
    clock.advance(10 * 86400)
    assert (await outbox.drain_due(ctx)).claimed == 0  # held rows are not drained
    assert smtpd.received == []
    with pytest.raises(InvalidState) as info:
        await outbox.retry(ctx, oid)
    assert "now=true" in (info.value.hint or "")
    entry = await outbox.retry(ctx, oid, now=True)
    assert entry.status is OutboxStatus.SENT and entry.attempts == 2
    assert smtpd.handler.count(entry.message_id) == 1


# -- item 6: an undelivered send is an error; retry now ----------------------------------------


async def test_undelivered_send_raises_the_real_error_and_retry_now_delivers(
    smtpd: SmtpSink, tmp_path: Path
):
    clock = Clock()
    ctx = context(
        tmp_path / "db", account(smtpd, send=settings(backoff_base_seconds=600)), clock=clock
    )
    smtpd.handler.data_replies = ["451 4.3.0 try later"]
    with pytest.raises(SmtpTransient) as info:
        await outbox.send(ctx, msg())
    err = info.value
    assert err.code is ErrorCode.SMTP_TRANSIENT
    assert "451" in err.message and "queued as outbox row 1" in err.message
    assert "due at 2027-" in err.message
    assert "send-due" in (err.hint or "") and "now=true" in (err.hint or "")
    with pytest.raises(InvalidState) as not_due:
        await outbox.retry(ctx, 1)
    assert "not due until" in not_due.value.message and "now=true" in (not_due.value.hint or "")
    entry = await outbox.retry(ctx, 1, now=True)
    assert entry.status is OutboxStatus.SENT and entry.attempts == 2
    with pytest.raises(InvalidState):
        await outbox.retry(ctx, 1, now=True)  # sent: nothing to retry


# -- item 8: size caps ------------------------------------------------------------------------


async def test_a_60_mb_body_is_refused_before_anything_is_queued(smtpd: SmtpSink, tmp_path: Path):
    ctx = context(tmp_path / "db", account(smtpd, send=settings()))
    with pytest.raises(InvalidArgument) as info:
        await outbox.send(ctx, msg(body_text="x" * (60 * 1024 * 1024)))
    assert str(25 * 1024 * 1024) in info.value.message
    assert "max_message_bytes" in (info.value.hint or "")
    assert OutboxRepo(ctx.db).counts() == {}
    assert smtpd.handler.connections == 0


async def test_the_composed_size_counts_encoded_attachments(smtpd: SmtpSink, tmp_path: Path):
    import base64

    ctx = context(tmp_path / "db", account(smtpd, send=settings(max_message_bytes=4000)))
    data = base64.b64encode(b"\x00" * 2500).decode()  # 2500 bytes become ~3400 in base64
    with pytest.raises(InvalidArgument) as info:
        outbox.queue(
            ctx,
            msg(attachments=(OutgoingAttachment(source=_b64(data), filename="z.bin"),)),
        )
    assert "composed message" in info.value.message
    assert OutboxRepo(ctx.db).counts() == {}


def _b64(data: str) -> object:
    from prx_email.types import AttachmentBase64

    return AttachmentBase64(data=data)


class _SizedSink(SmtpSink):
    """Announces ``SIZE 2000`` in its EHLO."""

    def _factory(self):  # type: ignore[no-untyped-def]
        session = super()._factory()
        session.data_size_limit = 2000
        return session


async def test_the_servers_ehlo_size_is_respected(tmp_path: Path, smtp_password):
    sink = _SizedSink(tls="none").start()
    try:
        ctx = context(tmp_path / "db", account(sink))
        with pytest.raises(SmtpPermanent) as info:
            await outbox.send(ctx, msg(body_text="y" * 5000))
        assert "SIZE limit" in info.value.message and "2000" in info.value.message
        (entry,) = (e for e in [outbox.get_entry(ctx, 1)])
        assert entry.status is OutboxStatus.DEAD
        assert sink.handler.data_attempts == 0  # refused before MAIL FROM
        small = await outbox.send(ctx, msg(body_text="small"))
        assert small.status is OutboxStatus.SENT
    finally:
        sink.stop()


# -- item 4: the breaker counts consecutive failures only -------------------------------------


async def test_scattered_451s_never_open_the_circuit(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    send = settings(circuit_failures=2, backoff_base_seconds=0.5)
    ctx = context(tmp_path / "db", account(smtpd, send=send), clock=clock)
    for i in range(12):
        outbox.queue(ctx, msg(subject=f"m{i}"))
    # A 451 every third DATA: never two in a row.
    smtpd.handler.data_replies = ["451 4.3.0 busy", "", ""] * 4
    report = await outbox.drain_due(ctx)
    assert report.skipped_accounts == [] and report.failed == 4 and report.sent == 8
    clock.advance(10)
    report = await outbox.drain_due(ctx)
    assert report.skipped_accounts == [] and report.sent == 4
    row = ctx.db.connect().execute("SELECT count(*) FROM smtp_circuit").fetchone()
    assert row[0] == 0  # the last success cleared the count


# -- items 3/5: our Sent copy is pending until stored, and repaired ---------------------------


class _FakeSent:
    def __init__(self, *, broken: bool = False, has: bool = False) -> None:
        self.broken = broken
        self.has = has
        self.appended: list[bytes] = []
        self.lookups = 0

    async def append(self, account, raw):  # type: ignore[no-untyped-def]
        if self.broken:
            raise ConnectionFailed("imap down")
        self.appended.append(raw)

    async def contains(self, account, message_id):  # type: ignore[no-untyped-def]
        self.lookups += 1
        if self.broken:
            raise ConnectionFailed("imap down")
        return self.has or any(message_id.encode() in raw for raw in self.appended)

    async def close(self) -> None:
        pass


def _copy_pending(ctx: ServiceContext) -> list[int]:
    rows = ctx.db.connect().execute("SELECT id FROM outbox WHERE copy_pending = 1").fetchall()
    return [int(r[0]) for r in rows]


async def test_a_failed_sent_copy_is_repaired_once_by_the_next_drain(
    smtpd: SmtpSink, tmp_path: Path
):
    send = settings(append_to_sent=True, sent_folder="Sent")
    acc = replace(account(smtpd, send=send), imap=smtp_server(smtpd))  # the folder is the fake
    ctx = context(tmp_path / "db", acc)
    oid = outbox.queue(ctx, msg())
    report = await outbox.drain_due(ctx, sent_folder=_FakeSent(broken=True))
    assert report.sent == 1 and _copy_pending(ctx) == [oid]
    assert "retried by the next drain" in (outbox.get_entry(ctx, oid).last_error or "")
    good = _FakeSent()
    report = await outbox.drain_due(ctx, sent_folder=good)
    assert report.copies_repaired == 1 and len(good.appended) == 1 and _copy_pending(ctx) == []
    report = await outbox.drain_due(ctx, sent_folder=good)
    assert report.copies_repaired == 0 and len(good.appended) == 1
    assert smtpd.handler.count(outbox.get_entry(ctx, oid).message_id) == 1


async def test_a_copy_already_in_sent_is_not_appended_again(smtpd: SmtpSink, tmp_path: Path):
    send = settings(append_to_sent=True, sent_folder="Sent")
    acc = replace(account(smtpd, send=send), imap=smtp_server(smtpd))
    ctx = context(tmp_path / "db", acc)
    oid = outbox.queue(ctx, msg())
    await outbox.drain_due(ctx, sent_folder=_FakeSent(broken=True))
    already = _FakeSent(has=True)  # the APPEND went through before the kill
    report = await outbox.drain_due(ctx, sent_folder=already)
    assert report.copies_repaired == 0 and already.appended == [] and _copy_pending(ctx) == []
    assert outbox.get_entry(ctx, oid).status is OutboxStatus.SENT


async def test_server_files_sent_means_no_copy_of_our_own(smtpd: SmtpSink, tmp_path: Path):
    send = settings(append_to_sent=True, server_files_sent=True, sent_folder="Sent")
    acc = replace(account(smtpd, send=send), imap=smtp_server(smtpd))
    ctx = context(tmp_path / "db", acc)
    sent = _FakeSent()
    outbox.queue(ctx, msg())
    report = await outbox.drain_due(ctx, sent_folder=sent)
    assert report.sent == 1 and sent.appended == [] and _copy_pending(ctx) == []


async def test_without_evidence_recovery_does_not_look_in_sent(smtpd: SmtpSink, tmp_path: Path):
    """Our own copy is appended after the finalize: it can never settle an unknown outcome."""
    clock = Clock()
    send = settings(append_to_sent=True, sent_folder="Sent")
    acc = replace(account(smtpd, send=send), imap=smtp_server(smtpd))
    ctx = context(tmp_path / "db", acc, clock=clock)
    oid = outbox.queue(ctx, msg())
    die_mid_send(ctx, oid, clock, data=True)
    sent = _FakeSent(has=True)
    report = await outbox.drain_due(ctx, sent_folder=sent)
    assert report.recovered == 0 and report.requeued == 1 and report.sent == 1
    assert sent.lookups == 0  # the resend's copy was appended without a lookup
    assert len(sent.appended) == 1


async def test_send_error_names_the_row_for_every_undelivered_kind(tmp_path: Path, smtp_password):
    sink = closed_port_sink()
    ctx = context(tmp_path / "db", account(sink))
    with pytest.raises(EmailError) as info:
        await outbox.send(ctx, msg())
    assert info.value.code is ErrorCode.CONNECTION_FAILED
    assert "queued as outbox row 1" in info.value.message


async def test_no_sent_folder_at_all_is_noted_once_not_retried(smtpd: SmtpSink, tmp_path: Path):
    from prx_email.errors import ConfigError

    class NoFolder(_FakeSent):
        async def append(self, account, raw):  # type: ignore[no-untyped-def]
            self.appended.append(raw)
            raise ConfigError("the IMAP server has no Sent folder", hint="set sent_folder")

    acc = replace(account(smtpd, send=settings(append_to_sent=True)), imap=smtp_server(smtpd))
    ctx = context(tmp_path / "db", acc)
    oid = outbox.queue(ctx, msg())
    sent = NoFolder()
    assert (await outbox.drain_due(ctx, sent_folder=sent)).sent == 1
    await outbox.drain_due(ctx, sent_folder=sent)
    assert len(sent.appended) == 1 and _copy_pending(ctx) == []
    entry = outbox.get_entry(ctx, oid)
    assert entry.status is OutboxStatus.SENT and "no copy kept" in (entry.last_error or "")


class _DropAfterData:
    """A plaintext SMTP peer that takes the whole message and then hangs up without a reply
    (the outcome of that DATA is unknown to the client)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.messages = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                f.write(b"220 drop.test ESMTP\r\n")
                f.flush()
                in_data = False
                for line in f:
                    if in_data:
                        if line == b".\r\n":
                            self.messages += 1
                            break  # hang up: no reply to the end of DATA
                        continue
                    verb = line[:4].upper()
                    if verb == b"EHLO":
                        f.write(b"250-drop.test\r\n250 AUTH PLAIN\r\n")
                    elif verb == b"AUTH":
                        f.write(b"235 ok\r\n")
                    elif verb == b"DATA":
                        f.write(b"354 go\r\n")
                        in_data = True
                    elif verb == b"QUIT":
                        f.write(b"221 bye\r\n")
                        f.flush()
                        break
                    else:
                        f.write(b"250 ok\r\n")
                    f.flush()

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("policy", [UnknownOutcome.RESEND, UnknownOutcome.HOLD])
async def test_a_connection_lost_after_data_is_an_unknown_outcome_never_dead(
    tmp_path: Path, smtp_password: str, policy: UnknownOutcome
):
    peer = _DropAfterData()
    try:
        from fixtures.smtpd import PASSWORD_ENV, USER
        from prx_email.config.model import AccountConfig, PasswordAuth, ServerConfig, TlsMode

        server = ServerConfig(
            host="127.0.0.1", port=peer.port, tls=TlsMode.NONE, username=USER,
            auth=PasswordAuth(password_env=PASSWORD_ENV), timeout=2.0,
        )  # fmt: skip
        send = settings(max_attempts=1, unknown_outcome=policy)
        acc = AccountConfig(id=1, name="drop", address="me@example.com", smtp=server, send=send)
        ctx = context(tmp_path / "db", acc)
        entry = await undelivered(ctx, outbox.send(ctx, msg()))
        assert peer.messages == 1 and entry.attempts == 1
        if policy is UnknownOutcome.HOLD:
            assert entry.status is OutboxStatus.HELD
        else:  # due again at once, with the same Message-ID, although max_attempts = 1
            assert entry.status is OutboxStatus.FAILED and "sending again" in (
                entry.last_error or ""
            )
    finally:
        peer.close()


async def test_send_looks_the_account_up_once(smtpd: SmtpSink, tmp_path: Path):
    """Issue 9 item 5: one look-up per call, passed down (facade included)."""
    from prx_email.services.facade import Services

    calls: list[int] = []

    class Counting(ServiceContext):
        __slots__ = ()

        def account(self, account_id: int):  # type: ignore[no-untyped-def]
            calls.append(account_id)
            return ServiceContext.account(self, account_id)

    base = context(tmp_path / "db", account(smtpd))
    ctx = Counting(config=base.config, db=base.db)
    services = Services(ctx)
    try:
        assert services.send(msg()).status is OutboxStatus.SENT
    finally:
        services.close()
    assert calls == [1]
