"""``prx-email outbox`` and ``prx-email send-due`` against a real aiosmtpd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.smtpd import PASSWORD_ENV, USER, SmtpSink
from helpers.outbox import context
from prx_email import NETWORK_ENV
from prx_email.adapters.cli.main import main
from prx_email.api import load_config
from prx_email.services import outbox
from prx_email.types import OutgoingMessage

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, sink: SmtpSink) -> Path:
    assert sink.tls_files is not None
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[[accounts]]
id = 1
name = "Work"
address = "me@example.com"

[accounts.smtp]
host = "{sink.host}"
port = {sink.port}
tls = "starttls"
username = "{USER}"
password_env = "{PASSWORD_ENV}"
ca_file = "{sink.tls_files.ca_file}"

[accounts.send]
append_to_sent = false
"""
    )
    return cfg


def test_outbox_list_show_and_send_due(
    smtpd: SmtpSink, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
):
    cfg_path = write_config(tmp_path, smtpd)
    db = tmp_path / "mail.db"
    ctx = context(db, *load_config(cfg_path).accounts)
    ids = [
        outbox.queue(
            ctx, OutgoingMessage(account_id=1, to=("a@example.org",), subject=s, body_text="x")
        )
        for s in ("first", "second")
    ]
    ctx.db.close()
    base = ["--db", str(db), "--config", str(cfg_path)]

    assert main([*base, "outbox", "list"]) == 0
    out = capsys.readouterr().out
    assert out.index("'second'") < out.index("'first'") and out.count("pending") == 2

    monkeypatch.delenv(NETWORK_ENV, raising=False)
    assert main([*base, "send-due"]) == 1
    err = capsys.readouterr().err
    assert "network" in err and NETWORK_ENV in err
    assert smtpd.received == []

    monkeypatch.setenv(NETWORK_ENV, "1")
    assert main([*base, "send-due", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sent"] == 2 and report["claimed"] == 2
    assert len(smtpd.received) == 2

    assert main([*base, "outbox", "list", "--status", "sent", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in listing["entries"]] == sorted(ids, reverse=True)

    assert main([*base, "outbox", "show", str(ids[0])]) == 0
    shown = capsys.readouterr().out
    assert f"outbox-{ids[0]}-1: sent 250" in shown

    assert main([*base, "outbox", "show", "999"]) == 1
    assert "no outbox row 999" in capsys.readouterr().err


def test_outbox_retry_now_and_readable_show(
    smtpd: SmtpSink, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
):
    cfg_path = write_config(tmp_path, smtpd)
    db = tmp_path / "mail.db"
    ctx = context(db, *load_config(cfg_path).accounts)
    oid = outbox.queue(
        ctx,
        OutgoingMessage(
            account_id=1, to=("a@example.org", "b@example.org"), subject="s", body_text="x"
        ),
    )
    # Not due for an hour (as after a failed attempt with a long backoff).
    ctx.db.connect().execute("UPDATE outbox SET next_attempt_at = next_attempt_at + 3600")
    ctx.db.close()
    base = ["--db", str(db), "--config", str(cfg_path)]

    assert main([*base, "outbox", "show", str(oid)]) == 0
    shown = capsys.readouterr().out
    assert "a@example.org, b@example.org" in shown and "(" not in shown.split("recipients")[1][:5]

    monkeypatch.setenv(NETWORK_ENV, "1")
    assert main([*base, "outbox", "retry", str(oid)]) == 1
    err = capsys.readouterr().err
    assert "not due until" in err and "now=true" in err
    assert smtpd.received == []
    assert main([*base, "outbox", "retry", str(oid), "--now", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "sent"
    assert len(smtpd.received) == 1
