"""Issue 11's tools in the guest, natively: checked arguments → one typed host call → JSON.

The fake host (tests/helpers/guest.py) has the bindings' signatures; what the tools do on a
real server is tests/test_actions_plugin.py's.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers.guest import FakeHost, error_code, run
from prx_email.services.actions import ROLES as HOST_ROLES
from prx_email_guest import Guest
from prx_email_guest._catalogue import ROLES
from wit_world.imports import types


def call(tool: str, args: dict[str, Any]) -> tuple[Any, tuple[str, tuple[Any, ...]]]:
    host = FakeHost()
    env = run(Guest(host), tool, args)
    assert env["ok"] is True, env
    assert len(host.calls) == 1, host.calls
    return env["data"], host.calls[0]


def test_roles_are_the_hosts() -> None:
    assert ROLES == HOST_ROLES


def test_mark_takes_one_id_or_a_list_and_names_or_lists() -> None:
    data, (name, (req,)) = call("email.mark", {"account_id": 1, "ids": 5, "add": "seen"})
    assert name == "mark"
    assert req == types.FlagRequest(account_id=1, ids=[5], add=["seen"], remove=[])
    assert data["results"][0] == {
        "id": 5,
        "outcome": "moved",
        "folder": "Archive",
        "uid": 100,
        "flags": [],
        "labels": [],
    }
    _, (_, (req,)) = call(
        "email.mark", {"account_id": 1, "ids": [3, 4, 3], "remove": ["flagged", "$X"]}
    )
    assert req.ids == [3, 4] and req.remove == ["flagged", "$X"]


def test_move_archive_delete_label() -> None:
    data, (name, (req,)) = call("email.move", {"account_id": 1, "ids": [1, 2], "role": "trash"})
    assert (name, req) == ("move", types.MoveRequest(1, [1, 2], None, "trash"))
    assert data["counts"] == {"moved": 2}
    _, (name, args) = call("email.archive", {"account_id": 1, "ids": [9]})
    assert (name, args) == ("archive", (1, [9]))
    _, (name, (req,)) = call("email.delete", {"account_id": 1, "ids": 9, "permanent": True})
    assert (name, req) == ("delete", types.DeleteRequest(1, [9], True))
    _, (name, (req,)) = call("email.delete", {"account_id": 1, "ids": 9})
    assert req.permanent is False
    _, (name, (req,)) = call("email.label", {"account_id": 1, "ids": [9], "add": ["Receipts"]})
    assert (name, req) == ("label", types.FlagRequest(1, [9], ["Receipts"], []))


def test_folder_tools() -> None:
    data, (name, args) = call("email.folders", {"account_id": 1})
    assert (name, args) == ("folders", (1,))
    assert data == {
        "folders": [
            {"name": "Archive", "role": "archive", "messages": 3, "unseen": 1, "synced": False}
        ],
        "source": "server",
        "note": None,
    }
    data, (name, args) = call("email.folder_create", {"account_id": 1, "folder": "A/B"})
    assert (name, args) == ("folder_create", (1, "A/B")) and data["changed"] is True
    _, (name, args) = call("email.folder_rename", {"account_id": 1, "folder": "A", "new_name": "B"})
    assert (name, args) == ("folder_rename", (1, "A", "B"))
    data, (name, args) = call("email.folder_delete", {"account_id": 1, "folder": "A"})
    assert (name, args) == ("folder_delete", (1, "A", False))
    assert data == {"folder": "A", "deleted": True}


def test_thread_get_many_attachment() -> None:
    data, (name, args) = call("email.thread", {"account_id": 1, "id": 7})
    assert (name, args) == ("thread", (1, 7))
    assert data["thread_id"] == "<root@example.org>"
    assert data["messages"][0]["thread_id"] == "<root@example.org>"
    data, (name, args) = call("email.get_many", {"account_id": 1, "ids": [8, 7, 8]})
    assert (name, args) == ("get_many", (1, [8, 7]))
    assert [m["summary"]["id"] for m in data["messages"]] == [7]
    assert data["not_found"] == [8]
    data, (name, (req,)) = call(
        "email.attachment", {"account_id": 1, "message_id": 7, "index": 0, "inline": True}
    )
    assert req == types.AttachmentRequest(1, 7, 0, True)
    assert data["content_base64"] == "YWJj" and data["path"] is None


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("email.mark", {"ids": [1]}, "no flags to add or remove"),
        ("email.label", {"ids": [1], "add": []}, "no labels to add or remove"),
        ("email.move", {"ids": [1]}, "name a folder or a role, not both and not neither"),
        (
            "email.move",
            {"ids": [1], "folder": "X", "role": "junk"},
            "name a folder or a role, not both and not neither",
        ),
        ("email.move", {"ids": [1], "role": "spam"}, "role must be one of"),
        ("email.mark", {"ids": [True], "add": "seen"}, "ids must be an integer"),
        ("email.mark", {"ids": [0], "add": "seen"}, "ids must be between 1"),
        ("email.mark", {"ids": [1], "add": "a\r\nb"}, "add must be one line"),
        ("email.folder_create", {"folder": "a\nb"}, "folder must be one line"),
        ("email.attachment", {"message_id": 1, "index": -1}, "index must be between 0"),
    ],
)
def test_refused_in_the_guest(tool: str, args: dict[str, Any], message: str) -> None:
    host = FakeHost()
    env = run(Guest(host), tool, {"account_id": 1, **args})
    assert error_code(env) == "EMAIL_INVALID_ARGUMENT"
    assert env["error"]["message"].startswith(message), env
    assert host.calls == []


def test_a_host_move_incomplete_keeps_its_code() -> None:
    info = types.ErrorInfo(message="copied but kept", hint="now in both", run_id=None)
    host = FakeHost(error=types.EmailError_MoveIncomplete(info))
    env = run(Guest(host), "email.move", {"account_id": 1, "ids": [1], "folder": "X"})
    assert error_code(env) == "EMAIL_MOVE_INCOMPLETE"
    assert env["error"]["hint"] == "now in both"
