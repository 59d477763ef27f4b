"""Issue 11's tools through the real component against a real Dovecot.

Each test calls the tool through the sandbox (guest validation, WIT, bridge, network gate,
façade) and checks the server afterwards over a second, plain ``imaplib`` connection, as
tests/test_actions_dovecot.py does for the services. With the network flag off, every tool
that changes the server answers ``EMAIL_NETWORK_DISABLED`` and the server saw no login.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import shutil
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fixtures.component import FakeServices, PluginFactory
from fixtures.dovecot import ACTIONS_CONF, PW_ENV, DovecotServer, account, start_dovecot
from helpers.mailbox import server_flags, server_folders, server_subjects
from prx_email import Plugin
from prx_email.bridge import NETWORK_ENV
from prx_email.config.model import AccountConfig, AttachmentPolicy, Config
from prx_email.errors import MoveIncomplete
from prx_email.services.actions import MoveIncomplete as ServiceMoveIncomplete
from prx_email.types import ActionResult

pytestmark = [pytest.mark.integration, pytest.mark.component]

_n = itertools.count()
_LOGIN = re.compile(r"imap-login: (?:Info: )?Login: user=<")


@pytest.fixture(scope="module")
def dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    server = start_dovecot(tmp_path_factory.mktemp("dc-plugin-actions"), ACTIONS_CONF)
    try:
        yield server
    finally:
        server.stop()
        if server.root.name.startswith("prx-dovecot-"):
            shutil.rmtree(server.root, ignore_errors=True)


Open = Callable[..., Plugin]


@pytest.fixture
def open_(
    dc: DovecotServer,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Open:
    monkeypatch.setenv(PW_ENV, dc.password)
    monkeypatch.setenv(NETWORK_ENV, "1")

    def make(*folders: str) -> Plugin:
        acc: AccountConfig = account(dc, folders=folders or ("INBOX",))
        policy = AttachmentPolicy(root=tmp_path / "att", download_dir=tmp_path / "dl")
        return make_plugin(plugin_wasm, config=Config(accounts=(acc,), attachments=policy))

    return make


def msg(i: int, *, subject: str | None = None, attach: bytes | None = None, **hdr: str) -> bytes:
    m = EmailMessage()
    m["From"] = f"Sender {i} <s{i}@example.org>"
    m["To"] = "alice@example.org"
    m["Subject"] = subject or f"Plugin action {i}"
    m["Message-ID"] = hdr.pop("message_id", f"<pa{i}.{next(_n)}@example.org>")
    m["Date"] = f"Mon, {1 + i % 28:02d} Jan 2024 10:00:00 +0000"
    for k, v in hdr.items():
        m[k.replace("_", "-")] = v
    m.set_content(f"Body of message {i}.\n")
    if attach is not None:
        m.add_attachment(attach, maintype="text", subtype="plain", filename="../../notes.txt")
    return bytes(m)


def ok(envelope: dict[str, Any]) -> Any:
    assert envelope["ok"] is True, envelope
    return envelope["data"]


def seed(plugin: Plugin, server: DovecotServer, folder: str, raws: list[bytes]) -> list[int]:
    """Put messages in ``folder``, sync it through the plugin: store ids in UID order."""
    server.add_messages(raws, folder)
    ok(plugin.execute("email.sync", {"account_id": 1, "folder": folder}))
    page = ok(plugin.execute("email.list", {"account_id": 1, "folder": folder, "limit": 500}))
    return [m["id"] for m in sorted(page["messages"], key=lambda m: m["uid"])]


def folder_name(prefix: str = "P") -> str:
    return f"{prefix}{next(_n)}"


def logins(server: DovecotServer) -> int:
    return len(_LOGIN.findall(server.log()))


def test_folders_from_the_server_with_roles_and_from_the_store_when_offline(
    dc: DovecotServer, open_: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_name()
    plugin = open_()
    seed(plugin, dc, folder, [msg(1), msg(2)])
    data = ok(plugin.execute("email.folders", {"account_id": 1}))
    assert data["source"] == "server" and data["note"] is None
    by_name = {f["name"]: f for f in data["folders"]}
    assert by_name["Archive"]["role"] == "archive" and by_name["Trash"]["role"] == "trash"
    assert by_name[folder] == {
        "name": folder,
        "role": None,
        "messages": 2,
        "unseen": 2,
        "synced": True,
    }

    monkeypatch.delenv(NETWORK_ENV)
    before = logins(dc)
    local = ok(plugin.execute("email.folders", {"account_id": 1}))
    assert local["source"] == "local" and "network flag is off" in local["note"]
    assert {f["name"]: f["messages"] for f in local["folders"]}[folder] == 2
    assert logins(dc) == before  # answered from the store: no connection at all


def test_folder_create_rename_delete(dc: DovecotServer, open_: Open) -> None:
    plugin = open_()
    name, new = folder_name("New"), folder_name("Renamed")
    created = ok(plugin.execute("email.folder_create", {"account_id": 1, "folder": name}))
    assert created["changed"] is True and created["folder"]["name"] == name
    assert name in server_folders(dc)
    again = ok(plugin.execute("email.folder_create", {"account_id": 1, "folder": name}))
    assert again["changed"] is False

    args = {"account_id": 1, "folder": name, "new_name": new}
    renamed = ok(plugin.execute("email.folder_rename", args))
    assert renamed == {"folder": {**renamed["folder"], "name": new}, "changed": True}
    assert new in server_folders(dc) and name not in server_folders(dc)

    dc.add_messages([msg(3)], new)
    refused = plugin.execute("email.folder_delete", {"account_id": 1, "folder": new})
    assert refused["error"]["code"] == "EMAIL_INVALID_STATE"
    assert "force" in refused["error"]["hint"] and new in server_folders(dc)
    special = plugin.execute("email.folder_delete", {"account_id": 1, "folder": "Trash"})
    assert special["error"]["code"] == "EMAIL_INVALID_STATE" and "Trash" in server_folders(dc)
    gone = ok(
        plugin.execute("email.folder_delete", {"account_id": 1, "folder": new, "force": True})
    )
    assert gone == {"folder": new, "deleted": True} and new not in server_folders(dc)


def test_mark_bulk_then_repeat_changes_nothing(dc: DovecotServer, open_: Open) -> None:
    folder = folder_name()
    plugin = open_()
    ids = seed(plugin, dc, folder, [msg(i) for i in range(3)])
    args = {"account_id": 1, "ids": ids, "add": ["seen", "$Important"]}
    data = ok(plugin.execute("email.mark", args))
    assert [r["outcome"] for r in data["results"]] == ["changed"] * 3
    assert data["counts"] == {"changed": 3}
    assert all({"\\Seen", "$Important"} <= f for f in server_flags(dc, folder).values())
    again = ok(plugin.execute("email.mark", args))
    assert again["counts"] == {"unchanged": 3}
    one = ok(plugin.execute("email.mark", {"account_id": 1, "ids": ids[0], "remove": "seen"}))
    assert one["results"][0]["id"] == ids[0] and "\\Seen" not in one["results"][0]["flags"]
    flags = server_flags(dc, folder)
    assert sorted("\\Seen" in f for f in flags.values()) == [False, True, True]
    # The store reflects the change at once (no sync in between).
    listed = ok(
        plugin.execute("email.list", {"account_id": 1, "folder": folder, "unseen_only": True})
    )
    assert [m["id"] for m in listed["messages"]] == [ids[0]]


def test_move_by_name_archive_and_unknown_ids(dc: DovecotServer, open_: Open) -> None:
    src, dst = folder_name("Src"), folder_name("Dst")
    plugin = open_()
    ok(plugin.execute("email.folder_create", {"account_id": 1, "folder": dst}))
    ids = seed(plugin, dc, src, [msg(i, subject=f"Mv {i}") for i in range(3)])
    unknown = 10**12
    data = ok(
        plugin.execute("email.move", {"account_id": 1, "ids": [*ids[:2], unknown], "folder": dst})
    )
    outcomes = {r["id"]: r for r in data["results"]}
    assert [outcomes[i]["outcome"] for i in ids[:2]] == ["moved", "moved"]
    assert outcomes[unknown]["outcome"] == "not_found"
    assert sorted(server_subjects(dc, dst).values()) == ["Mv 0", "Mv 1"]
    assert list(server_subjects(dc, src).values()) == ["Mv 2"]
    # Listed in its new folder with its new UID at once.
    listed = ok(plugin.execute("email.list", {"account_id": 1, "folder": dst}))
    assert {(m["id"], m["uid"]) for m in listed["messages"]} == {
        (i, outcomes[i]["uid"]) for i in ids[:2]
    }
    again = ok(plugin.execute("email.move", {"account_id": 1, "ids": ids[:2], "folder": dst}))
    assert again["counts"] == {"already_there": 2}

    archived = ok(plugin.execute("email.archive", {"account_id": 1, "ids": [ids[2]]}))
    assert archived["results"][0]["folder"] == "Archive"
    assert "Mv 2" in server_subjects(dc, "Archive").values() and not server_subjects(dc, src)
    by_role = ok(plugin.execute("email.move", {"account_id": 1, "ids": ids[:1], "role": "junk"}))
    assert by_role["results"][0]["folder"] == "Junk"
    assert "Mv 0" in server_subjects(dc, "Junk").values()


def test_delete_to_trash_then_permanently(dc: DovecotServer, open_: Open) -> None:
    folder = folder_name()
    plugin = open_()
    ids = seed(plugin, dc, folder, [msg(i, subject=f"Del {i}.{folder}") for i in range(2)])
    trashed = ok(plugin.execute("email.delete", {"account_id": 1, "ids": ids[:1]}))
    assert trashed["results"][0]["folder"] == "Trash"
    assert f"Del 0.{folder}" in server_subjects(dc, "Trash").values()
    gone = ok(plugin.execute("email.delete", {"account_id": 1, "ids": ids[1:], "permanent": True}))
    assert gone["results"][0]["outcome"] == "deleted" and gone["results"][0]["folder"] is None
    assert not server_subjects(dc, folder)
    assert f"Del 1.{folder}" not in server_subjects(dc, "Trash").values()
    assert (
        ok(plugin.execute("email.get_many", {"account_id": 1, "ids": ids[1:]}))["not_found"]
        == ids[1:]
    )


def test_label_falls_back_to_keywords_on_dovecot(dc: DovecotServer, open_: Open) -> None:
    folder = folder_name()
    plugin = open_()
    ids = seed(plugin, dc, folder, [msg(1)])
    data = ok(plugin.execute("email.label", {"account_id": 1, "ids": ids, "add": ["Receipts"]}))
    assert data["results"][0]["labels"] == ["Receipts"]
    assert "Receipts" in next(iter(server_flags(dc, folder).values()))
    removed = ok(
        plugin.execute("email.label", {"account_id": 1, "ids": ids, "remove": ["Receipts"]})
    )
    assert removed["results"][0]["labels"] == []
    assert "Receipts" not in next(iter(server_flags(dc, folder).values()))


def test_thread_ids_on_summaries_thread_and_get_many(dc: DovecotServer, open_: Open) -> None:
    folder = folder_name()
    plugin = open_()
    root = f"<root.{folder}@example.org>"
    raws = [
        msg(1, subject="Plan", message_id=root),
        msg(2, subject="Re: Plan", in_reply_to=root, references=root),
        msg(3, subject="Unrelated"),
    ]
    ids = seed(plugin, dc, folder, raws)
    listed = ok(plugin.execute("email.list", {"account_id": 1, "folder": folder}))
    tids = {m["id"]: m["thread_id"] for m in listed["messages"]}
    assert tids[ids[0]] == tids[ids[1]] == root and tids[ids[2]] != root
    thread = ok(plugin.execute("email.thread", {"account_id": 1, "id": ids[1]}))
    assert thread["thread_id"] == root
    assert [m["id"] for m in thread["messages"]] == ids[:2]  # oldest first
    many = ok(plugin.execute("email.get_many", {"account_id": 1, "ids": [ids[2], 10**9, ids[0]]}))
    assert [m["summary"]["id"] for m in many["messages"]] == [ids[2], ids[0]]
    assert many["not_found"] == [10**9]
    assert many["messages"][1]["body_text"].startswith("Body of message 1.")


def test_attachment_inline_and_as_a_file(dc: DovecotServer, open_: Open, tmp_path: Path) -> None:
    folder = folder_name()
    plugin = open_()
    payload = b"attached notes\n" * 10
    (key,) = seed(plugin, dc, folder, [msg(1, attach=payload)])
    args = {"account_id": 1, "message_id": key, "index": 0}
    inline = ok(plugin.execute("email.attachment", {**args, "inline": True}))
    assert base64.b64decode(inline["content_base64"]) == payload
    assert inline["sha256"] == hashlib.sha256(payload).hexdigest() and inline["path"] is None
    saved = ok(plugin.execute("email.attachment", args))
    path = Path(saved["path"])
    assert path.parent == tmp_path / "dl" and path.read_bytes() == payload
    assert ".." not in path.name and saved["content_base64"] is None
    missing = plugin.execute("email.attachment", {**args, "index": 5})
    assert missing["error"]["code"] == "EMAIL_INVALID_ARGUMENT"


MUTATING: list[tuple[str, Callable[[list[int], str], dict[str, Any]]]] = [
    ("email.folder_create", lambda ids, f: {"folder": f + "x"}),
    ("email.folder_rename", lambda ids, f: {"folder": f, "new_name": f + "y"}),
    ("email.folder_delete", lambda ids, f: {"folder": f, "force": True}),
    ("email.mark", lambda ids, f: {"ids": ids, "add": ["seen"]}),
    ("email.label", lambda ids, f: {"ids": ids, "add": ["Receipts"]}),
    ("email.move", lambda ids, f: {"ids": ids, "role": "archive"}),
    ("email.archive", lambda ids, f: {"ids": ids}),
    ("email.delete", lambda ids, f: {"ids": ids}),
    ("email.delete", lambda ids, f: {"ids": ids, "permanent": True}),
]


def test_network_off_every_mutating_tool_is_refused_and_the_server_sees_nothing(
    dc: DovecotServer, open_: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_name("Off")
    plugin = open_()
    ids = seed(plugin, dc, folder, [msg(i, subject=f"Off {i}") for i in range(2)])
    flags, folders = server_flags(dc, folder), server_folders(dc)
    monkeypatch.delenv(NETWORK_ENV)
    before = logins(dc)
    for tool, make_args in MUTATING:
        env = plugin.execute(tool, {"account_id": 1, **make_args(ids, folder)})
        assert env["ok"] is False and env["error"]["code"] == "EMAIL_NETWORK_DISABLED", tool
        assert env["error"]["hint"], tool
    # Reads that need no server still work.
    assert ok(plugin.execute("email.thread", {"account_id": 1, "id": ids[0]}))["messages"]
    assert len(ok(plugin.execute("email.get_many", {"account_id": 1, "ids": ids}))["messages"]) == 2
    assert logins(dc) == before
    monkeypatch.setenv(NETWORK_ENV, "1")
    assert server_flags(dc, folder) == flags and server_folders(dc) == folders


def test_attachment_not_kept_needs_the_network(
    dc: DovecotServer,
    plugin_wasm: Path,
    make_plugin: PluginFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PW_ENV, dc.password)
    monkeypatch.setenv(NETWORK_ENV, "1")
    folder = folder_name()
    payload = b"x" * 4000
    # max_bytes under the attachment's size: sync keeps its metadata only.
    policy = AttachmentPolicy(root=tmp_path / "att", download_dir=tmp_path / "dl", max_bytes=100)
    acc = account(dc, folders=(folder,))
    plugin = make_plugin(plugin_wasm, config=Config(accounts=(acc,), attachments=policy))
    (key,) = seed(plugin, dc, folder, [msg(1, attach=payload)])
    monkeypatch.delenv(NETWORK_ENV)
    before = logins(dc)
    args = {"account_id": 1, "message_id": key, "index": 0, "inline": True}
    refused = plugin.execute("email.attachment", args)
    assert refused["error"]["code"] == "EMAIL_NETWORK_DISABLED" and logins(dc) == before
    monkeypatch.setenv(NETWORK_ENV, "1")
    fetched = ok(plugin.execute("email.attachment", args))
    assert fetched["fetched_from_server"] is True
    assert base64.b64decode(fetched["content_base64"]) == payload


class _MoveFails(FakeServices):
    def move(
        self, account_id: int, ids: Any, *, folder: Any = None, role: Any = None
    ) -> list[ActionResult]:
        raise ServiceMoveIncomplete(
            "copied 2 messages to 'Dst' but 'Src' kept them",
            folder="Src",
            dest="Dst",
            copied={1: 5},
        )


def test_move_incomplete_has_its_own_code(
    plugin_wasm: Path, make_plugin: PluginFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert issubclass(ServiceMoveIncomplete, MoveIncomplete)
    monkeypatch.setenv(NETWORK_ENV, "1")
    plugin = make_plugin(plugin_wasm, services=_MoveFails())
    env = plugin.execute("email.move", {"account_id": 1, "ids": [1, 2], "folder": "Dst"})
    assert env["error"]["code"] == "EMAIL_MOVE_INCOMPLETE"
    assert "both 'Src' and 'Dst'" in env["error"]["hint"]
