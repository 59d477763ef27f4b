"""Real crashes: a worker process is SIGKILLed at each dangerous point of a send.

The SMTP server (aiosmtpd, STARTTLS + AUTH) runs in this process and counts deliveries by
Message-ID. Like Gmail or Outlook, it files every accepted message into the account's Sent
folder, here on the real Dovecot of the IMAP tests, so the worker's recovery path runs its
real IMAP ``SEARCH HEADER Message-ID`` against it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures.smtpd import PASSWORD_ENV, USER, SmtpSink
from helpers.outbox import account, context
from prx_email.services import outbox
from prx_email.store.outbox import OutboxRepo
from prx_email.types import OutboxQuery, OutgoingMessage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER = Path(__file__).with_name("crash_worker.py")
IMAP_PASSWORD_ENV = "PRX_TEST_IMAP_PASSWORD"
LEASE = 1.0
SMTP_TIMEOUT = 1.0


def spec_for(sink: SmtpSink, db: Path, **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "db": str(db),
        "lease_seconds": LEASE,
        "smtp": {
            "host": sink.host,
            "port": sink.port,
            "tls": sink.tls,
            "username": USER,
            "password_env": PASSWORD_ENV,
            "ca_file": str(sink.tls_files.ca_file) if sink.tls_files else None,
            "timeout": SMTP_TIMEOUT,
        },
    }
    spec.update(kw)
    return spec


def imap_spec(dovecot: Any) -> dict[str, Any]:
    return {
        "host": dovecot.host,
        "port": dovecot.imaps_port,
        "tls": "implicit",
        "username": dovecot.user,
        "password_env": IMAP_PASSWORD_ENV,
        "ca_file": str(dovecot.ca_file),
    }


def spawn(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_to_end(spec: dict[str, Any]) -> dict[str, Any]:
    proc = spawn(spec)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def kill_at(spec: dict[str, Any], point: str, nth: int, tmp: Path) -> int:
    """Run a worker until it reaches ``point`` the ``nth`` time, then SIGKILL it."""
    marker = tmp / f"marker-{point}-{nth}-{time.monotonic_ns()}"
    proc = spawn({**spec, "crash_at": {"point": point, "nth": nth, "marker": str(marker)}})
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"worker exited early: {err.decode()}")
        assert time.monotonic() < deadline, "worker never reached the crash point"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)  # reap it and close the pipes
    assert proc.returncode == -signal.SIGKILL
    return int(marker.read_text())


def wait_for_leases(ctx: Any) -> None:
    row = (
        ctx.db.connect()
        .execute("SELECT max(lease_until) FROM outbox WHERE status = 'sending'")
        .fetchone()
    )
    if row[0] is not None:
        time.sleep(max(0.0, float(row[0]) - time.time()) + 0.05)


def queue_n(ctx: Any, n: int) -> list[str]:
    ids = []
    for i in range(n):
        oid = outbox.queue(
            ctx,
            OutgoingMessage(
                account_id=1,
                to=(f"r{i}@example.org",),
                bcc=("audit@example.net",),
                subject=f"crash {i}",
                body_text=f"body {i}",
            ),
        )
        entry = outbox.get_entry(ctx, oid)
        ids.append(entry.message_id)
    return ids


def statuses(ctx: Any) -> dict[str, int]:
    return OutboxRepo(ctx.db).counts()


@pytest.fixture
def filing_sink(smtpd: SmtpSink, dovecot: Any, monkeypatch: pytest.MonkeyPatch) -> SmtpSink:
    """The SMTP server files each accepted message into Dovecot's Sent (server-side copy)."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    dovecot.create_folder("Sent")
    smtpd.handler.on_accept = lambda rec: dovecot.add_messages(
        [rec.content], folder="Sent", flags="S"
    )
    return smtpd


