"""The TA adapter spawned exactly as the runtime does: one line in, one line out, exit.

Every op and every kind of bad input, against a private real Dovecot; what the adapter did on
the server is checked over a second IMAP connection.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from fixtures.dovecot import DovecotServer, start_dovecot
from helpers.imap import Imap
from prx_email import NETWORK_ENV

pytestmark = [pytest.mark.integration, pytest.mark.component]

TA = Path(sys.executable).with_name("prx-email-ta")
CLI = Path(sys.executable).with_name("prx-email")
DOC = Path(__file__).resolve().parents[1] / "docs" / "ta-protocol.md"
PW_ENV = "PRX_TA_TEST_PW"
T0 = 1_795_000_000  # the fetch boundary of the tests below


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    srv = start_dovecot(tmp_path_factory.mktemp("ta-dovecot"))
    for folder in ("Drafts", "Sent", "Trash"):
        srv.create_folder(folder)
    srv.add_messages(_message(i, T0 + (i - 2) * 3600) for i in range(4))
    try:
        yield srv
    finally:
        srv.stop()


def _message(n: int, when: int) -> bytes:
    date = format_datetime(datetime.fromtimestamp(when, tz=UTC))
    return (
        f"From: Bob Sender <bob@example.net>\r\nTo: alice@example.org, carol@example.org\r\n"
        f"Subject: message {n}\r\nDate: {date}\r\nMessage-ID: <m{n}@example.net>\r\n"
        f"References: <root@example.net>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nbody {n}\r\n"
    ).encode()


def _config(server: DovecotServer, path: Path) -> Path:
    path.write_text(
        f"""
[[accounts]]
id = 1
address = "alice@example.org"

[accounts.imap]
host = "127.0.0.1"
port = {server.imaps_port}
tls = "implicit"
username = "{server.user}"
password_env = "{PW_ENV}"
ca_file = "{server.ca_file}"

