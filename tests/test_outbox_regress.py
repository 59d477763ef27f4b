"""Regressions for the outbox items of issue 10, against the real CLI and real servers.

Each test names the item it pins. The drainers are real ``prx-email send-due`` processes
reading a real TOML config; the SMTP server is the in-process aiosmtpd of
tests/fixtures/smtpd.py, the IMAP server the test Dovecot.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import free_port
from fixtures.smtpd import SmtpSink
from helpers.chaos import (
    IMAP_PASSWORD_ENV,
    AppendGate,
    Run,
    SilentListener,
    call,
    imap_table,
    kill,
    queue,
    rows,
    send_due,
    sent_copies,
    spawn_send_due,
    wait_for_leases,
    write_config,
)
from prx_email.api import load_config
from prx_email.errors import EmailError
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.db import Database
from prx_email.store.outbox import OutboxRepo
from prx_email.types import OutgoingMessage

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def statuses(db: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows(db):
        out[r.status] = out.get(r.status, 0) + 1
    return out


def drain_until_settled(db: Path, config: Path, *, runs: int = 5) -> list[dict[str, Any]]:
    """Run ``send-due`` until no row is pending/failed/sending (or ``runs`` runs)."""
    reports = []
    for _ in range(runs):
        wait_for_leases(db)
        reports.append(send_due(db, config).report())
        if not {"pending", "failed", "sending"} & set(statuses(db)):
            break
        time.sleep(0.3)
    return reports


@pytest.fixture
def filing_smtpd(smtpd: SmtpSink, dovecot: Any, monkeypatch: pytest.MonkeyPatch) -> SmtpSink:
    """The SMTP server files every accepted message into Dovecot's Sent (like Gmail)."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    dovecot.create_folder("Sent")
    smtpd.handler.on_accept = lambda rec: dovecot.add_messages(
        [rec.content], folder="Sent", flags="S"
    )
    return smtpd


# -- item 1: kills before the greeting burn no attempts ------------------------------------


def test_item1_kills_before_the_greeting_never_make_rows_dead(
    smtp_password: str, tmp_path: Path
) -> None:
    port = free_port()
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=port,
        smtp_timeout=3.0,
        send={"lease_seconds": 1.0, "backoff_base_seconds": 0.01},
    )
    ids = queue(cfg, db, 3)  # nothing listens on the port yet
    assert [(r.status, r.attempts) for r in rows(db)] == [("pending", 0)] * 3

    silent = SilentListener(port)
    try:
        for n in range(1, 6):
            start = time.monotonic()
            proc = spawn_send_due(db, cfg)
            deadline = start + 30
            while silent.accepted < n:  # it has connected and waits for a greeting
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "send-due never connected"
                time.sleep(0.01)
            time.sleep(max(0.0, start + 1.0 - time.monotonic()))
            assert kill(proc), "send-due ended before the kill"
            wait_for_leases(db)
        assert silent.accepted == 5
        after_kills = rows(db)
        assert [r.status for r in after_kills if r.status == "dead"] == []
        assert [r.attempts for r in after_kills] == [0, 0, 0], after_kills

        # The next run waits for the greeting until the timeout: still no attempt, no dead.
        send_due(db, cfg)
        after = rows(db)
        assert all(r.status in ("pending", "failed") for r in after), after
        assert [r.attempts for r in after] == [0, 0, 0], after
    finally:
        silent.close()

    sink = SmtpSink(tls="none", port=port).start()
    try:
        drain_until_settled(db, cfg)
        assert statuses(db) == {"sent": 3}, rows(db)
        assert sink.handler.counts() == dict.fromkeys(ids, 1)
        assert [r.attempts for r in rows(db)] == [1, 1, 1]
    finally:
        sink.stop()


# -- item 2: a delivered message is never dead --------------------------------------------


# The lease of a row cut off after DATA is 2 x the SMTP timeout + 1 s: keep the wait short.
KILLED_TIMEOUT = 1.5


def _kill_after_accept(sink: SmtpSink, db: Path, cfg: Path) -> None:
    """Run send-due until the server has accepted a message, then SIGKILL it before the 250."""
    sink.handler.stall_after_accept = True
    sink.handler.release.clear()
    sink.handler.accepted.clear()
    proc = spawn_send_due(db, cfg)
    try:
        assert sink.handler.accepted.wait(30), "the server never accepted the message"
    finally:
        assert kill(proc)
        sink.handler.stall_after_accept = False
        sink.handler.release.set()


def test_item2_delivered_at_the_last_attempt_is_not_dead(smtpd: SmtpSink, tmp_path: Path) -> None:
    """Killed after the server's 250 on the only allowed attempt, no Sent evidence."""
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=smtpd.port,
        sink=smtpd,
        smtp_timeout=KILLED_TIMEOUT,
        send={"lease_seconds": 1.0, "max_attempts": 1, "backoff_base_seconds": 0.01},
    )
    (mid,) = queue(cfg, db, 1)
    _kill_after_accept(smtpd, db, cfg)
    assert smtpd.handler.count(mid) == 1
    drain_until_settled(db, cfg)
    (row,) = rows(db)
    assert row.status != "dead", row
    # resend (the default): sent again with the same Message-ID, never given up on.
    assert row.status == "sent", row
    assert smtpd.handler.count(mid) >= 1


