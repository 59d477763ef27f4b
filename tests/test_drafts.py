"""email.draft_* end to end: the sandboxed guest, the host functions, a real Dovecot.

Every effect is checked over a second, independent IMAP connection (stdlib ``imaplib``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import PW_ENV, DovecotServer, account, free_port, start_dovecot
from helpers.imap import Imap
from prx_email import NETWORK_ENV, Plugin, open_plugin
from prx_email.config import Config
from prx_email.config.model import AccountConfig, SendSettings
from prx_email.store.db import Database

pytestmark = [pytest.mark.integration, pytest.mark.component]


def draft_account(dovecot: DovecotServer, **send: Any) -> AccountConfig:
    acc = account(dovecot)
    settings = dataclasses.replace(
        SendSettings(), **{"drafts_folder": "Drafts", "sent_folder": "Sent", **send}
    )
    return dataclasses.replace(acc, send=settings)


@pytest.fixture
def folders(dovecot: DovecotServer) -> DovecotServer:
    for name in ("Drafts", "Sent", "Trash", "Archive"):
        dovecot.create_folder(name)
    return dovecot


@pytest.fixture
def imap(folders: DovecotServer) -> Iterator[Imap]:
    conn = Imap(folders)
    yield conn
    conn.close()


def _open(tmp_path: Path, plugin_wasm: Path, acc: AccountConfig, **kw: Any) -> Plugin:
    return open_plugin(
        db=Database(tmp_path / "mail.db"),
        config=Config(accounts=(acc,)),
        component=plugin_wasm,
        deadline=30.0,
        **kw,
    )


@pytest.fixture
def plugin(
    folders: DovecotServer, tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Plugin]:
    monkeypatch.setenv(PW_ENV, folders.password)
    monkeypatch.setenv(NETWORK_ENV, "1")
    with _open(tmp_path, plugin_wasm, draft_account(folders)) as p:
        yield p


def ok(envelope: dict[str, Any]) -> Any:
    assert envelope["ok"] is True, envelope
    return envelope["data"]


DRAFT = {
    "account_id": 1,
    "to": ["Bob <bob@example.org>", "carol@example.org"],
    "subject": "Quarterly numbers",
    "body_html": "<p>Hello <b>Bob</b>,</p><ul><li>revenue up</li></ul>",
}


def test_create_appends_to_drafts_with_the_draft_flag_and_derived_text(
    plugin: Plugin, imap: Imap
) -> None:
    info = ok(plugin.execute("email.draft_create", DRAFT))
    assert info["folder"] == "Drafts" and info["account_id"] == 1
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", info["draft_id"])
    (uid,) = imap.find("Drafts", info["draft_id"])
    assert info["uid"] == int(uid)  # Dovecot has UIDPLUS: APPENDUID reported it
    flags, msg = imap.fetch("Drafts", uid)
    assert "\\Draft" in flags.split()
    assert msg["Message-ID"] == info["draft_id"]
    assert msg["Subject"] == "Quarterly numbers"
    assert msg["From"] == "alice@example.org"
    assert msg["To"] == "Bob <bob@example.org>, carol@example.org"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert "Hello **Bob**" in plain and "* revenue up" in plain  # html2text's rendering
    assert "<" not in plain
    assert imap.find("Sent", info["draft_id"]) == []


def test_status_follows_the_draft_drafted_sent_discarded(plugin: Plugin, imap: Imap) -> None:
    sent = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    dropped = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": sent}))
    assert status["state"] == "drafted" and status["folder"] == "Drafts"

    (uid,) = imap.find("Drafts", sent)
    imap.move("Drafts", "Sent", uid)  # what a mail client does when the person sends it
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": sent}))
    assert (status["state"], status["folder"], status["reason"]) == ("sent", "Sent", None)

    (uid,) = imap.find("Drafts", dropped)
    imap.move("Drafts", "Trash", uid)  # discarded: Trash does not count as sent
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": dropped}))
    assert status["state"] == "discarded" and status["folder"] is None


def test_status_finds_a_sent_copy_in_any_other_folder(plugin: Plugin, imap: Imap) -> None:
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    (uid,) = imap.find("Drafts", draft_id)
    imap.move("Drafts", "Archive", uid)
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": draft_id}))
    assert (status["state"], status["folder"]) == ("sent", "Archive")


def test_deleting_on_the_server_makes_it_discarded(plugin: Plugin, imap: Imap) -> None:
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    (uid,) = imap.find("Drafts", draft_id)
    imap.delete("Drafts", uid)
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": draft_id}))
    assert status["state"] == "discarded"


def test_update_replaces_the_content_and_keeps_the_identity(plugin: Plugin, imap: Imap) -> None:
    first = ok(plugin.execute("email.draft_create", DRAFT))
    draft_id = first["draft_id"]
    new = {**DRAFT, "draft_id": draft_id, "subject": "Quarterly numbers v2", "body_text": "v2"}
    del new["body_html"]
    second = ok(plugin.execute("email.draft_update", new))
    assert second["draft_id"] == draft_id and second["uid"] != first["uid"]
    (uid,) = imap.find("Drafts", draft_id)
    assert int(uid) == second["uid"]
    flags, msg = imap.fetch("Drafts", uid)
    assert "\\Draft" in flags.split()
    assert msg["Subject"] == "Quarterly numbers v2"
    assert msg.get_body(("plain",)).get_content().strip() == "v2"  # type: ignore[union-attr]


def test_update_after_a_crash_between_append_and_expunge_leaves_one_copy(
    plugin: Plugin, imap: Imap
) -> None:
    info = ok(plugin.execute("email.draft_create", DRAFT))
    draft_id = info["draft_id"]
    (uid,) = imap.find("Drafts", draft_id)
    _, msg = imap.fetch("Drafts", uid)
    imap.append("Drafts", msg.as_bytes())  # the state a crash after APPEND leaves
    assert len(imap.find("Drafts", draft_id)) == 2
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": draft_id}))
    assert status["state"] == "drafted"  # two copies are still one draft
    ok(plugin.execute("email.draft_update", {**DRAFT, "draft_id": draft_id, "subject": "v3"}))
    (only,) = imap.find("Drafts", draft_id)
    assert imap.fetch("Drafts", only)[1]["Subject"] == "v3"


def test_delete_removes_every_copy_and_then_answers_not_found(plugin: Plugin, imap: Imap) -> None:
    draft_id = ok(plugin.execute("email.draft_create", DRAFT))["draft_id"]
    args = {"account_id": 1, "draft_id": draft_id}
    assert ok(plugin.execute("email.draft_delete", args)) == {"draft_id": draft_id, "removed": 1}
    assert imap.find("Drafts", draft_id) == []
    again = plugin.execute("email.draft_delete", args)
    assert again["ok"] is False and again["error"]["code"] == "EMAIL_NOT_FOUND"
    upd = plugin.execute("email.draft_update", {**DRAFT, "draft_id": draft_id})
    assert upd["ok"] is False and upd["error"]["code"] == "EMAIL_NOT_FOUND"


def test_a_reply_draft_carries_the_threading_headers(plugin: Plugin, imap: Imap) -> None:
    parent = "<parent-1@example.net>"
    args = {**DRAFT, "in_reply_to_message_id": parent, "subject": "Re: numbers"}
    draft_id = ok(plugin.execute("email.draft_create", args))["draft_id"]
    (uid,) = imap.find("Drafts", draft_id)
    _, msg = imap.fetch("Drafts", uid)
    assert msg["In-Reply-To"] == parent and msg["References"] == parent


def test_both_parents_at_once_are_refused_in_the_guest(plugin: Plugin) -> None:
    args = {**DRAFT, "in_reply_to": 1, "in_reply_to_message_id": "<a@b>"}
    envelope = plugin.execute("email.draft_create", args)
    assert envelope["error"]["code"] == "EMAIL_INVALID_ARGUMENT"


def test_a_bad_draft_id_is_refused(plugin: Plugin) -> None:
    envelope = plugin.execute("email.draft_status", {"account_id": 1, "draft_id": "no at sign"})
    assert envelope["error"]["code"] == "EMAIL_INVALID_ARGUMENT", envelope


def test_network_flag_off_writes_nothing(
    folders: DovecotServer,
    imap: Imap,
    tmp_path: Path,
    plugin_wasm: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    monkeypatch.setenv(PW_ENV, folders.password)
    marker = {**DRAFT, "subject": "never-written-" + tmp_path.name}
    with _open(tmp_path, plugin_wasm, draft_account(folders)) as plugin:
        for tool, args in [
            ("email.draft_create", marker),
            ("email.draft_status", {"account_id": 1, "draft_id": "<x@example.org>"}),
            ("email.draft_delete", {"account_id": 1, "draft_id": "<x@example.org>"}),
        ]:
            envelope = plugin.execute(tool, args)
            assert envelope["error"]["code"] == "EMAIL_NETWORK_DISABLED", (tool, envelope)
    imap.conn.select('"Drafts"')
    typ, data = imap.conn.uid("SEARCH", "SUBJECT", marker["subject"])
    assert typ == "OK"
    assert data[0] == b""


def test_read_only_mode_refuses_to_write_drafts(
    folders: DovecotServer, tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.setenv(PW_ENV, folders.password)
    with _open(tmp_path, plugin_wasm, draft_account(folders), mode="read_only") as plugin:
        envelope = plugin.execute("email.draft_create", DRAFT)
    assert envelope["error"]["code"] == "EMAIL_POLICY_DENIED", envelope
    assert envelope["error"]["hint"]


def test_status_is_unknown_with_the_reason_when_the_server_is_down(
    folders: DovecotServer, tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NETWORK_ENV, "1")
    monkeypatch.setenv(PW_ENV, folders.password)
    acc = draft_account(folders)
    assert acc.imap is not None
    acc = dataclasses.replace(acc, imap=dataclasses.replace(acc.imap, port=free_port()))
    with _open(tmp_path, plugin_wasm, acc) as plugin:
        status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": "<a@b.c>"}))
    assert status["state"] == "unknown"
    assert status["reason"].startswith("EMAIL_CONNECTION_FAILED")


def test_drafts_folder_from_special_use_else_a_clear_error(
    tmp_path: Path, plugin_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    special = """
namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
  }
}
"""
    server = start_dovecot(tmp_path / "dovecot", extra_conf=special)
    try:
        server.create_folder("Drafts")
        monkeypatch.setenv(NETWORK_ENV, "1")
        monkeypatch.setenv(PW_ENV, server.password)
        with _open(tmp_path, plugin_wasm, draft_account(server, drafts_folder=None)) as plugin:
            info = ok(plugin.execute("email.draft_create", DRAFT))
        assert info["folder"] == "Drafts"
    finally:
        server.stop()

    plain = start_dovecot(tmp_path / "dovecot-plain")
    try:
        monkeypatch.setenv(PW_ENV, plain.password)
        with _open(tmp_path / "b", plugin_wasm, draft_account(plain, drafts_folder=None)) as plugin:
            envelope = plugin.execute("email.draft_create", DRAFT)
        assert envelope["error"]["code"] == "EMAIL_FOLDER_NOT_FOUND", envelope
        assert "drafts_folder" in envelope["error"]["hint"]
    finally:
        plain.stop()


@pytest.mark.parametrize(
    "hostile_id",
    ['<a"b\\@x>', "<*@example.org>", "<a)(ALL@x>", '<"@"{5}@x>', "<é@example.org>"],
)
def test_a_draft_id_reaches_the_wire_only_as_a_quoted_string(
    plugin: Plugin, imap: Imap, hostile_id: str
) -> None:
    """Specials in a draft id are searched for literally: nothing else matches, nothing breaks."""
    ok(plugin.execute("email.draft_create", DRAFT))  # Drafts is not empty
    status = ok(plugin.execute("email.draft_status", {"account_id": 1, "draft_id": hostile_id}))
    assert (status["state"], status["reason"]) == ("discarded", None)
    deleted = plugin.execute("email.draft_delete", {"account_id": 1, "draft_id": hostile_id})
    assert deleted["error"]["code"] == "EMAIL_NOT_FOUND", deleted


@pytest.mark.parametrize("bad", ["<a b@x>", "<a@x>\r\nA1 LOGOUT", "<a@x", "a@x>\x00"])
def test_draft_ids_with_spaces_or_line_breaks_are_refused(plugin: Plugin, bad: str) -> None:
    envelope = plugin.execute("email.draft_status", {"account_id": 1, "draft_id": bad})
    assert envelope["error"]["code"] == "EMAIL_INVALID_ARGUMENT", envelope