def test_sigkill_at_every_point_delivers_exactly_once(
    filing_sink: SmtpSink, dovecot: Any, tmp_path: Path
):
    sink = filing_sink
    db = tmp_path / "outbox.db"
    ctx = context(db, account(sink))
    ids = queue_n(ctx, 6)
    spec = spec_for(sink, db, imap=imap_spec(dovecot), batch=3)

    # 1. Killed right after claiming a batch, before any SMTP: nothing was delivered.
    kill_at(spec, "after-claim", 1, tmp_path)
    assert statuses(ctx) == {"sending": 3, "pending": 3}
    assert sink.handler.counts() == {}

    # 2. After the leases expire, a worker is killed after the server accepted DATA for the
    #    2nd message of its batch, before it could record that.
    wait_for_leases(ctx)
    oid = kill_at(spec, "after-data", 2, tmp_path)
    stuck = outbox.get_entry(ctx, oid)
    assert stuck.status.value == "sending"
    assert sink.handler.count(stuck.message_id) == 1
    assert sum(sink.handler.counts().values()) == 2

    # 3. A fresh process after the lease: the accepted one is found in Sent, not re-sent.
    wait_for_leases(ctx)
    report = run_to_end(spec)
    assert report["recovered"] == 1
    assert statuses(ctx) == {"sent": 6}
    counts = sink.handler.counts()
    assert {mid: counts[mid] for mid in ids} == dict.fromkeys(ids, 1)
    assert sum(counts.values()) == 6
    recovered = [a.outcome for a in OutboxRepo(ctx.db).attempts(oid) if a.outcome == "recovered"]
    assert recovered == ["recovered"]
    # Envelope kept across the crash: Bcc still only in the envelope.
    assert all(r.rcpt_tos[-1] == "audit@example.net" for r in sink.received)


def test_sigkill_between_batches_and_mid_batch(filing_sink: SmtpSink, dovecot: Any, tmp_path: Path):
    sink = filing_sink
    db = tmp_path / "outbox.db"
    ctx = context(db, account(sink))
    ids = queue_n(ctx, 8)
    spec = spec_for(sink, db, imap=imap_spec(dovecot), batch=4)
    kill_at(spec, "after-claim", 3, tmp_path)  # mid-batch, after two deliveries
    wait_for_leases(ctx)
    kill_at(spec, "after-data", 1, tmp_path)
    wait_for_leases(ctx)
    kill_at(spec, "after-data", 3, tmp_path)
    wait_for_leases(ctx)
    run_to_end(spec)
    assert statuses(ctx) == {"sent": 8}
    assert sink.handler.counts() == dict.fromkeys(ids, 1)


def test_after_data_without_sent_lookup_is_at_least_once(smtpd: SmtpSink, tmp_path: Path):
    """No IMAP: the one documented window where a message can go out twice (never lost)."""
    db = tmp_path / "outbox.db"
    ctx = context(db, account(smtpd))
    (mid,) = queue_n(ctx, 1)
    spec = spec_for(smtpd, db)
    kill_at(spec, "after-data", 1, tmp_path)
    wait_for_leases(ctx)
    report = run_to_end(spec)
    assert report["requeued"] == 1 and report["sent"] == 1
    assert statuses(ctx) == {"sent": 1}
    assert smtpd.handler.count(mid) == 2
    (entry,) = outbox.list_outbox(ctx, OutboxQuery()).entries
    outcomes = [a.outcome for a in OutboxRepo(ctx.db).attempts(entry.id)]
    assert outcomes == ["requeued", "sent"]


def test_after_data_with_hold_parks_the_row_until_retry_now(smtpd: SmtpSink, tmp_path: Path):
    """``unknown_outcome = "hold"``: no blind resend; visible as held, released by retry now."""
    db = tmp_path / "outbox.db"
    ctx = context(db, account(smtpd))
    (mid,) = queue_n(ctx, 1)
    spec = spec_for(smtpd, db, unknown_outcome="hold")
    oid = kill_at(spec, "after-data", 1, tmp_path)
    wait_for_leases(ctx)
    report = run_to_end(spec)
    assert report["held"] == 1 and report["sent"] == 0 and report["dead"] == 0
    entry = outbox.get_entry(ctx, oid)
    assert entry.status.value == "held" and entry.attempts == 1
    assert smtpd.handler.count(mid) == 1
    assert run_to_end(spec)["claimed"] == 0  # a drain leaves it alone
    import asyncio

    entry = asyncio.run(outbox.retry(ctx, oid, now=True))
    assert entry.status.value == "sent" and entry.attempts == 2
    assert smtpd.handler.count(mid) == 2  # the operator chose to send it again


