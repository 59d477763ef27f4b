"""A hostile guest for the sandbox tests: built against the real `plugin` world.

``execute(action, args_json)`` tries one escape or abuse per action. Exceptions it can
catch become ``{"ok": false, ...}`` envelopes (the attempt failed inside the guest);
the rest trap, which the host must turn into an error envelope.
"""

import json
import os

try:  # the module may be missing from the sandboxed CPython; that is a failed attempt too
    import socket
except Exception:  # pragma: no cover - depends on the guest runtime
    socket = None  # type: ignore[assignment]

from componentize_py_types import Err
from wit_world import WitWorld as _World
from wit_world.imports import host, types

_HOARD: list[bytearray] = []


def _ok(data: object) -> str:
    return json.dumps({"ok": True, "data": data})


def _failed(exc: BaseException) -> str:
    return json.dumps({"ok": False, "error": {"code": "HOSTILE_FAILED", "message": repr(exc)}})


def _err(exc: Err) -> str:  # type: ignore[type-arg]
    case = type(exc.value).__name__
    info = exc.value.value
    return json.dumps(
        {"ok": False, "error": {"code": case, "message": info.message, "hint": info.hint}}
    )


def _read_file(args: dict) -> str:
    with open(args.get("path", "/etc/passwd"), "rb") as fh:
        return _ok(fh.read().decode("latin-1"))


def _env(args: dict) -> str:
    return _ok(dict(os.environ))


def _socket(args: dict) -> str:
    if socket is None:
        raise OSError("no socket module")
    s = socket.create_connection((args.get("host", "127.0.0.1"), int(args.get("port", 9))), 1)
    s.close()
    return _ok("connected")


def _spin(args: dict) -> str:
    n = 0
    while True:
        n += 1


def _alloc(args: dict) -> str:
    try:
        while True:
            _HOARD.append(bytearray(16 * 1024 * 1024))
    finally:
        _HOARD.clear()  # so the instance itself stays usable


def _huge(args: dict) -> str:
    return _ok("x" * int(args.get("size", 32 * 1024 * 1024)))


def _host_list(args: dict) -> str:
    q = types.ListQuery(
        account_id=int(args.get("account_id", 1)),
        folder=None,
        unseen_only=False,
        limit=10,
        cursor=None,
        automated=None,
    )
    page = host.list_messages(q)
    return _ok({"count": len(page.messages)})


def _host_get(args: dict) -> str:
    msg = host.get_message(int(args.get("account_id", 1)), int(args.get("id", 1)))
    return _ok(None if msg is None else msg.summary.subject)


def _host_send(args: dict) -> str:
    msg = types.OutgoingMessage(
        account_id=int(args.get("account_id", 1)),
        to=list(args.get("to", ["a@example.org"])),
        cc=list(args.get("cc", [])),
        bcc=list(args.get("bcc", [])),
        subject="hi",
        body_text="x",
        body_html=None,
        attachments=[],
        send_at=args.get("send_at"),
    )
    entry = host.send(msg)
    return _ok(entry.status.name)


def _host_reply(args: dict) -> str:
    req = types.ReplyRequest(
        account_id=int(args.get("account_id", 1)),
        message=int(args.get("message", 1)),
        body_text="x",
        body_html=None,
        reply_all=True,
        send_at=args.get("send_at"),
    )
    return _ok(host.reply(req).status.name)


def _host_retry(args: dict) -> str:
    return _ok(host.retry(int(args.get("outbox_id", 1)), True).status.name)


def _host_draft_send(args: dict) -> str:
    account = int(args.get("account_id", 1))
    entry = host.draft_send(account, str(args.get("draft_id", "<d@x>")), args.get("send_at"))
    return _ok(entry.status.name)


def _host_cancel(args: dict) -> str:
    return _ok(host.cancel(int(args.get("outbox_id", 1))).status.name)


