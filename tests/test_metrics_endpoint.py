"""The metrics endpoint of a running `sync --watch` (real Dovecot, real aiosmtpd), the
endpoint's address rules, and `Plugin.metrics()`; every page parsed by prometheus_client."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import DovecotServer
from fixtures.smtpd import PASSWORD, PASSWORD_ENV, USER, SmtpSink
from helpers.cli import CLI, cli_env
from helpers.outbox import context
from prometheus_client.parser import text_string_to_metric_families
from prx_email import metrics
from prx_email.api import load_config
from prx_email.errors import ConfigError
from prx_email.services import outbox
from prx_email.types import OutgoingMessage

GOOD_ENV = "PRX_TEST_METRICS_PW"
BAD_ENV = "PRX_TEST_METRICS_BAD_PW"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation, family.name
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the series of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def _config(tmp: Path, imap: DovecotServer, smtpd: SmtpSink, folder: str) -> Path:
    def account(acc_id: int, pw_env: str, smtp: bool) -> str:
        text = f"""
[[accounts]]
id = {acc_id}
name = "A{acc_id}"
address = "alice{acc_id}@example.org"

[accounts.imap]
host = "127.0.0.1"
port = {imap.imaps_port}
tls = "implicit"
username = "{imap.user}"
password_env = "{pw_env}"
ca_file = "{imap.ca_file}"
timeout = 10

[accounts.sync]
folders = ["{folder}"]
"""
        if smtp:
            assert smtpd.tls_files is not None
            text += f"""
[accounts.smtp]
host = "127.0.0.1"
port = {smtpd.port}
tls = "starttls"
username = "{USER}"
password_env = "{PASSWORD_ENV}"
ca_file = "{smtpd.tls_files.ca_file}"
timeout = 10

