"""email.send / reply / retry against a real aiosmtpd on 127.0.0.1 (STARTTLS + AUTH)."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from fixtures.smtpd import TOKEN, SmtpSink
from helpers.outbox import (
    ADDRESS,
    BearerProvider,
    Clock,
    account,
    context,
    smtp_server,
    undelivered,
)
from prx_email.config.model import AttachmentPolicy, SendSettings, TlsMode
from prx_email.errors import (
    AttachmentRejected,
    AuthFailed,
    CircuitOpen,
    ConfigError,
    InvalidArgument,
    InvalidState,
    NotFound,
    SmtpPermanent,
)
from prx_email.mail.parse import parse_message
from prx_email.services import outbox
from prx_email.services.circuit import CircuitSettings
from prx_email.store.messages import MessageStore, StoreItem
from prx_email.store.outbox import OutboxRepo
from prx_email.types import (
    AttachmentBase64,
    AttachmentPath,
    OutboxQuery,
    OutboxStatus,
    OutgoingAttachment,
    OutgoingMessage,
    ReplyRequest,
)

pytestmark = pytest.mark.integration


def msg(**kw: object) -> OutgoingMessage:
    base: dict[str, object] = {
        "account_id": 1,
        "to": ("Bob <bob@example.org>",),
        "subject": "Quarterly numbers",
        "body_text": "Hello Bob",
    }
    base.update(kw)
    return OutgoingMessage(**base)  # type: ignore[arg-type]


async def test_starttls_auth_delivery_exact_envelope_and_headers(smtpd: SmtpSink, tmp_path: Path):
    ctx = context(tmp_path / "db", account(smtpd))
    entry = await outbox.send(
        ctx,
        msg(
            to=("Bob <bob@example.org>", "carol@example.org"),
            cc=("Dave <dave@example.net>",),
            bcc=("hidden@example.com", "BOB@example.org"),
            body_html="<p>Hello <b>Bob</b></p>",
        ),
    )
    assert entry.status is OutboxStatus.SENT and entry.attempts == 1
    assert len(smtpd.received) == 1
    rec = smtpd.received[0]
    assert rec.tls and rec.auth_user == "sender@example.com"
    assert rec.mail_from == ADDRESS
    # Bcc in the envelope (deduplicated case-insensitively), never in the headers.
    assert rec.rcpt_tos == [
        "bob@example.org",
        "carol@example.org",
        "dave@example.net",
        "hidden@example.com",
    ]
    m = rec.message
    assert m["From"] == ADDRESS
    assert m["To"] == "Bob <bob@example.org>, carol@example.org"
    assert m["Cc"] == "Dave <dave@example.net>"
    assert m["Bcc"] is None and b"hidden@" not in rec.content
    assert m["Subject"] == "Quarterly numbers"
    assert m["Message-ID"] == entry.message_id and entry.message_id.endswith("@example.com>")
    assert m["Date"] and m["MIME-Version"] == "1.0"
    assert m.get_content_type() == "multipart/alternative"
    assert m.get_body(("plain",)).get_content().strip() == "Hello Bob"  # type: ignore[union-attr]
    assert "<b>Bob</b>" in m.get_body(("html",)).get_content()  # type: ignore[union-attr]
    attempts = OutboxRepo(ctx.db).attempts(entry.id)
    assert [a.attempt_key for a in attempts] == [f"outbox-{entry.id}-1"]
    assert attempts[0].outcome == "sent" and attempts[0].smtp_code == 250
    assert "queued" in (attempts[0].server_reply or "")


async def test_implicit_tls(smtpd_implicit: SmtpSink, tmp_path: Path):
    ctx = context(tmp_path / "db", account(smtpd_implicit))
    entry = await outbox.send(ctx, msg())
    assert entry.status is OutboxStatus.SENT
    assert smtpd_implicit.received[0].tls


async def test_plaintext_only_to_loopback(smtpd_plain: SmtpSink, tmp_path: Path):
    ctx = context(tmp_path / "db", account(smtpd_plain))
    assert (await outbox.send(ctx, msg())).status is OutboxStatus.SENT
    assert not smtpd_plain.received[0].tls


async def test_plaintext_to_remote_host_is_refused(smtpd_plain: SmtpSink, tmp_path: Path):
    from dataclasses import replace

    acc = account(smtpd_plain)
    assert acc.smtp is not None
    acc = replace(acc, smtp=replace(acc.smtp, host="smtp.example.com", tls=TlsMode.NONE))
    ctx = context(tmp_path / "db", acc)
    entry = await undelivered(ctx, outbox.send(ctx, msg()))
    # Queued, not delivered, and the reason says why; nothing reached any server.
    assert entry.status is OutboxStatus.FAILED
    assert "plaintext" in (entry.last_error or "")
    assert smtpd_plain.received == []


async def test_attachments_bytes_and_rfc2231_filename(smtpd: SmtpSink, tmp_path: Path):
    root = tmp_path / "files"
    root.mkdir()
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    (root / "report.pdf").write_bytes(pdf)
    inline = "naïve data ✓".encode()
    ctx = context(tmp_path / "db", account(smtpd), attachments=AttachmentPolicy(root=root))
    await outbox.send(
        ctx,
        msg(
            attachments=(
                OutgoingAttachment(AttachmentPath("report.pdf")),
                OutgoingAttachment(
                    AttachmentBase64(base64.b64encode(inline).decode()),
                    filename="résumé notes.txt",
                    content_type="text/plain",
                ),
            )
        ),
    )
    m = smtpd.received[0].message
    assert m.get_content_type() == "multipart/mixed"
    atts = list(m.iter_attachments())
    assert [a.get_filename() for a in atts] == ["report.pdf", "résumé notes.txt"]
    assert atts[0].get_content_type() == "application/pdf"
    assert atts[0].get_payload(decode=True) == pdf
    assert atts[1].get_payload(decode=True) == inline
    assert "filename*=utf-8''r%C3%A9sum%C3%A9%20notes.txt" in smtpd.received[0].content.decode()
    assert atts[0]["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (AttachmentPath("../secret.txt"), AttachmentRejected),
        (AttachmentPath("/etc/passwd"), AttachmentRejected),
        (AttachmentPath("link.txt"), AttachmentRejected),  # symlink escaping the root
        (AttachmentPath("big.bin"), AttachmentRejected),
        (AttachmentPath("prog.exe"), AttachmentRejected),  # type not allowed
        (AttachmentBase64("not base64!!"), InvalidArgument),
        (AttachmentBase64(base64.b64encode(b"x" * 2048).decode()), AttachmentRejected),
    ],
)
async def test_attachment_policy(smtpd: SmtpSink, tmp_path: Path, source, error):
    root = tmp_path / "files"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    (root / "big.bin").write_bytes(b"x" * 2048)
    (root / "prog.exe").write_bytes(b"MZ")
    policy = AttachmentPolicy(
        root=root, max_bytes=1024, allowed_types=("text/*", "application/octet-stream")
    )
    ctx = context(tmp_path / "db", account(smtpd), attachments=policy)
    with pytest.raises(error):
        await outbox.send(ctx, msg(attachments=(OutgoingAttachment(source),)))
    assert smtpd.received == []
    assert OutboxRepo(ctx.db).counts() == {}  # nothing queued


@pytest.mark.parametrize(
    "bad",
    [
        {"to": ("bob@example.org\r\nBcc: eve@evil.example",)},
        {"to": ("Bob <bob@example.org>, Eve <eve@evil.example>",)},
        {"to": ('"eve@evil.example" <bob@example.org>',)},
        {"to": ("not-an-address",)},
        {"cc": ("a@b@c",)},
        {"to": (), "cc": (), "bcc": ()},
        {"subject": "hi\r\nBcc: eve@evil.example"},
        {"body_text": None, "body_html": None},
        {"body_text": "  "},
        {"to": tuple(f"u{i}@example.org" for i in range(60)), "bcc": ("x@example.org",) * 41},
    ],
)
async def test_validation_rejects_before_queueing(smtpd: SmtpSink, tmp_path: Path, bad):
    ctx = context(tmp_path / "db", account(smtpd))
    with pytest.raises(InvalidArgument):
        await outbox.send(ctx, msg(**bad))
    assert smtpd.received == [] and OutboxRepo(ctx.db).counts() == {}


async def test_unknown_account(smtpd: SmtpSink, tmp_path: Path):
    from prx_email.errors import AccountNotFound

    ctx = context(tmp_path / "db", account(smtpd))
    with pytest.raises(AccountNotFound):
        await outbox.send(ctx, msg(account_id=9))


async def test_4xx_then_success_delivers_exactly_once(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    ctx = context(tmp_path / "db", account(smtpd), clock=clock)
    smtpd.handler.data_replies = ["451 4.3.0 Temporary local problem"]
    entry = await undelivered(ctx, outbox.send(ctx, msg()))
    assert entry.status is OutboxStatus.FAILED and entry.attempts == 1
    assert "451" in (entry.last_error or "")
    assert entry.next_attempt_at == int(clock.now + 1)
    assert smtpd.received == []
    # Not due yet: retry refuses with the due time; drain does nothing.
    with pytest.raises(InvalidState) as exc:
        await outbox.retry(ctx, entry.id)
    assert "due at" in (exc.value.hint or "")
    assert (await outbox.drain_due(ctx)).claimed == 0
    clock.advance(1)
    entry = await outbox.retry(ctx, entry.id)
    assert entry.status is OutboxStatus.SENT and entry.attempts == 2
    assert smtpd.handler.count(entry.message_id) == 1
    assert smtpd.handler.data_attempts == 2
    # Same bytes, same Message-ID on the retry.
    assert smtpd.received[0].message_id == entry.message_id
    keys = [a.attempt_key for a in OutboxRepo(ctx.db).attempts(entry.id)]
    assert keys == [f"outbox-{entry.id}-1", f"outbox-{entry.id}-2"]
    with pytest.raises(InvalidState) as exc:
        await outbox.retry(ctx, entry.id)
    assert "sent" in exc.value.message
    clock.advance(3600)
    assert (await outbox.drain_due(ctx)).claimed == 0
    assert smtpd.handler.count(entry.message_id) == 1


async def test_5xx_is_dead_and_never_retried(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    ctx = context(tmp_path / "db", account(smtpd), clock=clock)
    smtpd.handler.data_replies = ["554 5.7.1 Message rejected as spam"]
    with pytest.raises(SmtpPermanent) as exc:
        await outbox.send(ctx, msg())
    assert "554" in exc.value.message and "spam" in exc.value.message
    page = outbox.list_outbox(ctx, OutboxQuery(status=OutboxStatus.DEAD))
    (entry,) = page.entries
    assert "554 5.7.1 Message rejected as spam" in (entry.last_error or "")
    clock.advance(10_000)
    assert (await outbox.drain_due(ctx)).claimed == 0
    with pytest.raises(InvalidState):
        await outbox.retry(ctx, entry.id)
    assert smtpd.handler.data_attempts == 1 and smtpd.received == []


async def test_attempts_exhausted_goes_dead(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    send = SendSettings(max_attempts=3, backoff_base_seconds=1.0, append_to_sent=False)
    ctx = context(tmp_path / "db", account(smtpd, send=send), clock=clock)
    smtpd.handler.data_replies = ["421 4.4.2 busy"] * 3
    entry = await undelivered(ctx, outbox.send(ctx, msg()))
    for _ in range(2):
        clock.advance(10)
        await outbox.drain_due(ctx)
    entry = outbox.get_entry(ctx, entry.id)
    assert entry.status is OutboxStatus.DEAD and entry.attempts == 3
    assert "gave up after 3 attempts" in (entry.last_error or "")


async def test_recipient_refusals(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    ctx = context(tmp_path / "db", account(smtpd), clock=clock)
    smtpd.handler.rcpt_replies = {
        "gone@example.org": "550 5.1.1 No such user",
        "full@example.org": "452 4.2.2 Mailbox full",
    }
    entry = await outbox.send(
        ctx, msg(to=("bob@example.org", "gone@example.org", "full@example.org"))
    )
    # Delivered to bob; the deferred recipient is retried alone, the unknown one dropped.
    assert entry.status is OutboxStatus.FAILED
    assert smtpd.received[0].rcpt_tos == ["bob@example.org"]
    assert "gone@example.org: 550" in (entry.last_error or "")
    del smtpd.handler.rcpt_replies["full@example.org"]
    clock.advance(5)
    await outbox.drain_due(ctx)
    entry = outbox.get_entry(ctx, entry.id)
    assert entry.status is OutboxStatus.SENT
    assert [r.rcpt_tos for r in smtpd.received] == [["bob@example.org"], ["full@example.org"]]
    assert smtpd.handler.count(entry.message_id) == 2  # one copy per recipient, same message

    smtpd.handler.rcpt_replies = {"gone@example.org": "550 5.1.1 No such user"}
    with pytest.raises(SmtpPermanent) as exc:
        await outbox.send(ctx, msg(to=("gone@example.org",)))
    assert "550 5.1.1" in exc.value.message


async def test_wrong_password_is_auth_failure_not_delivery(
    smtpd: SmtpSink, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("PRX_TEST_SMTP_PASSWORD", "wrong")
    ctx = context(tmp_path / "db", account(smtpd))
    entry = await undelivered(ctx, outbox.send(ctx, msg()))
    assert entry.status is OutboxStatus.FAILED
    assert "authentication failed" in (entry.last_error or "")
    assert "wrong" not in (entry.last_error or "")
    assert smtpd.received == []


async def test_xoauth2_with_one_refresh_on_rejection(smtpd: SmtpSink, tmp_path: Path):
    provider = BearerProvider(["expired-token", TOKEN])
    ctx = context(tmp_path / "db", account(smtpd), credentials=provider)
    entry = await outbox.send(ctx, msg())
    assert entry.status is OutboxStatus.SENT
    assert provider.rejections == 1 and smtpd.handler.xoauth2_attempts == 2
    assert smtpd.received[0].auth_user == "sender@example.com"

    bad = BearerProvider(["revoked"])
    ctx2 = context(tmp_path / "db2", account(smtpd), credentials=bad)
    entry = await undelivered(ctx2, outbox.send(ctx2, msg()))
    assert entry.status is OutboxStatus.FAILED and bad.rejections == 1
    assert "revoked" not in (entry.last_error or "")


async def test_circuit_opens_fails_fast_and_half_open_probe(tmp_path: Path, smtp_password: str):
    clock = Clock()
    sink = SmtpSink(tls="none").start()
    port = sink.port
    sink.stop()  # nothing listens there now: connection refused
    acc = account(sink)
    assert acc.smtp is not None and acc.smtp.port == port
    ctx = context(tmp_path / "db", acc, clock=clock)
    settings = CircuitSettings()  # what send() uses: 5 failures, 60 s cooldown
    first = await undelivered(ctx, outbox.send(ctx, msg()))
    assert first.status is OutboxStatus.FAILED
    for _ in range(settings.threshold - 1):
        clock.advance(20)
        report = await outbox.drain_due(ctx, circuit=settings)
        assert report.failed == 1
    # Open now: a send fails fast and queues nothing.
    with pytest.raises(CircuitOpen) as exc:
        await outbox.send(ctx, msg())
    assert "sending resumes after" in (exc.value.hint or "")
    assert OutboxRepo(ctx.db).counts() == {"failed": 1}
    clock.advance(20)
    assert (await outbox.drain_due(ctx, circuit=settings)).skipped_accounts == [1]
    # After the cooldown a server is back: the half-open probe succeeds and closes it.
    sink2 = SmtpSink(tls="none").start()
    try:
        ctx.config = context(tmp_path / "db", account(sink2), clock=clock).config
        clock.advance(120)
        report = await outbox.drain_due(ctx, circuit=settings)
        assert report.sent == 1
        assert (await outbox.send(ctx, msg())).status is OutboxStatus.SENT
        assert len(sink2.received) == 2
    finally:
        sink2.stop()


async def test_circuit_threshold_and_cooldown_come_from_the_account(
    tmp_path: Path, smtp_password: str
):
    """``[accounts.send] circuit_failures``/``circuit_cooldown_seconds``, per account."""
    clock = Clock()
    sink = SmtpSink(tls="none").start()
    sink.stop()  # connection refused from now on
    send = SendSettings(
        backoff_base_seconds=1.0,
        append_to_sent=False,
        circuit_failures=2,
        circuit_cooldown_seconds=10.0,
    )
    strict = account(sink, send=send)
    lenient = account(sink, id=2, address="other@example.com")  # the defaults: 5 failures
    ctx = context(tmp_path / "db", strict, lenient, clock=clock)
    assert (await undelivered(ctx, outbox.send(ctx, msg()))).status is OutboxStatus.FAILED
    assert (
        await undelivered(ctx, outbox.send(ctx, msg(account_id=2)))
    ).status is OutboxStatus.FAILED
    clock.advance(5)
    report = await outbox.drain_due(ctx)
    assert report.failed == 2
    # Two failures open account 1's circuit; account 2 keeps trying (threshold 5).
    with pytest.raises(CircuitOpen) as exc:
        await outbox.send(ctx, msg())
    assert "after 2 consecutive failures" in exc.value.message
    assert "in 10s" in (exc.value.hint or "")
    entry = await undelivered(ctx, outbox.send(ctx, msg(account_id=2)))
    assert entry.status is OutboxStatus.FAILED
    clock.advance(5)
    assert (await outbox.drain_due(ctx)).skipped_accounts == [1]
    # The configured 10 s cooldown (not the default 60 s) lets a probe through.
    sink2 = SmtpSink(tls="none").start()
    try:
        ctx.config = context(
            tmp_path / "db", account(sink2, send=send), account(sink2, id=2), clock=clock
        ).config
        clock.advance(6)
        report = await outbox.drain_due(ctx)
        assert report.skipped_accounts == [] and report.sent == 3
        assert (await outbox.send(ctx, msg())).status is OutboxStatus.SENT
    finally:
        sink2.stop()


def store_parent(ctx, raw: bytes, uid: int = 7) -> int:
    parsed = parse_message(raw)
    store = MessageStore(ctx.db)
    store.upsert_many(1, "INBOX", 1, [StoreItem(uid=uid, flags=(), size=len(raw), parsed=parsed)])
    row = ctx.db.connect().execute("SELECT id FROM messages WHERE uid = ?", (uid,)).fetchone()
    return int(row[0])


PARENT = (
    b"From: Alice <alice@example.org>\r\n"
    b"Reply-To: Team <team@example.org>\r\n"
    b"To: me@example.com, Bob <bob@example.org>\r\n"
    b"Cc: carol@example.org, ME@example.com\r\n"
    b"Subject: RE: AW: Re[2]: Budget\r\n"
    b"Message-ID: <p3@example.org>\r\n"
    b"In-Reply-To: <p2@example.org>\r\n"
    b"References: <p1@example.org> <p2@example.org>\r\n"
    b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"What do you think?\r\n"
)


async def test_reply_threading_and_recipients(smtpd: SmtpSink, tmp_path: Path):
    ctx = context(tmp_path / "db", account(smtpd))
    key = store_parent(ctx, PARENT)
    entry = await outbox.reply(ctx, ReplyRequest(account_id=1, message=key, body_text="Fine."))
    m = smtpd.received[0].message
    assert m["Subject"] == "Re: Budget"
    assert m["In-Reply-To"] == "<p3@example.org>"
    assert m["References"] == "<p1@example.org> <p2@example.org> <p3@example.org>"
    assert m["To"] == "Team <team@example.org>" and m["Cc"] is None
    assert smtpd.received[0].rcpt_tos == ["team@example.org"]
    assert entry.status is OutboxStatus.SENT

    await outbox.reply(
        ctx, ReplyRequest(account_id=1, message=key, body_html="<p>ok</p>", reply_all=True)
    )
    m2 = smtpd.received[1].message
    assert m2["To"] == "Team <team@example.org>"
    assert m2["Cc"] == "Bob <bob@example.org>, carol@example.org"  # minus our own address
    assert smtpd.received[1].rcpt_tos == [
        "team@example.org",
        "bob@example.org",
        "carol@example.org",
    ]


async def test_reply_to_a_subject_with_control_characters(smtpd: SmtpSink, tmp_path: Path):
    """A sender's subject may hold control characters (an encoded word can carry any); the
    reply's derived subject has them as spaces rather than refusing the agent's reply."""
    ctx = context(tmp_path / "db", account(smtpd))
    raw = PARENT.replace(
        b"Subject: RE: AW: Re[2]: Budget", b"Subject: =?utf-8?q?Budget=07_Q3=0Bplan?="
    )
    key = store_parent(ctx, raw)
    entry = await outbox.reply(ctx, ReplyRequest(account_id=1, message=key, body_text="Fine."))
    assert entry.status is OutboxStatus.SENT
    assert smtpd.received[0].message["Subject"] == "Re: Budget  Q3 plan"


async def test_reply_errors(smtpd: SmtpSink, tmp_path: Path):
    from prx_email.errors import AccountNotFound

    ctx = context(tmp_path / "db", account(smtpd))
    with pytest.raises(NotFound):
        await outbox.reply(ctx, ReplyRequest(account_id=1, message=12345, body_text="x"))
    with pytest.raises(AccountNotFound):
        await outbox.reply(ctx, ReplyRequest(account_id=2, message=1, body_text="x"))
    assert smtpd.received == []


async def test_retry_errors_and_listing(smtpd: SmtpSink, tmp_path: Path):
    clock = Clock()
    ctx = context(tmp_path / "db", account(smtpd), clock=clock)
    with pytest.raises(NotFound):
        await outbox.retry(ctx, 99)
    ids = []
    for i in range(5):
        ids.append((await outbox.send(ctx, msg(subject=f"m{i}"))).id)
        clock.advance(1)
    smtpd.handler.data_replies = ["450 4.2.0 later"]
    failed = await undelivered(ctx, outbox.send(ctx, msg(subject="later")))
    page = outbox.list_outbox(ctx, OutboxQuery(limit=2))
    assert [e.subject for e in page.entries] == ["later", "m4"]
    seen = [e.subject for e in page.entries]
    while page.next_cursor:
        page = outbox.list_outbox(ctx, OutboxQuery(limit=2, cursor=page.next_cursor))
        seen += [e.subject for e in page.entries]
    assert seen == ["later", "m4", "m3", "m2", "m1", "m0"]
    failed_page = outbox.list_outbox(ctx, OutboxQuery(status=OutboxStatus.FAILED, account_id=1))
    assert [e.id for e in failed_page.entries] == [failed.id]
    with pytest.raises(InvalidArgument):
        outbox.list_outbox(ctx, OutboxQuery(cursor="garbage"))
    with pytest.raises(InvalidState) as exc:
        await outbox.retry(ctx, ids[0])
    assert "sent" in exc.value.message


async def test_sent_folder_append_failure_keeps_message_sent(smtpd: SmtpSink, tmp_path: Path):
    class BrokenSent:
        appended = 0

        async def append(self, account, raw):
            from prx_email.errors import ConnectionFailed

            raise ConnectionFailed("imap down")

        async def contains(self, account, message_id):
            return False

        async def close(self):
            pass

    from dataclasses import replace

    acc = account(smtpd, send=SendSettings(append_to_sent=True, sent_folder="Sent"))
    acc = replace(acc, imap=smtp_server(smtpd))  # any IMAP config; the folder is the fake
    ctx = context(tmp_path / "db", acc)
    outbox.queue(ctx, msg())
    report = await outbox.drain_due(ctx, sent_folder=BrokenSent())
    assert report.sent == 1
    (entry,) = outbox.list_outbox(ctx, OutboxQuery()).entries
    assert entry.status is OutboxStatus.SENT
    assert "copy to the Sent folder failed" in (entry.last_error or "")


def test_schema_check_constraint(tmp_path: Path, smtp_password: str):
    ctx = context(tmp_path / "db")
    with pytest.raises(sqlite3.IntegrityError):
        ctx.db.connect().execute(
            "INSERT INTO outbox (account_id, status, message_id, subject, sender, recipients,"
            " all_recipients, raw, max_attempts, created_at, updated_at)"
            " VALUES (1, 'bogus', '<x@y>', '', '', '[]', '[]', x'', 1, 0, 0)"
        )


async def test_missing_smtp_config(tmp_path: Path, smtpd: SmtpSink):
    from dataclasses import replace

    ctx = context(tmp_path / "db", replace(account(smtpd), smtp=None))
    with pytest.raises(ConfigError):
        await outbox.send(ctx, msg())


async def test_auth_failed_is_never_leaking_password(smtpd: SmtpSink, tmp_path: Path, capfd):
    ctx = context(tmp_path / "db", account(smtpd), credentials=BearerProvider(["tok-SECRET"]))
    entry = await undelivered(ctx, outbox.send(ctx, msg()))
    assert entry.status is OutboxStatus.FAILED
    out = capfd.readouterr()
    assert "tok-SECRET" not in out.out + out.err + (entry.last_error or "")
    _ = AuthFailed
