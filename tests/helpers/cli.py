"""Running the real ``prx-email`` command as a subprocess, and configs for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "prx_email.adapters.cli"]


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: a private store and config dir, the network off."""
    env = {
        **os.environ,
        "PRX_EMAIL_DB": str(tmp_path / "mail.db"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }
    env.pop("PRX_EMAIL_CONFIG", None)
    env.pop("PRX_EMAIL_ENABLE_REAL_NETWORK", None)
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def imap_config(
    path: Path,
    *,
    port: int,
    username: str,
    password_env: str,
    ca_file: Path | None = None,
    tls: str = "implicit",
    folders: tuple[str, ...] = ("INBOX",),
    timeout: float | None = None,
    interval_seconds: float | None = None,
) -> Path:
    """A one-account config whose IMAP server is on 127.0.0.1."""
    lines = [
        "[[accounts]]",
        "id = 1",
        'name = "Test"',
        'address = "alice@example.org"',
        "",
        "[accounts.imap]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'tls = "{tls}"',
        f'username = "{username}"',
        f'password_env = "{password_env}"',
    ]
    if ca_file is not None:
        lines.append(f'ca_file = "{ca_file}"')
    if timeout is not None:
        lines.append(f"timeout = {timeout}")
    lines += ["", "[accounts.sync]", "folders = [" + ", ".join(f'"{f}"' for f in folders) + "]"]
    if interval_seconds is not None:
        lines.append(f"interval_seconds = {interval_seconds}")
    path.write_text("\n".join(lines) + "\n")
    return path


def import_numbered(root: Path, env: dict[str, str], ids: list[int], tag: str) -> None:
    """Import messages ``m{i}`` (from ``S{i}``, dated 2026-01-{i+1}, Message-ID
    ``<{tag}-{i}@example.net>``), in the order of ``ids``, with the real ``prx-email import``."""
    from email.message import EmailMessage

    mbox = root / "in.mbox"
    with mbox.open("wb") as fh:
        for i in ids:
            msg = EmailMessage()
            msg["From"] = f"S{i} <s{i}@example.net>"
            msg["To"] = "me@example.org"
            msg["Subject"] = f"m{i}"
            msg["Date"] = f"Thu, {i + 1:02d} Jan 2026 10:00:00 +0000"
            msg["Message-ID"] = f"<{tag}-{i}@example.net>"
            msg.set_content(f"body {i}\n")
            fh.write(b"From x@example.net Thu Jan  1 00:00:00 2026\n" + msg.as_bytes() + b"\n")
    cmd = [str(Path(sys.executable).with_name("prx-email")), "import", str(mbox)]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