def test_after_claim_kills_cost_no_attempt(smtpd: SmtpSink, tmp_path: Path):
    """Killed before DATA, more times than max_attempts: never dead, sent once, 1 attempt."""
    db = tmp_path / "outbox.db"
    ctx = context(db, account(smtpd))
    (mid,) = queue_n(ctx, 1)
    spec = spec_for(smtpd, db, max_attempts=2)
    for _ in range(3):
        kill_at(spec, "after-claim", 1, tmp_path)
        wait_for_leases(ctx)
    run_to_end(spec)
    (entry,) = outbox.list_outbox(ctx, OutboxQuery()).entries
    assert entry.status.value == "sent" and entry.attempts == 1
    assert smtpd.handler.count(mid) == 1


def test_after_claim_without_sent_lookup_is_exactly_once(smtpd: SmtpSink, tmp_path: Path):
    """Killed before DATA: even without IMAP the row is re-sent once, safely."""
    db = tmp_path / "outbox.db"
    ctx = context(db, account(smtpd))
    ids = queue_n(ctx, 3)
    spec = spec_for(smtpd, db)
    kill_at(spec, "after-claim", 2, tmp_path)
    wait_for_leases(ctx)
    run_to_end(spec)
    assert statuses(ctx) == {"sent": 3}
    assert smtpd.handler.counts() == dict.fromkeys(ids, 1)


