"""`prx-email sync` output: progress bars on a terminal (no network here)."""

from __future__ import annotations

import io

from prx_email.adapters.cli.cmd_sync import _Bars


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_redraw_in_place() -> None:
    out = _Tty()
    bars = _Bars(out, ["account 1 INBOX", "account 1 Archive"])
    bars.draw()
    bars.update("account 1 INBOX", bars.bar(50, 200))
    bars.update("account 1 Archive", "synced 3 messages")
    text = out.getvalue()
    assert text.count("\x1b[2F") == 2  # cursor back up over both lines before each redraw
    last = text.split("\x1b[2F")[-1]
    assert "[#######.....................] 50/200" in last
    assert "account 1 Archive  synced 3 messages" in last
    assert bars.bar(0, 0).endswith("0/0") and "#" * _Bars.WIDTH in bars.bar(0, 0)


def test_job_lines_name_the_zone_and_never_show_reprs() -> None:
    from prx_email.adapters.cli.cmd_sync import format_time, iso_time, job_line
    from prx_email.services.scheduler import JobReport

    ts = 1796155483.0  # 2026-12-01 20:04:43 UTC
    assert format_time(ts) == "2026-12-01 20:04:43 UTC"
    assert iso_time(ts) == "2026-12-01T20:04:43Z"
    waiting = JobReport(1, "INBOX", ran=False, failures=1, next_due=ts)
    assert job_line(waiting) == "backing off until 2026-12-01 20:04:43 UTC after 1 failure"
    done = JobReport(1, "INBOX", ran=True, synced=3, flags_changed=1, expunged=2)
    assert job_line(done) == "3 new, 1 flag change, 2 expunged"
    reset = JobReport(1, "INBOX", ran=True, uidvalidity_reset=True, more_pending=True)
    assert job_line(reset) == (
        "0 new, 0 flag changes, 0 expunged, UIDVALIDITY changed, folder reloaded, more pending"
    )
    failed = JobReport(1, "INBOX", ran=True, error_code="EMAIL_TIMEOUT", error="slow", failures=2)
    assert job_line(failed) == "error EMAIL_TIMEOUT: slow"
    for report in (waiting, done, reset, failed):
        assert "None" not in job_line(report) and "(" not in job_line(report).split(":")[0]


def test_human_values_are_not_reprs() -> None:
    from prx_email.adapters.cli._common import human

    assert human(("bob@example.org", "ann@example.org")) == "bob@example.org, ann@example.org"
    assert human(None) == "-" and human(()) == "-" and human(True) == "yes"
    assert human({"to": ["a@x"], "cc": None}) == "to: a@x, cc: -"


def test_interval_type_refuses_below_one_second() -> None:
    import argparse

    import pytest
    from prx_email.adapters.cli.cmd_sync import interval_seconds

    assert interval_seconds("1") == 1.0 and interval_seconds("2.5") == 2.5
    for bad in ("0", "-5", "0.99", "nan", "NaN", "inf", "-inf", "", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            interval_seconds(bad)
