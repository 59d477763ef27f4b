"""email.forward end to end: the real component, a real Dovecot and a real aiosmtpd.

The original has a small attachment kept at sync and a larger one over the sync cap (not
kept): the inline forward must carry both, the second fetched by BODYPART. What the SMTP
server received is parsed with the email package and checked part by part.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import itertools
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fixtures.component import PluginFactory
from fixtures.dovecot import PW_ENV, DovecotServer, account
from fixtures.smtpd import SmtpSink
from helpers.mailbox import admin, server_flags
from helpers.outbox import smtp_server
from prx_email import Plugin
from prx_email.bridge import NETWORK_ENV
from prx_email.bridge.policy import MODE_ENV
from prx_email.config.model import AttachmentPolicy, Config, SendSettings
from prx_email.store.db import Database
from prx_email.store.outbox import OutboxRepo

pytestmark = [pytest.mark.integration, pytest.mark.component]

_n = itertools.count()
SMALL = b"small notes\n"
BIG = bytes(range(256)) * 16  # 4 KiB, over the 1 KiB sync cap below: not kept at sync
ADDRESS = "alice@example.org"


def original(tag: str) -> tuple[bytes, str]:
    mid = f"<orig.{tag}@example.org>"
    m = EmailMessage()
    m["From"] = "Bob Sender <bob@example.org>"
    m["To"] = ADDRESS
    m["Cc"] = "carol@example.org"
    m["Subject"] = f"Fw: Quarterly figures {tag}"
    m["Message-ID"] = mid
    m["References"] = "<root@example.org>"
    m["In-Reply-To"] = "<root@example.org>"
    m["Date"] = "Mon, 05 Feb 2024 10:00:00 +0000"
    m.set_content("The figures are attached.\n")
    m.add_attachment(SMALL, maintype="text", subtype="plain", filename="notes.txt")
    m.add_attachment(BIG, maintype="application", subtype="pdf", filename="figures.pdf")
    return bytes(m), mid


@dataclasses.dataclass
class Setup:
    plugin: Plugin
    db: Database
    smtpd: SmtpSink
    dovecot: DovecotServer
    folder: str
    key: int
    mid: str

    def forward(self, **args: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"account_id": 1, "message_id": self.key, "to": "dan@example.net"}
        return self.plugin.execute("email.forward", {**base, **args})


@pytest.fixture
def setup(
    dovecot: DovecotServer,
    smtpd: SmtpSink,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Setup:
    monkeypatch.setenv(PW_ENV, dovecot.password)
    monkeypatch.setenv(NETWORK_ENV, "1")
    folder = f"Fwd{next(_n)}{tmp_path.name[-4:]}".replace("_", "")
    raw, mid = original(folder)
    dovecot.add_messages([raw], folder)
    acc = dataclasses.replace(
        account(dovecot, folders=(folder,)),
        address=ADDRESS,
        smtp=smtp_server(smtpd),
        send=SendSettings(append_to_sent=False),
    )
    policy = AttachmentPolicy(root=tmp_path / "att", max_bytes=1024)
    db = Database(tmp_path / "mail.db")
    plugin = make_plugin(
        plugin_wasm, db=db, config=Config(accounts=(acc,), attachments=policy), deadline=30.0
    )
    assert plugin.execute("email.sync", {"account_id": 1, "folder": folder})["ok"]
    page = plugin.execute("email.list", {"account_id": 1, "folder": folder})["data"]
    (msg,) = page["messages"]
    stored = plugin.execute("email.get", {"account_id": 1, "id": msg["id"]})["data"]
    assert [a["stored"] for a in stored["attachments"]] == [True, False]
    return Setup(plugin, db, smtpd, dovecot, folder, msg["id"], mid)


def _attachments(m: EmailMessage) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for part in m.iter_attachments():
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        out[part.get_filename() or ""] = data
    return out


def test_inline_forward_carries_note_text_threading_and_every_attachment(setup: Setup) -> None:
    env = setup.forward(
        cc=["erin@example.net"], bcc="audit@example.net", body_text="FYI, see below."
    )
    assert env["ok"] is True, env
    assert env["data"]["status"] == "sent" and env["data"]["subject"].startswith("Fwd: ")
    (rec,) = setup.smtpd.received
    assert rec.rcpt_tos == ["dan@example.net", "erin@example.net", "audit@example.net"]
    m = rec.message
    assert m["Subject"] == f"Fwd: Quarterly figures {setup.folder}"
    assert m["From"] == ADDRESS and m["Bcc"] is None
    assert m["In-Reply-To"] == setup.mid
    assert m["References"].split() == ["<root@example.org>", setup.mid]
    body = m.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert text.index("FYI, see below.") < text.index("---------- Forwarded message ----------")
    assert "From: Bob Sender <bob@example.org>" in text and "Cc: carol@example.org" in text
    assert "The figures are attached." in text
    got = _attachments(m)
    assert got == {"notes.txt": SMALL, "figures.pdf": BIG}  # figures.pdf came by BODYPART
    # BODY.PEEK: forwarding did not mark the original read.
    flags = server_flags(setup.dovecot, setup.folder)
    assert all("\\Seen" not in f for f in flags.values())


def test_attachment_mode_attaches_the_original_as_received(setup: Setup) -> None:
    env = setup.forward(mode="attachment")
    assert env["ok"] is True, env
    (rec,) = setup.smtpd.received
    m = rec.message
    assert m["In-Reply-To"] == setup.mid
    parts = list(m.iter_attachments())
    assert [p.get_content_type() for p in parts] == ["message/rfc822"]
    assert parts[0].get_filename() == f"Fw: Quarterly figures {setup.folder}.eml"
    inner = parts[0].get_content()
    assert isinstance(inner, EmailMessage)
    assert inner["Message-ID"] == setup.mid and inner["Cc"] == "carol@example.org"
    assert _attachments(inner) == {"notes.txt": SMALL, "figures.pdf": BIG}
    # The attached original is the server's bytes, not a rebuild (7-bit clean: sent verbatim).
    imap = admin(setup.dovecot)
    imap.select(f'"{setup.folder}"', readonly=True)
    _, data = imap.uid("FETCH", "1", "(BODY.PEEK[])")
    imap.logout()
    server_raw = data[0][1]
    assert isinstance(server_raw, bytes)
    assert parts[0]["Content-Transfer-Encoding"] == "7bit"
    assert server_raw.replace(b"\r\n", b"\n") in rec.content.replace(b"\r\n", b"\n")


def test_an_attachment_that_cannot_be_had_fails_the_forward_and_sends_nothing(
    setup: Setup,
) -> None:
    m = admin(setup.dovecot)
    m.select(f'"{setup.folder}"')
    m.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
    m.expunge()
    m.logout()
    env = setup.forward(body_text="x")
    assert env["ok"] is False
    err = env["error"]
    assert err["code"] == "EMAIL_ATTACHMENT_UNAVAILABLE", err
    assert "figures.pdf" in err["message"] and "include_attachments" in err["hint"]
    assert OutboxRepo(setup.db).counts() == {}
    assert setup.smtpd.received == []
    # Without the attachments, the stored text is enough.
    ok = setup.forward(include_attachments=False)
    assert ok["ok"] is True, ok
    (rec,) = setup.smtpd.received
    assert _attachments(rec.message) == {}


def test_network_off_and_policy_refuse_before_anything_is_read_or_sent(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NETWORK_ENV)
    env = setup.forward(body_text="x")
    assert env["ok"] is False and env["error"]["code"] == "EMAIL_NETWORK_DISABLED", env
    monkeypatch.setenv(NETWORK_ENV, "1")
    for mode in ("draft_only", "read_only"):
        monkeypatch.setenv(MODE_ENV, mode)
        env = setup.forward(body_text="x")
        assert env["ok"] is False and env["error"]["code"] == "EMAIL_POLICY_DENIED", env
    assert OutboxRepo(setup.db).counts() == {}
    assert setup.smtpd.received == [] and setup.smtpd.handler.connections == 0


def test_an_html_note_gives_an_html_part_quoting_the_original(setup: Setup) -> None:
    """With an HTML note the forward has an HTML part; the bytes parse without defects."""
    assert setup.forward(body_html="<p>see <b>this</b></p>")["ok"]
    (rec,) = setup.smtpd.received
    parsed = email.message_from_bytes(rec.content, policy=email.policy.default)
    assert not parsed.defects
    html = parsed.get_body(("html",))
    assert html is not None and "<blockquote>" in html.get_content()


def test_a_scheduled_forward_waits_in_the_outbox_and_can_be_cancelled(setup: Setup) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    env = setup.forward(body_text="later", send_at=later.isoformat(timespec="seconds"))
    assert env["ok"] is True and env["data"]["status"] == "scheduled", env
    assert env["data"]["send_at"] == int(later.timestamp())
    bad = setup.forward(body_text="x", send_at="2001-01-01T00:00:00Z")  # in the past
    assert bad["ok"] is False and bad["error"]["code"] == "EMAIL_INVALID_ARGUMENT", bad
    cancelled = setup.plugin.execute("email.cancel", {"outbox_id": env["data"]["id"]})
    assert cancelled["ok"] is True and cancelled["data"]["status"] == "cancelled", cancelled
    assert setup.smtpd.received == [] and setup.smtpd.handler.connections == 0
