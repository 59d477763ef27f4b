"""A message imported from a local mailbox (no server UID) answers ``local_only`` from
move, archive, delete, mark and label: nothing is sent for it, the store row is unchanged,
and a synced message in the same call is still acted on (real Dovecot)."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers.mailbox import server_flags
from prx_email.services import actions
from prx_email.services import sync as sync_service
from prx_email.services.importer import import_path
from prx_email.store import mailbox as store
from prx_email.types import ActionOutcome, SyncRequest

pytestmark = pytest.mark.integration


def _eml(subject: str) -> bytes:
    m = EmailMessage()
    m["From"] = "Local <local@example.org>"
    m["To"] = "alice@example.org"
    m["Subject"] = subject
    m["Message-ID"] = f"<{subject.replace(' ', '.')}@example.org>"
    m.set_content("imported\n")
    return bytes(m)


async def test_imported_message_is_local_only_and_nothing_is_sent(
    dovecot, make_ctx, tmp_path: Path
) -> None:
    ctx = make_ctx()
    folder = f"LocalOnly{uuid.uuid4().hex[:8]}"
    dovecot.add_messages([_eml(f"server copy {folder}")], folder)
    await sync_service.sync(ctx, SyncRequest(account_id=1, folder=folder))
    (synced,) = [int(r[0]) for r in ctx.db.connect().execute("SELECT id FROM messages")]
    eml = tmp_path / "one.eml"
    eml.write_bytes(_eml(f"imported {folder}"))
    import_path(ctx.db, eml, account_id=1, folder=folder)
    (local,) = [
        int(r[0]) for r in ctx.db.connect().execute("SELECT id FROM messages WHERE uid IS NULL")
    ]
    before = store.locate(ctx.db, 1, [local])[local]

    marked = await actions.mark(ctx, 1, [local, synced], add=["flagged"])
    assert [r.outcome for r in marked] == [ActionOutcome.LOCAL_ONLY, ActionOutcome.CHANGED]
    assert marked[0].folder == folder and marked[0].uid is None
    labelled = await actions.label(ctx, 1, [local], add=["Receipts"])
    assert [r.outcome for r in labelled] == [ActionOutcome.LOCAL_ONLY]
    for res in (
        await actions.move(ctx, 1, [local], folder=folder),  # its own folder: still local_only
        await actions.move(ctx, 1, [local], folder="INBOX"),
        await actions.delete(ctx, 1, [local], permanent=True),
    ):
        assert [r.outcome for r in res] == [ActionOutcome.LOCAL_ONLY]
    # The server holds only the synced message, flagged; the imported row is as it was.
    assert list(server_flags(dovecot, folder).values()) == [{"\\Flagged"}]
    assert store.locate(ctx.db, 1, [local])[local] == before