[accounts.send]
drafts_folder = "Drafts"
sent_folder = "Sent"
"""
    )
    return path


@pytest.fixture
def env(server: DovecotServer, tmp_path: Path, component_cache_dir: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("PRX_EMAIL")}
    e.update(
        PRX_EMAIL_CONFIG=str(_config(server, tmp_path / "config.toml")),
        PRX_EMAIL_DB=str(tmp_path / "mail.db"),
        PRX_EMAIL_CACHE_DIR=os.environ.get("PRX_EMAIL_CACHE_DIR", str(component_cache_dir)),
        PRX_EMAIL_TA_HELPER="0",  # the one-shot path; tests/test_ta_helper.py tests the helper
        **{PW_ENV: server.password, NETWORK_ENV: "1"},
    )
    return e


def spawn(
    env: dict[str, str], stdin: bytes | str, *args: str, command: Path = TA
) -> dict[str, Any]:
    """Run the adapter as the runtime does; its stdout must be one JSON line, exit 0."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    argv = [str(command), *(["ta"] if command == CLI else []), *args]
    proc = subprocess.run(argv, input=data, capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode("ascii")
    assert out.endswith("\n") and out.count("\n") == 1, (out, proc.stderr.decode())
    response = json.loads(out)
    assert isinstance(response, dict) and isinstance(response["ok"], bool)
    if not response["ok"]:
        assert set(response) == {"ok", "error"}
        assert isinstance(response["error"], str) and response["error"]
    return response


def line(obj: object) -> str:
    return json.dumps(obj) + "\n"


@pytest.fixture
def imap(server: DovecotServer) -> Iterator[Imap]:
    conn = Imap(server)
    yield conn
    conn.close()


# -- the ops ------------------------------------------------------------------------------


def test_capabilities(env: dict[str, str]) -> None:
    assert spawn(env, line({"op": "capabilities"})) == {
        "ok": True,
        "capabilities": ["fetch", "create_draft", "draft_status", "health"],
    }


def test_prx_email_ta_is_the_same_adapter(env: dict[str, str]) -> None:
    assert spawn(env, line({"op": "capabilities"}), command=CLI)["ok"] is True
    assert spawn(env, line({"op": "send"}), command=CLI)["ok"] is False


def test_health_logs_in_and_names_the_provider(env: dict[str, str]) -> None:
    assert spawn(env, line({"op": "health"})) == {
        "ok": True,
        "address": "alice@example.org",
        "provider": "custom",
    }
    bad = spawn({**env, PW_ENV: "wrong"}, line({"op": "health"}))
    assert bad["error"].startswith("EMAIL_AUTH_FAILED"), bad
    other = spawn(env, line({"op": "health", "account": "nobody@example.org"}))
    assert "no account with address" in other["error"]


def test_fetch_since_returns_exactly_the_messages_at_or_after_it(env: dict[str, str]) -> None:
    since = iso(T0)  # messages 2 (dated exactly T0) and 3 (T0 + 1 h); 0 and 1 are earlier
    got = spawn(env, line({"op": "fetch", "since": since}))
    assert [m["id"] for m in got["messages"]] == ["<m2@example.net>", "<m3@example.net>"]
    first = got["messages"][0]
    assert first == {
        "id": "<m2@example.net>",
        "from": "Bob Sender <bob@example.net>",
        "to": "alice@example.org, carol@example.org",
        "subject": "message 2",
        "body_text": "body 2\n",
        "body_html": "",
        "thread_id": "<root@example.net>",
        "received_at": since,
    }
    everything = spawn(env, line({"op": "fetch", "since": "1970-01-01T00:00:00Z"}))
    assert [m["subject"] for m in everything["messages"]] == [f"message {i}" for i in range(4)]
    oldest = spawn(env, line({"op": "fetch", "since": "1970-01-01T00:00:00Z", "limit": 1}))
    assert [m["subject"] for m in oldest["messages"]] == ["message 0"]
    one_second_later = spawn(env, line({"op": "fetch", "since": iso(T0 + 1)}))
    assert [m["id"] for m in one_second_later["messages"]] == ["<m3@example.net>"]


def test_fetch_with_the_network_off_answers_from_the_store(env: dict[str, str]) -> None:
    offline = {**env, NETWORK_ENV: "0"}
    request = line({"op": "fetch", "since": "1970-01-01T00:00:00Z"})
    assert spawn(offline, request) == {"ok": True, "messages": []}  # nothing synced yet
    assert len(spawn(env, request)["messages"]) == 4  # syncs, then answers
    assert len(spawn(offline, request)["messages"]) == 4  # the store now has them


def test_create_draft_then_sent_then_discarded(env: dict[str, str], imap: Imap) -> None:
    draft = {
        "to": "bob@example.net, Carol <carol@example.org>",
        "subject": "Re: message 2",
        "body_html": "<p>Thanks <b>Bob</b></p>",
        "in_reply_to": "<m2@example.net>",
    }
    created = spawn(env, line({"op": "create_draft", "draft": draft}))
    assert set(created) == {"ok", "draft_id"}
    draft_id = created["draft_id"]
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", draft_id)
    (uid,) = imap.find("Drafts", draft_id)
    flags, msg = imap.fetch("Drafts", uid)
    assert "\\Draft" in flags.split()
    assert msg["To"] == "bob@example.net, Carol <carol@example.org>"
    assert msg["In-Reply-To"] == "<m2@example.net>"
    assert "Thanks **Bob**" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    status = line({"op": "draft_status", "draft_id": draft_id})
    assert spawn(env, status) == {"ok": True, "state": "drafted"}

    imap.move("Drafts", "Sent", uid)
    assert spawn(env, status) == {"ok": True, "state": "sent"}

    (sent_uid,) = imap.find("Sent", draft_id)
    imap.delete("Sent", sent_uid)
    assert spawn(env, status) == {"ok": True, "state": "discarded"}


def test_draft_status_unknown_names_the_reason(env: dict[str, str]) -> None:
    config = Path(env["PRX_EMAIL_CONFIG"])
    config.write_text(re.sub(r"port = \d+", "port = 9", config.read_text()))
    got = spawn(env, line({"op": "draft_status", "draft_id": "<x@example.org>"}))
    assert got["ok"] is True and got["state"] == "unknown"
    assert got["reason"].startswith("EMAIL_CONNECTION_FAILED")


def test_nothing_can_make_it_send(env: dict[str, str]) -> None:
    # Even an account configured to send is held to draft-only mode by the adapter.
    got = spawn(env, line({"op": "send", "to": "bob@example.net", "body": "x"}))
    assert "never sends" in got["error"]


# -- bad input ------------------------------------------------------------------------------

BAD_INPUTS: list[tuple[str, bytes | str, str]] = [
    ("empty stdin", b"", "empty request"),
    ("only a newline", b"\n", "empty request"),
    ("two lines", line({"op": "health"}) + line({"op": "health"}), "exactly one request line"),
    ("malformed JSON", '{"op": "health"\n', "not valid JSON"),
    ("NaN", '{"op": "fetch", "since": NaN}\n', "not valid JSON"),
    ("not UTF-8", b'{"op": "\xff"}\n', "not valid UTF-8"),
    ("an array", "[1, 2]\n", "must be a JSON object, got an array"),
    ("a string", '"health"\n', "must be a JSON object, got a string"),
    ("null", "null\n", "must be a JSON object, got null"),
    ("no op", "{}\n", 'needs "op"'),
    ("op not a string", line({"op": 5}), 'needs "op" as a string'),
    ("unknown op", line({"op": "list_folders"}), "unknown op 'list_folders'"),
    ("send", line({"op": "send"}), "never sends"),
    ("unknown field", line({"op": "health", "verbose": True}), "unknown field(s) verbose"),
    ("capabilities takes none", line({"op": "capabilities", "x": 1}), "unknown field(s) x"),
    ("fetch without since", line({"op": "fetch"}), "missing required field(s) since"),
    ("since not a string", line({"op": "fetch", "since": 0}), "since must be a non-empty string"),
    ("since not a date", line({"op": "fetch", "since": "yesterday"}), "not an ISO-8601"),
    ("limit a string", line({"op": "fetch", "since": "2026-01-01", "limit": "5"}), "integer"),
    ("limit a boolean", line({"op": "fetch", "since": "2026-01-01", "limit": True}), "integer"),
    ("limit zero", line({"op": "fetch", "since": "2026-01-01", "limit": 0}), "between 1"),
    ("account not a string", line({"op": "health", "account": 1}), "account must be"),
    ("draft not an object", line({"op": "create_draft", "draft": "hi"}), "must be an object"),
    (
        "draft missing body_html",
        line({"op": "create_draft", "draft": {"to": "a@b.c", "subject": "s"}}),
        "missing body_html",
    ),
    (
        "draft unknown field",
        line(
            {
                "op": "create_draft",
                "draft": {"to": "a@b.c", "subject": "s", "body_html": "x", "cc": "d@e.f"},
            }
        ),
        "unknown draft field(s) cc",
    ),
    (
        "draft to not a string",
        line({"op": "create_draft", "draft": {"to": ["a@b.c"], "subject": "s", "body_html": "x"}}),
        "draft.to must be a string",
    ),
    (
        "draft to empty",
        line({"op": "create_draft", "draft": {"to": " , ", "subject": "s", "body_html": "x"}}),
        "at least one address",
    ),
    (
        "draft bad address (the guest refuses it)",
        line(
            {
                "op": "create_draft",
                "draft": {"to": "not an address", "subject": "s", "body_html": "x"},
            }
        ),
        "EMAIL_INVALID_ARGUMENT",
    ),
    ("draft_id missing", line({"op": "draft_status"}), "missing required field(s) draft_id"),
    ("draft_id a number", line({"op": "draft_status", "draft_id": 7}), "draft_id must be"),
    (
        "draft_id not a Message-ID (the guest or host refuses it)",
        line({"op": "draft_status", "draft_id": "no"}),
        "EMAIL_INVALID_ARGUMENT",
    ),
]


@pytest.mark.parametrize(("label", "stdin", "expected"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_every_bad_input_gets_one_ok_false_line(
    env: dict[str, str], label: str, stdin: bytes | str, expected: str
) -> None:
    got = spawn(env, stdin)
    assert got["ok"] is False, (label, got)
    assert expected in got["error"], (label, got)


def test_bad_command_line_still_answers_one_line(env: dict[str, str]) -> None:
    got = spawn(env, line({"op": "health"}), "--timeout", "-1")
    assert "timeout" in got["error"]
    got = spawn({**env, "PRX_EMAIL_TA_TIMEOUT": "soon"}, line({"op": "health"}))
    assert "PRX_EMAIL_TA_TIMEOUT" in got["error"]


def test_its_own_timeout_answers_before_the_runtime_kills_it(env: dict[str, str]) -> None:
    """stdin left open and silent: the adapter answers at its timeout, names it, exits 0."""
    started = time.monotonic()
    with subprocess.Popen(
        [str(TA), "--timeout", "0.5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        try:
            out = proc.stdout.readline()  # stdin is still open: only the adapter's timeout ends it
            elapsed = time.monotonic() - started
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    response = json.loads(out)
    assert response["ok"] is False
    assert "timed out after 0.5 s" in response["error"] and "--timeout" in response["error"]
    assert 0.4 < elapsed < 10


def test_logs_never_reach_stdout(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [str(TA)],
        input=line({"op": "health"}).encode(),
        capture_output=True,
        env={**env, PW_ENV: "wrong", "PYTHONWARNINGS": "always"},
        timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stdout.count(b"\n") == 1 and json.loads(proc.stdout)["ok"] is False


# -- the doc's examples ---------------------------------------------------------------------

_EXAMPLE = re.compile(r"Request:\n```json\n(.*?)\n```\nResponse:\n```json\n(.*?)\n```", re.S)


def _shape(value: Any) -> Any:
    """Keys and JSON types, not values (ids and timestamps differ from run to run)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_every_example_in_the_doc_round_trips(env: dict[str, str]) -> None:
    examples = _EXAMPLE.findall(DOC.read_text(encoding="utf-8"))
    ops = {json.loads(req)["op"] for req, _ in examples}
    assert ops == {"capabilities", "health", "fetch", "create_draft", "draft_status", "send"}
    spawn(env, line({"op": "fetch", "since": "1970-01-01T00:00:00Z"}))  # fill the store
    for request, documented in examples:
        req = json.loads(request)
        if req.get("account"):
            req["account"] = "alice@example.org"
        if req["op"] == "fetch":
            req["since"] = "1970-01-01T00:00:00Z"
        got = spawn(env, line(req))
        assert _shape(got) == _shape(json.loads(documented)), (request, got)


def test_the_adapter_always_opens_the_plugin_in_draft_only_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prx_email.api
    from prx_email.adapters.ta._serve import serve

    seen: list[object] = []

    class Stop(BaseException):  # not caught by the adapter's catch-all
        pass

    def fake_open_plugin(**kwargs: object) -> None:
        seen.append(kwargs.get("mode"))
        raise Stop

    monkeypatch.setattr(prx_email.api, "open_plugin", fake_open_plugin)
    with pytest.raises(Stop):
        serve(b'{"op": "capabilities"}\n', None, None)
    assert seen == ["draft_only"]