def test_item2_delivered_and_filed_in_sent_is_sent_once(
    filing_smtpd: SmtpSink, dovecot: Any, tmp_path: Path
) -> None:
    sink = filing_smtpd
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=sink.port,
        sink=sink,
        smtp_timeout=KILLED_TIMEOUT,
        imap=imap_table(dovecot),
        send={
            "lease_seconds": 1.0,
            "max_attempts": 1,
            "backoff_base_seconds": 0.01,
            "server_files_sent": True,
            "sent_folder": "Sent",
        },
    )
    (mid,) = queue(cfg, db, 1)
    _kill_after_accept(sink, db, cfg)
    drain_until_settled(db, cfg)
    (row,) = rows(db)
    assert row.status == "sent", row
    assert sink.handler.count(mid) == 1
    assert sent_copies(dovecot, mid) == 1


# -- item 3: our own Sent copy is no evidence; the server's is, and then we append none ---


def test_item3_own_sent_copy_does_not_settle_an_unknown_outcome(
    smtpd: SmtpSink, dovecot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """We append our own copy (after the finalize), the server files nothing: a kill after
    the 250 leaves nothing in Sent, and "not in Sent" must not be read as "not delivered".
    With ``unknown_outcome = "hold"`` the row is held, not sent a second time."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    folder = f"Own{time.monotonic_ns()}"
    dovecot.create_folder(folder)
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=smtpd.port,
        sink=smtpd,
        smtp_timeout=KILLED_TIMEOUT,
        imap=imap_table(dovecot),
        send={
            "lease_seconds": 1.0,
            "backoff_base_seconds": 0.01,
            "append_to_sent": True,
            "sent_folder": folder,
            "unknown_outcome": "hold",
        },
    )
    (mid,) = queue(cfg, db, 1)
    _kill_after_accept(smtpd, db, cfg)
    drain_until_settled(db, cfg)
    (row,) = rows(db)
    assert row.status == "held", row
    assert smtpd.handler.count(mid) == 1, "sent again on the strength of our own missing copy"


def test_item3_server_files_sent_so_no_second_copy(
    filing_smtpd: SmtpSink, dovecot: Any, tmp_path: Path
) -> None:
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=filing_smtpd.port,
        sink=filing_smtpd,
        imap=imap_table(dovecot),
        send={"server_files_sent": True, "append_to_sent": True, "sent_folder": "Sent"},
    )
    (mid,) = queue(cfg, db, 1)
    send_due(db, cfg).report()
    assert statuses(db) == {"sent": 1}
    assert sent_copies(dovecot, mid) == 1, "the server filed it; we must not append another"


# -- item 4: the breaker counts consecutive failures only ---------------------------------


def test_item4_scattered_451s_never_open_the_circuit(smtpd: SmtpSink, tmp_path: Path) -> None:
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=smtpd.port,
        sink=smtpd,
        send={"backoff_base_seconds": 0.01, "circuit_failures": 5},
    )
    ids = queue(cfg, db, 100)
    fail_at = {3, 4, 17, 30, 31, 55, 70, 88}  # DATA numbers; at most 2 in a row
    smtpd.handler.data_replies = [
        "451 4.3.0 try later" if n in fail_at else "" for n in range(max(fail_at) + 1)
    ]
    reports = drain_until_settled(db, cfg, runs=3)
    assert all(r["skipped_accounts"] == [] for r in reports), reports
    assert statuses(db) == {"sent": 100}
    assert smtpd.handler.counts() == dict.fromkeys(ids, 1)
    assert smtpd.handler.data_attempts == 108
    assert len(reports) == 1, "one run delivers everything when the circuit stays closed"
    conn = sqlite3.connect(db)
    try:
        opened = conn.execute(
            "SELECT count(*) FROM smtp_circuit WHERE open_until IS NOT NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    assert opened == 0


# -- item 5: a kill between finalize and the Sent APPEND is repaired ----------------------


def test_item5_missing_sent_copy_is_repaired_once(
    smtpd: SmtpSink, dovecot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    folder = f"Sent{time.monotonic_ns()}"  # a folder of its own on the shared Dovecot
    dovecot.create_folder(folder)
    db = tmp_path / "mail.db"
    send = {"lease_seconds": 1.0, "append_to_sent": True, "sent_folder": folder}
    gate = AppendGate(dovecot.imap_port)
    try:
        gated = write_config(
            tmp_path / "gated.toml",
            smtp_port=smtpd.port,
            sink=smtpd,
            imap=imap_table(dovecot, port=gate.port, tls="none"),
            send=send,
        )
        (mid,) = queue(gated, db, 1)
        proc = spawn_send_due(db, gated)
        try:
            assert gate.holding.wait(30), "send-due never tried to APPEND"
            (row,) = rows(db)
            assert row.status == "sent", row  # finalized; the copy not yet stored
        finally:
            assert kill(proc)
    finally:
        gate.close()
    assert smtpd.handler.count(mid) == 1
    assert sent_copies(dovecot, mid, folder) == 0

    direct = write_config(
        tmp_path / "direct.toml",
        smtp_port=smtpd.port,
        sink=smtpd,
        imap=imap_table(dovecot),
        send=send,
    )
    wait_for_leases(db)
    send_due(db, direct).report()
    assert sent_copies(dovecot, mid, folder) == 1, "the next run did not repair the Sent copy"
    send_due(db, direct).report()
    assert sent_copies(dovecot, mid, folder) == 1, "repaired twice"
    assert smtpd.handler.count(mid) == 1, "the repair must not send the message again"
    assert statuses(db) == {"sent": 1}


# -- item 6: an undelivered send is an error; retry now -----------------------------------

_WHEN = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\d{2}:\d{2}:\d{2}")


def _send_to_closed_port(plugin_wasm: Path, tmp_path: Path) -> tuple[Path, Path, int, Run]:
    port = free_port()  # nothing listens
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=port,
        send={"backoff_base_seconds": 600.0},  # the automatic retry is far away
    )
    args = {"account_id": 1, "to": ["bob@example.org"], "subject": "hi", "body_text": "x"}
    res = call(db, cfg, "email.send", args, PRX_EMAIL_COMPONENT=str(plugin_wasm))
    return db, cfg, port, res


@pytest.mark.component
def test_item6_send_to_a_closed_port_is_an_error_saying_queued_and_when(
    plugin_wasm: Path, smtp_password: str, tmp_path: Path
) -> None:
    db, _, _, res = _send_to_closed_port(plugin_wasm, tmp_path)
    assert res.returncode != 0, res
    envelope = json.loads(res.stdout)
    assert envelope["ok"] is False, envelope
    error = envelope["error"]
    assert error["code"] == "EMAIL_CONNECTION_FAILED", envelope
    assert "queued" in error["message"].lower(), error
    assert _WHEN.search(error["message"]), f"no due time in {error['message']!r}"
    assert error.get("hint"), error
    (row,) = rows(db)
    assert row.status in ("pending", "failed"), row


@pytest.mark.component
def test_item6_email_retry_now_delivers_a_row_not_yet_due(
    plugin_wasm: Path, smtp_password: str, tmp_path: Path
) -> None:
    db, cfg, port, _ = _send_to_closed_port(plugin_wasm, tmp_path)
    (row,) = rows(db)
    sink = SmtpSink(tls="none", port=port).start()
    try:
        res = call(
            db,
            cfg,
            "email.retry",
            {"outbox_id": row.id, "now": True},
            PRX_EMAIL_COMPONENT=str(plugin_wasm),
        )
        assert res.returncode == 0, res
        envelope = json.loads(res.stdout)
        assert envelope["ok"] is True, envelope
        assert envelope["data"]["status"] == "sent", envelope
        assert sink.handler.count(row.message_id) == 1
    finally:
        sink.stop()
    assert statuses(db) == {"sent": 1}


# -- item 8: the host caps the message size ------------------------------------------------


async def test_item8_a_60_mb_body_is_refused_before_queueing(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    db_path = tmp_path / "mail.db"
    cfg = write_config(tmp_path / "config.toml", smtp_port=smtpd.port, sink=smtpd)
    ctx = ServiceContext(config=load_config(cfg), db=Database(db_path))
    line = "A line of a very long message body, repeated.\n"
    body = line * (60 * 1024 * 1024 // len(line) + 1)
    assert len(body) >= 60 * 1024 * 1024
    try:
        msg = OutgoingMessage(account_id=1, to=("bob@example.org",), subject="big", body_text=body)
        with pytest.raises(EmailError) as info:
            await outbox.send(ctx, msg)
        assert info.value.hint, "the refusal needs a hint"
        assert re.search(r"\d", info.value.message), "the refusal names the limit"
        with pytest.raises(EmailError):
            outbox.queue(ctx, msg)
        assert OutboxRepo(ctx.db).counts() == {}
    finally:
        ctx.db.close()
    assert smtpd.handler.connections == 0 and smtpd.received == []


def test_item8_the_servers_size_limit_is_respected(smtp_password: str, tmp_path: Path) -> None:
    """A message over the EHLO SIZE the server announced is not sent: no DATA, not retried."""
    sink = SmtpSink(tls="none", data_size_limit=100_000).start()
    try:
        db = tmp_path / "mail.db"
        cfg = write_config(
            tmp_path / "config.toml",
            smtp_port=sink.port,
            sink=sink,
            send={"backoff_base_seconds": 0.01},
        )
        ctx = ServiceContext(config=load_config(cfg), db=Database(db))
        try:
            outbox.queue(
                ctx,
                OutgoingMessage(
                    account_id=1, to=("bob@example.org",), subject="big", body_text="x" * 300_000
                ),
            )
        finally:
            ctx.db.close()
        send_due(db, cfg)
        (row,) = rows(db)
        assert row.status == "dead", row  # it can never fit: waiting would not help
        assert "SIZE" in (row.last_error or ""), row
        assert sink.handler.data_attempts == 0 and sink.received == []
    finally:
        sink.stop()