def test_concurrent_workers_deliver_each_row_once(smtpd: SmtpSink, tmp_path: Path):
    db = tmp_path / "outbox.db"
    ctx = context(db, account(smtpd))
    ids = queue_n(ctx, 50)
    spec = spec_for(smtpd, db, batch=5, lease_seconds=30.0)
    procs = [spawn(spec) for _ in range(4)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert sum(r["sent"] for r in reports) == 50
    assert sum(r["claimed"] for r in reports) == 50
    assert statuses(ctx) == {"sent": 50}
    assert smtpd.handler.counts() == dict.fromkeys(ids, 1)
    assert sum(1 for r in reports if r["sent"]) >= 2  # the work was actually shared


def test_sent_unreachable_waits_instead_of_resending(
    filing_sink: SmtpSink, dovecot: Any, tmp_path: Path
):
    """Killed after DATA while IMAP is down: the row waits and re-checks Sent, no duplicate."""
    from fixtures.dovecot import free_port

    sink = filing_sink
    db = tmp_path / "outbox.db"
    ctx = context(db, account(sink))
    (mid,) = queue_n(ctx, 1)
    good = spec_for(sink, db, imap=imap_spec(dovecot), backoff=30.0)
    down = spec_for(sink, db, imap={**imap_spec(dovecot), "port": free_port()}, backoff=30.0)
    oid = kill_at(good, "after-data", 1, tmp_path)
    wait_for_leases(ctx)

    report = run_to_end(down)
    assert report["requeued"] == 1 and report["sent"] == 0
    entry = outbox.get_entry(ctx, oid)
    assert entry.status.value == "failed" and "unconfirmed" in (entry.last_error or "")

    def make_due() -> None:
        with ctx.db.transaction() as tx:
            tx.execute("UPDATE outbox SET next_attempt_at = 0 WHERE id = ?", (oid,))

    make_due()
    report = run_to_end(down)  # still cannot tell: wait again, do not send
    assert report["failed"] == 1 and report["sent"] == 0
    assert sink.handler.count(mid) == 1

    make_due()
    report = run_to_end(good)
    assert report["recovered"] == 1 and report["sent"] == 0
    assert outbox.get_entry(ctx, oid).status.value == "sent"
    assert sink.handler.count(mid) == 1
    outcomes = [a.outcome for a in OutboxRepo(ctx.db).attempts(oid)]
    # A failed Sent look-up counts (so an unreachable Sent cannot hold a row forever);
    # the successful one does not.
    assert outcomes == ["requeued", "unverified", "recovered"]
    assert outbox.get_entry(ctx, oid).attempts == 2


def test_sigkill_after_data_keeps_deferred_recipients(
    filing_sink: SmtpSink, dovecot: Any, tmp_path: Path
):
    """A 4xx-deferred recipient survives a crash the Sent folder settles (nothing lost).

    The server defers one recipient at RCPT and accepts DATA for the others; the worker is
    killed before it can record that. Recovery finds the message in Sent, so the accepted
    recipients are not sent it again, and the deferred one still gets it: every recipient
    exactly one copy, all copies the same bytes.
    """
    sink = filing_sink
    db = tmp_path / "outbox.db"
    ctx = context(db, account(sink))
    rcpts = ["a@example.org", "busy@example.org", "c@example.org"]
    oid = outbox.queue(
        ctx,
        OutgoingMessage(
            account_id=1,
            to=tuple(rcpts[:2]),
            bcc=(rcpts[2],),
            subject="deferred",
            body_text="for everyone",
        ),
    )
    mid = outbox.get_entry(ctx, oid).message_id
    spec = spec_for(sink, db, imap=imap_spec(dovecot))

    sink.handler.rcpt_replies["busy@example.org"] = "450 4.2.1 mailbox busy, try later"
    assert kill_at(spec, "after-data", 1, tmp_path) == oid
    assert [r.rcpt_tos for r in sink.received] == [["a@example.org", "c@example.org"]]
    assert outbox.get_entry(ctx, oid).status.value == "sending"

    del sink.handler.rcpt_replies["busy@example.org"]  # the mailbox is free again
    wait_for_leases(ctx)
    report = run_to_end(spec)
    assert report["recovered"] == 1
    for _ in range(3):  # the deferred recipient is due at once; one more run at most
        if statuses(ctx) == {"sent": 1}:
            break
        run_to_end(spec)
    assert statuses(ctx) == {"sent": 1}

    per_rcpt = {r: sum(r in rec.rcpt_tos for rec in sink.received) for r in rcpts}
    assert per_rcpt == dict.fromkeys(rcpts, 1)
    assert sink.handler.count(mid) == 2
    assert len({rec.content for rec in sink.received}) == 1  # same bytes, same Message-ID
    outcomes = [a.outcome for a in OutboxRepo(ctx.db).attempts(oid)]
    assert outcomes == ["recovered-partial", "sent"]


def test_sigkill_on_the_deferred_retry_resends_rather_than_trusting_sent(
    filing_sink: SmtpSink, dovecot: Any, tmp_path: Path
):
    """Killed after DATA on the retry of a deferred recipient: Sent already holds the
    Message-ID from the first delivery, so it cannot vouch for the retry. The deferred
    recipient may get it twice (the documented at-least-once window), never zero times,
    and the recipients of the first delivery never again."""
    sink = filing_sink
    db = tmp_path / "outbox.db"
    ctx = context(db, account(sink))
    oid = outbox.queue(
        ctx,
        OutgoingMessage(
            account_id=1, to=("a@example.org", "busy@example.org"), subject="x", body_text="y"
        ),
    )
    spec = spec_for(sink, db, imap=imap_spec(dovecot), backoff=30.0)
    sink.handler.rcpt_replies["busy@example.org"] = "451 4.3.0 try later"
    run_to_end(spec)  # a@ gets it, busy@ deferred (partial)
    assert outbox.get_entry(ctx, oid).status.value == "failed"
    del sink.handler.rcpt_replies["busy@example.org"]
    with ctx.db.transaction() as tx:
        tx.execute("UPDATE outbox SET next_attempt_at = 0 WHERE id = ?", (oid,))
    kill_at(spec, "after-data", 1, tmp_path)  # the retry's DATA accepted, then killed
    wait_for_leases(ctx)
    run_to_end(spec)
    assert statuses(ctx) == {"sent": 1}
    per_rcpt = {
        r: sum(r in rec.rcpt_tos for rec in sink.received)
        for r in ("a@example.org", "busy@example.org")
    }
    assert per_rcpt == {"a@example.org": 1, "busy@example.org": 2}
    outcomes = [a.outcome for a in OutboxRepo(ctx.db).attempts(oid)]
    assert outcomes == ["partial", "requeued", "sent"]
