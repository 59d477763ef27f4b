"""services.importer: mbox, Maildir, .eml trees and single files; idempotent re-imports;
Maildir and mbox flags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prx_email.config.model import AttachmentPolicy
from prx_email.errors import InvalidArgument, NotFound
from prx_email.services.attachments import stored_path
from prx_email.services.importer import (
    MAILDIR_FLAGS,
    MBOX_STATUS_FLAGS,
    MBOX_X_STATUS_FLAGS,
    ImportReport,
    import_path,
    iter_mbox,
    maildir_flags,
    mbox_flags,
)
from prx_email.services.mailbox import get_message, list_messages
from prx_email.store.db import Database
from prx_email.types import ListQuery

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.mbox"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "store.db")
    yield database
    database.close()


def eml(n: int) -> bytes:
    return (
        f"From: s{n}@example.com\nSubject: note {n}\nMessage-ID: <n{n}@x>\n"
        f"Date: Mon, {n} Jun 2026 10:00:00 +0000\n\nbody {n}\n"
    ).encode()


def test_sample_mbox_imports_once(db: Database) -> None:
    assert import_path(db, SAMPLE) == ImportReport(imported=12, skipped=0, failed=0)
    assert import_path(db, SAMPLE) == ImportReport(imported=0, skipped=12, failed=0)
    page = list_messages(db, ListQuery(1, limit=500))
    assert len(page.messages) == 12
    assert all(m.uid is None and m.folder == "INBOX" for m in page.messages)


def test_mbox_splitting_and_from_unescaping(tmp_path: Path) -> None:
    box = tmp_path / "box.mbox"
    box.write_bytes(
        b"From a@x Mon Jan  1 00:00:00 2026\nSubject: one\n\nline\n>From here\n>>From there\n"
        b"From inside a paragraph is not a separator\n\n"
        b"From b@x Mon Jan  1 00:00:00 2026\nSubject: two\n\nsecond\n"
    )
    messages = list(iter_mbox(box))
    assert len(messages) == 2
    assert messages[0].endswith(
        b"line\nFrom here\n>From there\nFrom inside a paragraph is not a separator\n"
    )
    assert messages[1] == b"Subject: two\n\nsecond\n"


def test_batches_and_folders(db: Database, tmp_path: Path) -> None:
    box = tmp_path / "many.mbox"
    box.write_bytes(
        b"".join(
            b"From x Mon Jan  1 00:00:00 2026\n"
            + eml(i % 28 + 1).replace(b"note", b"n%d" % i)
            + b"\n"
            for i in range(23)
        )
    )
    assert import_path(db, box, folder="Archive", batch_size=5).imported == 23
    assert import_path(db, box, folder="Archive", batch_size=7).skipped == 23
    assert import_path(db, box, account_id=2, folder="INBOX").imported == 23
    assert len(list_messages(db, ListQuery(1, folder="Archive", limit=500)).messages) == 23


def test_maildir_flags_and_idempotence(db: Database, tmp_path: Path) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "new" / "1700000000.1.host").write_bytes(eml(1))
    (md / "cur" / "1700000000.2.host:2,S").write_bytes(eml(2))
    (md / "cur" / "1700000000.3.host:2,FRS").write_bytes(eml(3))
    (md / "cur" / "1700000000.4.host:2,DT").write_bytes(eml(4))
    (md / "tmp" / "1700000000.5.host").write_bytes(eml(5))  # being delivered: ignored
    assert import_path(db, md) == ImportReport(imported=4, skipped=0, failed=0)
    flags = {m.subject: m.flags for m in list_messages(db, ListQuery(1)).messages}
    assert flags == {
        "note 1": (),
        "note 2": ("\\Seen",),
        "note 3": ("\\Flagged", "\\Answered", "\\Seen"),
        "note 4": ("\\Draft", "\\Deleted"),
    }
    unseen = list_messages(db, ListQuery(1, unseen_only=True)).messages
    assert {m.subject for m in unseen} == {"note 1", "note 4"}
    assert import_path(db, md).skipped == 4


def test_single_message_file(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "one.eml"
    f.write_bytes(eml(9))
    assert import_path(db, f).imported == 1
    assert list_messages(db, ListQuery(1)).messages[0].subject == "note 9"


def test_unreadable_maildir_file_counts_as_failed(db: Database, tmp_path: Path) -> None:
    md = tmp_path / "md"
    (md / "cur").mkdir(parents=True)
    (md / "cur" / "ok:2,S").write_bytes(eml(1))
    (md / "cur" / "dir-not-file").mkdir()
    assert import_path(db, md) == ImportReport(imported=1, skipped=0, failed=1)


def test_bad_paths(db: Database, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        import_path(db, tmp_path / "missing")
    (tmp_path / "plain-dir").mkdir()
    with pytest.raises(InvalidArgument):
        import_path(db, tmp_path / "plain-dir")


def test_attachments_saved_when_a_root_is_configured(db: Database, tmp_path: Path) -> None:
    policy = AttachmentPolicy(root=tmp_path / "att")
    import_path(db, SAMPLE, attachments=policy)
    with_att = [m for m in list_messages(db, ListQuery(1)).messages if m.has_attachments]
    assert len(with_att) == 1
    msg = get_message(db, 1, with_att[0].id)
    assert msg is not None
    meta = msg.attachments[0]
    assert meta.stored
    path = stored_path(policy, meta.sha256)
    assert path is not None and path.read_bytes().startswith("Région".encode())


# -- flags and .eml trees (issue 10 item 16) ---------------------------------------------------


def _flags_by_subject(db: Database, folder: str = "INBOX") -> dict[str, tuple[str, ...]]:
    page = list_messages(db, ListQuery(1, folder=folder, limit=500))
    return {m.subject: tuple(sorted(m.flags)) for m in page.messages}


def test_mbox_status_and_x_status_flags(db: Database, tmp_path: Path) -> None:
    box = tmp_path / "mutt.mbox"
    box.write_bytes(
        b"From a@x Mon Jan  1 00:00:00 2026\nSubject: read\nStatus: RO\n\nbody\n\n"
        b"From a@x Mon Jan  1 00:00:00 2026\nSubject: old unread\nStatus: O\n\nbody\n\n"
        b"From a@x Mon Jan  1 00:00:00 2026\nSubject: new\n\nbody\n\n"
        b"From a@x Mon Jan  1 00:00:00 2026\nSubject: replied flagged\nStatus: RO\n"
        b"X-Status: AF\n\nbody\n\n"
        b"From a@x Mon Jan  1 00:00:00 2026\nSubject: deleted draft\r\nstatus: R\r\n"
        b"x-status: DT\r\n\r\nX-Status: F in the body is not a header\r\n\n"
        b"From a@x Mon Jan  1 00:00:00 2026\nSubject: body only\n\nStatus: R\nX-Status: F\n"
    )
    assert import_path(db, box).imported == 6
    assert _flags_by_subject(db) == {
        "read": ("\\Seen",),
        "old unread": (),
        "new": (),
        "replied flagged": ("\\Answered", "\\Flagged", "\\Seen"),
        "deleted draft": ("\\Deleted", "\\Draft", "\\Seen"),
        "body only": (),
    }
    unseen = list_messages(db, ListQuery(1, unseen_only=True)).messages
    assert {m.subject for m in unseen} == {"old unread", "new", "body only"}
    assert import_path(db, box).skipped == 6  # still idempotent


def test_maildir_all_letters_and_both_separators(db: Database, tmp_path: Path) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.host!2,S").write_bytes(eml(1))  # Windows-safe separator
    (md / "cur" / "2.host!2,PRS").write_bytes(eml(2))
    (md / "cur" / "3.host:2,DFPRST").write_bytes(eml(3))
    (md / "cur" / "4.host,S=1234:2,").write_bytes(eml(4))  # size field, no flags
    (md / "cur" / "5.host:2,Sa").write_bytes(eml(5))  # lowercase = custom keyword: ignored
    assert import_path(db, md).imported == 5
    assert _flags_by_subject(db) == {
        "note 1": ("\\Seen",),
        "note 2": ("$Forwarded", "\\Answered", "\\Seen"),
        "note 3": ("$Forwarded", "\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen"),
        "note 4": (),
        "note 5": ("\\Seen",),
    }


def test_directory_of_eml_files_recursively(db: Database, tmp_path: Path) -> None:
    tree = tmp_path / "export"
    (tree / "2025" / "q4").mkdir(parents=True)
    (tree / ".hidden").mkdir()
    (tree / "a.eml").write_bytes(eml(1))
    (tree / "2025" / "b.EML").write_bytes(eml(2).replace(b"\n\n", b"\nStatus: RO\n\n", 1))
    (tree / "2025" / "q4" / "c.eml").write_bytes(eml(3))
    (tree / "2025" / "q4" / "notes.txt").write_bytes(b"not mail")
    (tree / ".hidden" / "d.eml").write_bytes(eml(4))
    (tree / "2025" / "q4" / "dup.eml").write_bytes(eml(3))  # same bytes as c.eml
    assert import_path(db, tree, folder="Archive") == ImportReport(imported=3, skipped=1)
    assert _flags_by_subject(db, "Archive") == {
        "note 1": (),
        "note 2": ("\\Seen",),
        "note 3": (),
    }
    assert import_path(db, tree, folder="Archive") == ImportReport(imported=0, skipped=4)


def test_directory_without_mail_is_refused(db: Database, tmp_path: Path) -> None:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "readme.txt").write_text("hi")
    with pytest.raises(InvalidArgument, match=r"no \.eml files") as info:
        import_path(db, d)
    assert info.value.hint and ".eml" in info.value.hint


# -- properties of the flag parsers -----------------------------------------------------------

_KNOWN = set(MAILDIR_FLAGS.values()) | set(MBOX_STATUS_FLAGS.values())
_KNOWN |= set(MBOX_X_STATUS_FLAGS.values())


@given(
    base=st.text(st.characters(blacklist_characters="/\x00"), max_size=30),
    sep=st.sampled_from([":2,", "!2,"]),
    info=st.text(alphabet="DFPRSTabcz", max_size=10),
)
def test_maildir_flags_are_exactly_the_info_letters(base: str, sep: str, info: str) -> None:
    got = maildir_flags(base + sep + info)
    assert set(got) == {MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS}
    assert len(got) == len(set(got))


@given(st.binary(max_size=300))
def test_mbox_flags_never_fail_and_only_known_flags(raw: bytes) -> None:
    assert set(mbox_flags(raw)) <= _KNOWN


@given(
    status=st.text(alphabet="ROro ", max_size=4),
    x_status=st.text(alphabet="AFDTaz ", max_size=5),
    body=st.binary(max_size=100),
)
def test_mbox_flags_come_from_the_headers_only(status: str, x_status: str, body: bytes) -> None:
    raw = f"Subject: x\nStatus: {status}\nX-Status: {x_status}\n\n".encode() + body
    expected = {MBOX_STATUS_FLAGS[c] for c in status if c in MBOX_STATUS_FLAGS}
    expected |= {MBOX_X_STATUS_FLAGS[c] for c in x_status if c in MBOX_X_STATUS_FLAGS}
    assert set(mbox_flags(raw)) == expected