[accounts.send]
append_to_sent = false
"""
        return text

    cfg = tmp / "config.toml"
    cfg.write_text(account(1, GOOD_ENV, True) + account(2, BAD_ENV, False))
    return cfg


def _message(marker: str) -> bytes:
    return (
        f"From: a@example.org\r\nTo: alice1@example.org\r\nSubject: {marker}\r\n"
        f"Message-ID: <{marker}@example.org>\r\n\r\nbody\r\n"
    ).encode()


def _scrape_until(
    url: str, ready: Callable[[Samples], bool], proc: subprocess.Popen[str], timeout: float = 60
) -> Samples:
    deadline = time.monotonic() + timeout
    samples: Samples = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the watcher exited"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200
            samples = parse(resp.read().decode("utf-8"))
        if ready(samples):
            return samples
        time.sleep(0.2)
    raise AssertionError(f"metrics never got there: {samples}")


def _queue(db: Path, cfg: Path, marker: str) -> None:
    ctx = context(db, *load_config(cfg).accounts)
    try:
        outbox.queue(
            ctx,
            OutgoingMessage(account_id=1, to=("bob@example.org",), subject=marker, body_text="x"),
        )
    finally:
        ctx.db.close()


def test_counters_of_a_running_watch_move_after_sync_failed_login_and_send(
    dovecot: DovecotServer, smtpd: SmtpSink, tmp_path: Path
) -> None:
    folder = f"Metrics{secrets.token_hex(3)}"
    dovecot.add_messages([_message(f"m1-{secrets.token_hex(4)}")], folder=folder)
    cfg = _config(tmp_path, dovecot, smtpd, folder)
    db = tmp_path / "mail.db"
    _queue(db, cfg, "first")
    env = cli_env(
        tmp_path,
        PRX_EMAIL_ENABLE_REAL_NETWORK="1",
        **{GOOD_ENV: dovecot.password, BAD_ENV: "wrong-" + secrets.token_hex(4)},
        **{PASSWORD_ENV: PASSWORD},
    )
    err = tmp_path / "stderr.txt"
    args = ["--config", str(cfg), "--db", str(db), "sync", "--watch", "--interval", "1"]
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [*CLI, *args, "--metrics", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=env,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while not (m := re.search(r"metrics: serving (\S+)", err.read_text())):
            assert time.monotonic() < deadline and proc.poll() is None, err.read_text()
            time.sleep(0.05)
        url = m.group(1)
        assert url.startswith("http://127.0.0.1:")

        runs = "prx_email_sync_runs_total"
        sends = "prx_email_send_attempts_total"
        drops = "prx_email_watch_drops_total"
        first = _scrape_until(
            url,
            lambda s: (
                value(s, runs, account="1", outcome="ok") >= 1
                and value(s, runs, account="2", error_code="EMAIL_AUTH_FAILED") >= 1
                and value(s, sends, account="1", outcome="sent") >= 1
            ),
            proc,
        )
        assert value(first, "prx_email_sync_messages_fetched_total", account="1") == 1
        assert value(first, runs, account="2", outcome="ok") == 0
        assert value(first, "prx_email_sync_duration_seconds_count", account="1") >= 1
        assert value(first, "prx_email_outbox_rows", status="sent") == 1  # the store's gauge
        assert value(first, "prx_email_smtp_circuit_open", account="1") == 0

        # More mail and another send: the counters move on.
        dovecot.add_messages([_message(f"m2-{secrets.token_hex(4)}")], folder=folder)
        _queue(db, cfg, "second")
        second = _scrape_until(
            url,
            lambda s: (
                value(s, "prx_email_sync_messages_fetched_total", account="1") >= 2
                and value(s, sends, account="1", outcome="sent") >= 2
                and value(s, drops, account="2", error_code="EMAIL_AUTH_FAILED") >= 1
            ),
            proc,
        )
        assert value(second, runs, account="1", outcome="ok") > value(
            first, runs, account="1", outcome="ok"
        )
        assert value(second, "prx_email_outbox_rows", status="sent") == 2
        # The watcher's connection (IDLE on Dovecot) and the event log's growth.
        assert value(second, "prx_email_watch_connects_total", account="1", mode="idle") >= 1
        assert value(second, "prx_email_events_written") > value(first, "prx_email_events_written")
        assert len(smtpd.received) >= 2
        # Bounded labels: no address or message id anywhere on the page.
        labels = {v for _, ls in second for _, v in ls}
        assert not any("@" in v for v in labels)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert dovecot.password not in err.read_text()


def test_metrics_needs_watch_and_a_loopback_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prx_email.adapters.cli.main import main
    from prx_email.config.loader import parse_config

    monkeypatch.setenv("PRX_EMAIL_ENABLE_REAL_NETWORK", "1")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[accounts]]\nid = 1\nname = "L"\naddress = "l@example.org"\n')
    base = ["--config", str(cfg), "--db", str(tmp_path / "m.db"), "sync"]
    assert main([*base, "--metrics", ":0"]) != 0
    assert "--metrics needs --watch" in "".join(capsys.readouterr())

    # A non-loopback address from the config is refused before the first round.
    cfg.write_text('[metrics]\nlisten = "192.0.2.1:9464"\n' + cfg.read_text())
    assert main([*base, "--watch"]) != 0
    assert "not a loopback address" in "".join(capsys.readouterr())

    with pytest.raises(ConfigError) as info:
        metrics.serve_metrics("0.0.0.0", 0)
    assert info.value.hint and "allow_remote" in info.value.hint
    with pytest.raises(ConfigError, match=r"metrics\.listen"):
        parse_config('[metrics]\nlisten = "9464"\n')
    assert parse_config("[metrics]\nallow_remote = true\n").metrics.allow_remote
    assert metrics.parse_listen(":9464") == ("127.0.0.1", 9464)
    assert metrics.parse_listen("[::1]:1") == ("::1", 1)


def test_the_endpoint_serves_the_counters_and_stops() -> None:
    server = metrics.serve_metrics("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            samples = parse(resp.read().decode("utf-8"))
        assert ("prx_email_sandbox_traps_total", frozenset()) in samples
    finally:
        server.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_plugin_metrics_counts_sandbox_calls_by_tool_and_outcome(
    plugin_wasm: Path, tmp_path: Path
) -> None:
    from prx_email import open_plugin

    cfg = tmp_path / "config.toml"
    cfg.write_text('[[accounts]]\nid = 1\nname = "L"\naddress = "l@example.org"\n')
    with open_plugin(db=tmp_path / "m.db", config=cfg, component=plugin_wasm) as plugin:
        before = plugin.metrics()
        assert plugin.execute("email.list", {"account_id": 1})["ok"]
        assert not plugin.execute("email.list", {"account_id": "x"})["ok"]
        assert not plugin.execute("no such tool; <x@y>", {})["ok"]
        after = plugin.metrics()

    def calls(snap: dict[str, object], tool: str, outcome: str) -> float:
        fam = snap["prx_email_sandbox_calls"]
        assert isinstance(fam, dict) and fam["type"] == "counter"
        return sum(
            s["value"]
            for s in fam["samples"]
            if s["name"].endswith("_total") and s["labels"] == {"tool": tool, "outcome": outcome}
        )

    assert calls(after, "email.list", "ok") - calls(before, "email.list", "ok") == 1
    assert calls(after, "email.list", "error") - calls(before, "email.list", "error") == 1
    assert calls(after, "other", "error") - calls(before, "other", "error") == 1
    assert "prx_email_outbox_rows" in after  # the store's gauges come with the snapshot


def test_traps_and_timeouts_are_counted(hostile: Any) -> None:
    def count(name: str, **labels: str) -> float:
        return value(parse(metrics.render().decode("utf-8")), name, **labels)

    before = (
        count("prx_email_sandbox_traps_total"),
        count("prx_email_sandbox_timeouts_total"),
        count("prx_email_sandbox_calls_total", tool="other", outcome="timeout"),
        count("prx_email_sandbox_calls_total", tool="other", outcome="trap"),
    )
    assert hostile.execute("spin")["error"]["code"] == "EMAIL_SANDBOX_TIMEOUT"
    assert hostile.execute("raise")["error"]["code"] == "EMAIL_SANDBOX_TRAP"
    after = (
        count("prx_email_sandbox_traps_total"),
        count("prx_email_sandbox_timeouts_total"),
        count("prx_email_sandbox_calls_total", tool="other", outcome="timeout"),
        count("prx_email_sandbox_calls_total", tool="other", outcome="trap"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1, 1]
