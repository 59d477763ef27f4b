"""`prx-email metrics`: store-derived gauges, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fixtures.dovecot import free_port
from prometheus_client.parser import text_string_to_metric_families
from prx_email.adapters.cli.main import main
from prx_email.api import load_config
from prx_email.services import outbox
from prx_email.services.circuit import CircuitBreaker
from prx_email.services.context import ServiceContext
from prx_email.store import sync_state
from prx_email.store.db import Database
from prx_email.types import OutgoingMessage

CONFIG = """
[[accounts]]
id = 1
name = "Work"
address = "me@example.com"

[accounts.imap]
host = "127.0.0.1"
port = {port}
tls = "none"
username = "me"
password_env = "PRX_TEST_UNUSED"

[accounts.smtp]
host = "127.0.0.1"
port = {port}
tls = "none"

[accounts.sync]
folders = ["INBOX", "Archive"]

[accounts.send]
circuit_failures = 2
append_to_sent = false
"""


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG.format(port=free_port()))
    db_path = tmp_path / "mail.db"
    config = load_config(cfg)
    db = Database(db_path)
    ctx = ServiceContext(config=config, db=db)
    for subject in ("a", "b"):
        msg = OutgoingMessage(account_id=1, to=("x@example.org",), subject=subject, body_text="x")
        outbox.queue(ctx, msg)
    now = time.time()
    breaker = CircuitBreaker(db, per_account={1: outbox.circuit_settings(config.accounts[0])})
    breaker.failure(1, now, "connect refused")
    breaker.failure(1, now, "connect refused")
    with db.transaction() as conn:
        sync_state.put_job(conn, sync_state.JobState(1, "Archive", 3, now + 600, "EMAIL_AUTH"))
        sync_state.put_state(
            conn, sync_state.FolderState(1, "INBOX", 7, 10, last_sync_at=1_800_000_000)
        )
    db.close()

    assert main(["--db", str(db_path), "--config", str(cfg), "metrics"]) == 0
    samples = _samples(capsys.readouterr().out)

    assert samples[("prx_email_outbox_rows", (("status", "pending"),))] == 2
    assert samples[("prx_email_outbox_rows", (("status", "dead"),))] == 0
    assert samples[("prx_email_smtp_circuit_open", (("account", "1"),))] == 1
    assert (
        samples[("prx_email_smtp_circuit_open_until_timestamp_seconds", (("account", "1"),))] > now
    )
    archive = (("account", "1"), ("folder", "Archive"))
    inbox = (("account", "1"), ("folder", "INBOX"))
    assert samples[("prx_email_sync_job_failures", archive)] == 3
    assert samples[("prx_email_sync_job_backing_off", archive)] == 1
    assert samples[("prx_email_sync_job_next_due_timestamp_seconds", archive)] == pytest.approx(
        now + 600
    )
    assert samples[("prx_email_sync_job_failures", inbox)] == 0
    assert samples[("prx_email_sync_job_backing_off", inbox)] == 0
    assert samples[("prx_email_sync_last_success_timestamp_seconds", inbox)] == 1_800_000_000
    assert ("prx_email_sync_last_success_timestamp_seconds", archive) not in samples


def test_metrics_of_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG.format(port=free_port()))
    assert main(["--db", str(tmp_path / "new.db"), "--config", str(cfg), "metrics"]) == 0
    samples = _samples(capsys.readouterr().out)
    assert {v for (name, _), v in samples.items() if name == "prx_email_outbox_rows"} == {0}
    assert samples[("prx_email_smtp_circuit_open", (("account", "1"),))] == 0
