"""The audit log's hash chain (store/audit.py) and argument digest, without the component.

Tampering is done the way an attacker with the file would: raw sqlite on the store. The
concurrency test appends from two processes at once and checks one valid chain.
"""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import cli_env, run_cli
from prx_email.services.audit import Auditor, digest, record_decision
from prx_email.store.audit import GENESIS, AuditRepo, entry_hash
from prx_email.store.db import Database
from wasmtime.component import Record, Variant


def _filled(tmp_path: Path, n: int = 5) -> Path:
    path = tmp_path / "audit.db"
    db = Database(path)
    auditor = Auditor(db, "cli")
    for i in range(n):
        auditor.record("mark", {"account-id": 1, "ids": [i], "add": ["seen"]}, "ok")
    db.close()
    return path


def _raw(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def _verify(path: Path) -> tuple[bool, int | None, str]:
    db = Database(path)
    try:
        status = AuditRepo(db).verify()
    finally:
        db.close()
    return status.ok, status.bad_id, status.reason


def test_an_untouched_chain_verifies_and_links_every_entry(tmp_path: Path) -> None:
    path = _filled(tmp_path)
    db = Database(path)
    entries = list(AuditRepo(db).iter_all())
    db.close()
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert {e.entry_point for e in entries} == {"cli"} and entries[2].account_id == 1
    assert _verify(path) == (True, None, "")


@pytest.mark.parametrize(
    ("statements", "bad_id", "words"),
    [
        # An edited outcome: the row no longer matches its own hash.
        (["UPDATE audit_log SET outcome = 'EMAIL_POLICY_DENIED' WHERE id = 3"], 3, "content"),
        (["DELETE FROM audit_log WHERE id = 2"], 3, "missing"),
        # Swapped: rows 2 and 4 exchange everything but their ids.
        (
            [
                "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE id IN (2, 4)",
                "UPDATE audit_log SET (ts, entry_point, tool, account_id, args, outcome, run_id,"
                " prev_hash, hash) = (SELECT ts, entry_point, tool, account_id, args, outcome,"
                " run_id, prev_hash, hash FROM t WHERE t.id = 6 - audit_log.id)"
                " WHERE id IN (2, 4)",
            ],
            2,
            "prev_hash",
        ),
        # Deleted, and the ids after it shifted down to hide the gap.
        (
            [
                "DELETE FROM audit_log WHERE id = 2",
                "UPDATE audit_log SET id = id - 1 WHERE id > 2",
            ],
            2,
            "prev_hash",
        ),
    ],
    ids=["edited", "deleted", "swapped", "deleted-renumbered"],
)
def test_tampering_is_named_by_verify(
    tmp_path: Path, statements: list[str], bad_id: int, words: str
) -> None:
    path = _filled(tmp_path)
    _raw(path, *statements)
    ok, bad, reason = _verify(path)
    assert (ok, bad) == (False, bad_id) and words in reason


def test_a_rehashed_edit_is_caught_at_the_next_entry(tmp_path: Path) -> None:
    path = _filled(tmp_path)
    db = Database(path)
    third = list(AuditRepo(db).iter_all())[2]
    db.close()
    fields = {k: v for k, v in third.to_json().items() if k not in ("prev_hash", "hash")}
    fields["outcome"] = "EMAIL_INTERNAL"
    forged = entry_hash(third.prev_hash, fields)
    _raw(path, f"UPDATE audit_log SET outcome = 'EMAIL_INTERNAL', hash = '{forged}' WHERE id = 3")
    assert _verify(path)[:2] == (False, 4)


def test_cli_verify_list_and_export(tmp_path: Path) -> None:
    path = _filled(tmp_path, 3)
    env = cli_env(tmp_path, PRX_EMAIL_DB=str(path))
    good = run_cli("audit", "verify", env=env)
    assert good.returncode == 0 and "3 entries" in good.stdout, good.stderr
    out = tmp_path / "audit.jsonl"
    exported = run_cli("audit", "export", "--output", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    assert len(out.read_text().splitlines()) == 3 and out.stat().st_mode & 0o077 == 0
    _raw(path, "UPDATE audit_log SET tool = 'send' WHERE id = 2")
    bad = run_cli("audit", "verify", env=env)
    assert bad.returncode == 1 and "entry 2" in bad.stdout
    listed = run_cli("audit", "list", "--limit", "2", env=env)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2


def test_operator_outbox_commands_are_audited(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    missing = run_cli("outbox", "cancel", "99", env=env)
    assert missing.returncode != 0
    db = Database(tmp_path / "mail.db")
    (entry,) = AuditRepo(db).iter_all()
    db.close()
    assert (entry.entry_point, entry.tool, entry.args) == ("cli", "cancel", {"outbox-id": 99})
    assert entry.outcome.startswith("EMAIL_") and entry.outcome != "EMAIL_INTERNAL"


_WRITER = """
import sys
from prx_email.services.audit import Auditor
from prx_email.store.db import Database
db = Database(sys.argv[1])
auditor = Auditor(db, "cli")
for i in range(int(sys.argv[2])):
    assert auditor.record("mark", {"ids": [i], "name": sys.argv[3]}, "ok") is not None
db.close()
"""


def test_two_processes_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    Database(path).close()  # migrated before the writers race
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "60", name])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    db = Database(path)
    entries = list(AuditRepo(db).iter_all())
    status = AuditRepo(db).verify()
    db.close()
    assert len(entries) == 120 and status.ok and status.checked == 120
    assert {e.args["name"] for e in entries} == {"a", "b"}


def _record(**fields: object) -> Record:
    rec = Record()
    for key, value in fields.items():
        setattr(rec, key, value)
    return rec


def test_the_digest_keeps_subject_and_recipients_and_hashes_bodies() -> None:
    attachment = _record(
        source=Variant("base64", "U0VDUkVULUFUVEFDSE1FTlQ="),
        filename="a.txt",
        **{"content-type": None},
    )
    msg = _record(
        **{"account-id": 1, "body-text": "SECRET-BODY words", "body-html": None, "send-at": None},
        to=["bob@example.org"],
        cc=[],
        bcc=["hidden@example.net"],
        subject="Quarterly",
        attachments=[attachment],
    )
    kept = digest({"message": msg})["message"]
    assert kept["to"] == ["bob@example.org"] and kept["bcc"] == ["hidden@example.net"]
    assert kept["subject"] == "Quarterly" and kept["account-id"] == 1
    assert kept["body-text"]["chars"] == 17 and len(kept["body-text"]["sha256"]) == 64
    assert "SECRET" not in repr(kept) and "U0VDUkVU" not in repr(kept)
    assert kept["attachments"][0]["filename"] == "a.txt"


def test_record_decision_is_the_entry_point_for_approvals(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db")
    entry = record_decision(
        db,
        "approve",
        {"outbox-id": 7, "hash": "ab" * 32},
        "ok",
        entry_point="console",
        account_id=1,
    )
    assert entry is not None and entry.entry_point == "console" and entry.args["hash"] == "ab" * 32
    assert AuditRepo(db).verify().ok
    db.close()
