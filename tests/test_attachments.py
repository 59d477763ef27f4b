"""services.attachments: content-addressed saving and outgoing path checks (no escapes)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from prx_email.config.model import AttachmentPolicy
from prx_email.errors import AttachmentRejected, StorageError
from prx_email.services.attachments import (
    is_allowed_type,
    read_outgoing,
    resolve_outgoing_path,
    save_attachment,
    save_attachments,
    stored_path,
)
from prx_email.types import ParsedAttachment


def att(
    data: bytes, ctype: str = "application/pdf", name: str | None = "x.pdf"
) -> ParsedAttachment:
    return ParsedAttachment(name, ctype, data, hashlib.sha256(data).hexdigest())


@pytest.fixture
def policy(tmp_path: Path) -> AttachmentPolicy:
    return AttachmentPolicy(root=tmp_path / "root", max_bytes=1000)


def test_saves_by_hash_with_private_dirs(policy: AttachmentPolicy) -> None:
    a = att(b"%PDF-1.4 hello", name="../../etc/passwd")
    assert save_attachment(policy, a)
    path = stored_path(policy, a.sha256)
    assert policy.root is not None and path is not None
    assert path == policy.root / "received" / a.sha256[:2] / a.sha256
    assert path.read_bytes() == a.data
    for d in (policy.root / "received", path.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert save_attachment(policy, a)  # idempotent
    assert sorted(p.name for p in path.parent.iterdir()) == [a.sha256]


def test_policy_refusals_are_not_stored(policy: AttachmentPolicy, tmp_path: Path) -> None:
    metas = save_attachments(
        policy,
        [
            att(b"x" * 1001),  # over max_bytes
            att(b"MZ", "application/x-msdownload", "evil.exe"),  # type not allowed
            att(b"png", "image/png", "a.png"),
            att(b"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ],
    )
    assert [m.stored for m in metas] == [False, False, True, True]
    assert [m.index for m in metas] == [0, 1, 2, 3]
    assert not save_attachment(AttachmentPolicy(root=None), att(b"x"))
    bogus = ParsedAttachment("a", "text/plain", b"x", "../../" + "0" * 58)
    assert not save_attachment(policy, bogus)
    assert stored_path(policy, "../" * 20) is None


def test_symlinked_subdir_is_refused(policy: AttachmentPolicy, tmp_path: Path) -> None:
    assert policy.root is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    policy.root.mkdir()
    os.symlink(outside, policy.root / "received")
    with pytest.raises(StorageError):
        save_attachment(policy, att(b"data"))
    assert list(outside.iterdir()) == []


def test_symlinked_hash_dir_is_refused(policy: AttachmentPolicy, tmp_path: Path) -> None:
    assert policy.root is not None
    a = att(b"data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (policy.root / "received").mkdir(parents=True)
    os.symlink(outside, policy.root / "received" / a.sha256[:2])
    with pytest.raises(StorageError):
        save_attachment(policy, a)
    assert list(outside.iterdir()) == []


def test_planted_symlink_file_is_replaced_not_followed(
    policy: AttachmentPolicy, tmp_path: Path
) -> None:
    assert policy.root is not None
    a = att(b"data")
    target = tmp_path / "victim"
    target.write_bytes(b"keep")
    leaf = policy.root / "received" / a.sha256[:2]
    leaf.mkdir(parents=True)
    os.symlink(target, leaf / a.sha256)
    assert save_attachment(policy, a)
    assert target.read_bytes() == b"keep"
    assert not (leaf / a.sha256).is_symlink()


def test_allowed_type_patterns() -> None:
    p = AttachmentPolicy()
    assert is_allowed_type(p, "IMAGE/PNG; name=x")
    assert is_allowed_type(p, "text/csv")
    assert not is_allowed_type(p, "application/x-sh")


@pytest.fixture
def outgoing(policy: AttachmentPolicy, tmp_path: Path) -> AttachmentPolicy:
    assert policy.root is not None
    (policy.root / "docs").mkdir(parents=True)
    (policy.root / "docs" / "report.pdf").write_bytes(b"%PDF small")
    (policy.root / "big.pdf").write_bytes(b"x" * 1001)
    (policy.root / "tool.exe").write_bytes(b"MZ")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", policy.root / "link.txt")
    os.symlink(tmp_path, policy.root / "escape")
    os.symlink(policy.root / "docs" / "report.pdf", policy.root / "inside-link.pdf")
    return policy


def test_outgoing_paths_inside_root_resolve(outgoing: AttachmentPolicy) -> None:
    assert outgoing.root is not None
    real = outgoing.root.resolve() / "docs" / "report.pdf"
    assert resolve_outgoing_path(outgoing, "docs/report.pdf") == real
    assert resolve_outgoing_path(outgoing, str(real)) == real
    assert resolve_outgoing_path(outgoing, "inside-link.pdf") == real
    assert read_outgoing(outgoing, "docs/report.pdf") == b"%PDF small"


@pytest.mark.parametrize(
    "user_path",
    [
        "../secret.txt",
        "docs/../../secret.txt",
        "docs/../report.pdf",  # '..' is refused even when it would stay inside
        "/etc/passwd",
        "link.txt",  # symlink to a file outside
        "escape/secret.txt",  # symlinked directory outside
        "big.pdf",  # over max_bytes
        "tool.exe",  # type not allowed
        "missing.pdf",
        "docs",  # a directory
        "",
        "a\x00b",
        ".",
    ],
)
def test_outgoing_paths_refused(outgoing: AttachmentPolicy, user_path: str) -> None:
    with pytest.raises(AttachmentRejected) as info:
        resolve_outgoing_path(outgoing, user_path)
    assert info.value.hint


def test_outgoing_content_type_override_and_no_root(outgoing: AttachmentPolicy) -> None:
    with pytest.raises(AttachmentRejected):
        resolve_outgoing_path(outgoing, "docs/report.pdf", content_type="application/x-sh")
    with pytest.raises(AttachmentRejected) as info:
        resolve_outgoing_path(AttachmentPolicy(root=None), "docs/report.pdf")
    assert info.value.hint is not None and "root" in info.value.hint
