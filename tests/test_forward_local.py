"""email.forward of a message imported from a local mailbox (no server copy), against a real
aiosmtpd: attachment mode rebuilds the original from the store; an attachment the import did
not keep cannot be had, so the forward fails and nothing is queued or sent."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from fixtures.smtpd import SmtpSink
from helpers.outbox import account, context
from prx_email.config.model import AttachmentPolicy
from prx_email.errors import AttachmentUnavailable
from prx_email.services import outbox
from prx_email.services.importer import import_path
from prx_email.store.outbox import OutboxRepo
from prx_email.types import ForwardMode, ForwardRequest

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4 imported\n"


def _eml(path: Path) -> Path:
    m = EmailMessage()
    m["From"] = "Old Friend <friend@example.org>"
    m["To"] = "me@example.com"
    m["Subject"] = "Photos from the trip"
    m["Message-ID"] = "<trip@example.org>"
    m["Date"] = "Tue, 06 Feb 2024 09:00:00 +0000"
    m.set_content("Here they are.\n")
    m.add_attachment(PDF, maintype="application", subtype="pdf", filename="trip.pdf")
    path.write_bytes(bytes(m))
    return path


async def test_imported_original_is_rebuilt_for_attachment_mode(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    policy = AttachmentPolicy(root=tmp_path / "att")
    ctx = context(tmp_path / "db", account(smtpd), attachments=policy)
    import_path(ctx.db, _eml(tmp_path / "one.eml"), attachments=policy)
    req = ForwardRequest(1, 1, ("dan@example.net",), mode=ForwardMode.ATTACHMENT)
    entry = await outbox.forward(ctx, req)
    assert entry.status.value == "sent"
    (rec,) = smtpd.received
    m = rec.message
    assert m["Subject"] == "Fwd: Photos from the trip" and m["In-Reply-To"] == "<trip@example.org>"
    (part,) = m.iter_attachments()
    assert part.get_content_type() == "message/rfc822"
    inner = part.get_content()
    assert isinstance(inner, EmailMessage)
    assert inner["Message-ID"] == "<trip@example.org>"
    assert inner["From"] == "Old Friend <friend@example.org>"
    body = inner.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Here they are."
    (att,) = inner.iter_attachments()
    assert att.get_filename() == "trip.pdf" and att.get_payload(decode=True) == PDF


async def test_attachment_not_kept_at_import_fails_the_forward(
    smtpd: SmtpSink, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "db", account(smtpd))
    import_path(ctx.db, _eml(tmp_path / "one.eml"))  # no attachment root: metadata only
    for mode in (ForwardMode.INLINE, ForwardMode.ATTACHMENT):
        with pytest.raises(AttachmentUnavailable) as exc:
            await outbox.forward(ctx, ForwardRequest(1, 1, ("dan@example.net",), mode=mode))
        assert "trip.pdf" in exc.value.message and exc.value.hint
    assert OutboxRepo(ctx.db).counts() == {} and smtpd.received == []
    req = ForwardRequest(
        1, 1, ("dan@example.net",), body_text="Old news", include_attachments=False
    )
    await outbox.forward(ctx, req)
    (rec,) = smtpd.received
    text = rec.message.get_body(("plain",))
    assert text is not None and "Here they are." in text.get_content()
    assert list(rec.message.iter_attachments()) == []
