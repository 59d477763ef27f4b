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