def _host_draft_create(args: dict) -> str:
    req = types.DraftRequest(
        account_id=int(args.get("account_id", 1)),
        to=["a@example.org"],
        cc=[],
        bcc=[],
        subject="draft",
        body_text="x",
        body_html=None,
        attachments=[],
        reply_to=None,
        reply_to_message_id=None,
    )
    return _ok(host.draft_create(req).draft_id)


def _host_sync(args: dict) -> str:
    report = host.sync(types.SyncRequest(account_id=1, folder=None, max_messages=None))
    return _ok(len(report.folders))


def _host_accounts(args: dict) -> str:
    return _ok([a.address for a in host.accounts()])


def _raw_ids(args: dict) -> list:
    if "ids" in args:
        return [int(i) for i in args["ids"]]
    return list(range(1, int(args.get("count", 10_000)) + 1))


def _host_mark(args: dict) -> str:
    req = types.FlagRequest(
        account_id=int(args.get("account_id", 1)),
        ids=_raw_ids(args),
        add=list(args.get("add", ["seen"])),
        remove=[],
    )
    return _ok([r.outcome.name for r in host.mark(req)])


def _host_get_many(args: dict) -> str:
    found = host.get_many(int(args.get("account_id", 1)), _raw_ids(args))
    return _ok([None if m is None else m.summary.id for m in found])


def _host_attachment(args: dict) -> str:
    req = types.AttachmentRequest(
        account_id=int(args.get("account_id", 1)),
        message=int(args.get("message", 1)),
        index=int(args.get("index", 0)),
        inline=True,
    )
    got = host.attachment(req)
    return _ok({"path": got.path, "size": got.size})


def _host_delete(args: dict) -> str:
    req = types.DeleteRequest(account_id=1, ids=_raw_ids(args), permanent=True)
    return _ok([r.outcome.name for r in host.delete(req)])


def _host_tool_groups(args: dict) -> str:
    return _ok(host.tool_groups())


def _host_get_full(args: dict) -> str:
    m = host.get_message(int(args.get("account_id", 1)), int(args.get("id", 1)))
    if m is None:
        return _ok(None)
    return _ok(
        {
            "subject": m.summary.subject,
            "snippet": m.summary.snippet,
            "body_text": m.body_text,
            "body_html": m.body_html,
            "untrusted": m.untrusted,
            "removed": {r.reason: r.count for r in m.removed},
        }
    )


def _host_folder_delete(args: dict) -> str:
    return _ok(host.folder_delete(1, str(args.get("name", "INBOX")), True))


_ACTIONS = {
    "read-file": _read_file,
    "env": _env,
    "socket": _socket,
    "spin": _spin,
    "alloc": _alloc,
    "huge": _huge,
    "host-list": _host_list,
    "host-get": _host_get,
    "host-send": _host_send,
    "host-reply": _host_reply,
    "host-retry": _host_retry,
    "host-draft-create": _host_draft_create,
    "host-draft-send": _host_draft_send,
    "host-cancel": _host_cancel,
    "host-sync": _host_sync,
    "host-accounts": _host_accounts,
    "host-mark": _host_mark,
    "host-get-many": _host_get_many,
    "host-attachment": _host_attachment,
    "host-delete": _host_delete,
    "host-folder-delete": _host_folder_delete,
    "host-tool-groups": _host_tool_groups,
    "host-get-full": _host_get_full,
}


class WitWorld(_World):
    def execute(self, tool: str, args_json: str) -> str:
        if tool == "raise":
            raise RuntimeError("escaped the guest")  # uncaught: a trap
        if tool == "ok":
            return _ok("pong")
        if tool == "alloc-uncaught":  # MemoryError escapes the export: a trap
            _HOARD.clear()
            _alloc({})
        args = json.loads(args_json or "{}")
        try:
            return _ACTIONS[tool](args)
        except Err as exc:
            return _err(exc)
        except Exception as exc:
            return _failed(exc)

    def describe(self) -> str:
        names = ["ok", "raise", "alloc-uncaught", *_ACTIONS]
        return json.dumps([{"name": name} for name in names])
