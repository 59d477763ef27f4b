"""The operator console's auth, CSRF and error pages through Starlette's TestClient (no
browser, no network): the browser flows are in test_console_browser.py.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.outbox import account, context, replace
from prx_email import NETWORK_ENV
from prx_email.adapters.cli.main import main
from prx_email.adapters.console import Console, ConsoleAuth, build_app
from prx_email.auth import default_manager
from prx_email.config.model import FirstContact, PolicySettings
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.approvals import ApprovalRepo
from prx_email.store.audit import AuditRepo
from prx_email.store.outbox import OutboxRepo
from prx_email.types import AttachmentBase64, OutgoingAttachment, OutgoingMessage
from starlette.testclient import TestClient

BASE = "http://127.0.0.1:8765"
# No server listens there: nothing in this module may reach it (the network stays off).
_NOWHERE = SimpleNamespace(host="127.0.0.1", port=9, tls="none", tls_files=None)


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceContext]:
    monkeypatch.delenv(NETWORK_ENV, raising=False)
    policy = PolicySettings(first_contact=FirstContact.APPROVE, approval_ttl_hours=1.0)
    acc = replace(account(_NOWHERE), policy=policy)  # type: ignore[arg-type]
    made = context(tmp_path / "console.db", acc, credentials=default_manager())
    yield made
    made.db.close()


@pytest.fixture
def auth() -> ConsoleAuth:
    made = ConsoleAuth()
    made.bind_to("127.0.0.1", 8765)
    return made


@pytest.fixture
def client(ctx: ServiceContext, auth: ConsoleAuth) -> TestClient:
    return TestClient(build_app(Console(ctx=ctx, auth=auth)), base_url=BASE)


def _signed_in(client: TestClient, auth: ConsoleAuth) -> TestClient:
    assert client.get(f"/?token={auth.token}").status_code == 200
    return client


def _held(ctx: ServiceContext, subject: str = "s", body: str = "b", **kw: object) -> int:
    to = ("new@example.org",)
    msg = OutgoingMessage(account_id=1, to=to, subject=subject, body_text=body, **kw)  # type: ignore[arg-type]
    return outbox.queue(ctx, msg)


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, html
    return m.group(1)


def test_every_page_needs_the_token_or_the_session(client: TestClient, auth: ConsoleAuth) -> None:
    for path in ("/", "/approvals", "/outbox", "/audit", "/accounts", "/events"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert "needs its access token" in r.text and "Hint:" in r.text
    assert client.get("/approvals?token=wrong").status_code == 401
    client.cookies.set(auth.cookie_name, "forged.0000")
    assert client.get("/approvals").status_code == 401
    # Another process's cookie (other secrets) is no session here either.
    _, foreign = ConsoleAuth().new_session()
    client.cookies.set(auth.cookie_name, foreign)
    assert client.get("/approvals").status_code == 401


def test_the_token_sets_a_strict_httponly_cookie_and_leaves_the_url(
    client: TestClient, auth: ConsoleAuth
) -> None:
    r = client.get(f"/outbox?status=held&token={auth.token}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/outbox?status=held"  # the token is gone
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert auth.token not in cookie
    page = client.get("/outbox")
    assert page.status_code == 200 and "Outbox" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert auth.token not in page.text


def test_a_foreign_host_header_is_refused(client: TestClient, auth: ConsoleAuth) -> None:
    r = client.get(f"/approvals?token={auth.token}", headers={"host": "evil.example:8765"})
    assert r.status_code == 403 and "another host" in r.text


def test_posts_need_this_sessions_csrf_token_and_our_origin(
    client: TestClient, auth: ConsoleAuth, ctx: ServiceContext
) -> None:
    oid = _held(ctx)
    _signed_in(client, auth)
    token = _csrf(client.get("/approvals").text)
    url = f"/approvals/{oid}/reject"
    assert client.post(url, data={}).status_code == 403
    assert client.post(url, data={"csrf": "0" * 64}).status_code == 403
    other = ConsoleAuth()  # another process's secret: a token it made is not ours
    assert client.post(url, data={"csrf": other.csrf_token("x")}).status_code == 403
    r = client.post(url, data={"csrf": token}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "another site" in r.text
    assert OutboxRepo(ctx.db).counts() == {"awaiting_approval": 1}  # nothing changed
    assert AuditRepo(ctx.db).recent(10) == []
    r = client.post(url, data={"csrf": token}, headers={"origin": BASE}, follow_redirects=False)
    assert r.status_code == 303 and "rejected" in r.headers["location"]
    assert OutboxRepo(ctx.db).counts() == {"rejected": 1}
    (entry,) = AuditRepo(ctx.db).recent(10)
    assert (entry.entry_point, entry.tool, entry.outcome) == ("console", "reject", "ok")


def test_a_hash_that_no_longer_matches_is_refused_with_the_error(
    client: TestClient, auth: ConsoleAuth, ctx: ServiceContext
) -> None:
    oid = _held(ctx)
    _signed_in(client, auth)
    token = _csrf(client.get("/approvals").text)
    r = client.post(f"/approvals/{oid}/approve", data={"csrf": token, "hash": "f" * 64})
    assert r.status_code == 400
    assert "EMAIL_INVALID_ARGUMENT" in r.text and "does not match" in r.text
    assert "Hint:" in r.text and "Traceback" not in r.text
    assert OutboxRepo(ctx.db).counts() == {"awaiting_approval": 1}
    (entry,) = AuditRepo(ctx.db).recent(10)
    assert (entry.entry_point, entry.outcome) == ("console", "EMAIL_INVALID_ARGUMENT")


def test_network_off_retry_and_send_answer_network_disabled_as_data(
    client: TestClient, auth: ConsoleAuth, ctx: ServiceContext
) -> None:
    oid = _held(ctx)
    digest = ApprovalRepo(ctx.db).hashes([oid])[oid]
    _signed_in(client, auth)
    token = _csrf(client.get("/approvals").text)
    for url, data in (
        (f"/approvals/{oid}/approve", {"csrf": token, "hash": digest, "send": "1"}),
        (f"/outbox/{oid}/retry", {"csrf": token}),
    ):
        r = client.post(url, data=data)
        assert r.status_code == 403, url
        assert "EMAIL_NETWORK_DISABLED" in r.text and NETWORK_ENV in r.text
    assert OutboxRepo(ctx.db).counts() == {"awaiting_approval": 1}  # refused before approving
    r = client.post(f"/approvals/{oid}/approve", data={"csrf": token, "hash": digest})
    assert "approved: pending" in r.text  # plain approve queues it for the drain
    assert OutboxRepo(ctx.db).counts() == {"pending": 1}


def test_the_held_message_is_shown_escaped_with_its_attachments(
    client: TestClient, auth: ConsoleAuth, ctx: ServiceContext
) -> None:
    data = base64.b64encode(b"x" * 1234).decode()
    att = OutgoingAttachment(AttachmentBase64(data), filename="a<b>.bin")
    oid = _held(ctx, "<script>alert(1)</script>", "Hi <b>Bob</b>", attachments=(att,))
    _signed_in(client, auth)
    html = client.get("/approvals").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "Hi &lt;b&gt;Bob&lt;/b&gt;" in html
    assert "a&lt;b&gt;.bin" in html and "<td>1234</td>" in html
    assert ApprovalRepo(ctx.db).hashes([oid])[oid] in html


def test_unknown_filter_and_row_are_error_pages(
    client: TestClient, auth: ConsoleAuth, ctx: ServiceContext
) -> None:
    _signed_in(client, auth)
    r = client.get("/outbox?status=bogus")
    assert r.status_code == 400 and "EMAIL_INVALID_ARGUMENT" in r.text
    token = _csrf(client.get("/approvals").text) if _held(ctx) else ""
    r = client.post("/outbox/999/cancel", data={"csrf": token})
    assert r.status_code == 404 and "EMAIL_NOT_FOUND" in r.text
    r = client.post("/approvals/999/reject", data={"csrf": token})
    assert r.status_code == 404


def test_doctor_with_the_network_off_runs_the_offline_checks(
    client: TestClient, auth: ConsoleAuth
) -> None:
    _signed_in(client, auth)
    html = client.get("/accounts").text
    assert "#1 acct1" in html and "Run doctor" in html and 'class="checks"' not in html
    html = client.get("/accounts?doctor=1").text
    assert "smtp.credentials" in html and "EMAIL_NETWORK_DISABLED" in html


def test_cli_refuses_a_host_that_is_not_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    assert main(["--db", db, "console", "--host", "192.0.2.7"]) == 1
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "--allow-remote" in err


def test_an_unexpected_failure_is_a_500_page_and_logs_no_token(
    client: TestClient,
    auth: ConsoleAuth,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _signed_in(client, auth)

    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(AuditRepo, "verify", broken)
    r = client.get(f"/audit?token={auth.token}&x=1", follow_redirects=True)
    assert r.status_code == 500
    assert "EMAIL_INTERNAL" in r.text and "Hint:" in r.text
    assert "Traceback" not in r.text and "boom" not in r.text
    assert "console: GET /audit failed" in caplog.text
    assert auth.token not in caplog.text


def test_off_loopback_the_host_is_not_checked_and_https_origins_count() -> None:
    auth = ConsoleAuth()
    auth.bind_to("127.0.0.1", 9)
    assert auth.check_host("127.0.0.1:9") is None and auth.check_host("localhost:9") is None
    assert auth.check_host("127.0.0.1:10") is not None
    auth.bind_to("0.0.0.0", 9)  # --allow-remote: the names are the proxy's
    assert auth.check_host("mail.example:443") is None
    sid, _ = auth.new_session()
    token = auth.csrf_token(sid)
    assert auth.check_post(sid, token, "https://mail.example", "mail.example") is None
    assert auth.check_post(sid, token, "https://evil.example", "mail.example") is not None
    assert auth.check_post(sid, token, "null", "mail.example") is not None


def test_an_unknown_page_or_method_is_an_error_page(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404 and "EMAIL_NOT_FOUND" in r.text and "/nowhere" in r.text
    r = client.get("/outbox/1/retry")  # a form's URL, but not a GET
    assert r.status_code == 405 and "GET not allowed" in r.text


def test_a_long_queue_pages_with_a_cursor(
    client: TestClient, auth: ConsoleAuth, ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prx_email.adapters.console import app

    monkeypatch.setattr(app, "PAGE_SIZE", 1)
    first, second = _held(ctx, "one"), _held(ctx, "two")
    _signed_in(client, auth)
    html = client.get("/approvals").text
    assert f'id="held-{second}"' in html and f'id="held-{first}"' not in html  # newest first
    more = re.search(r'href="(/approvals\?cursor=[^"]+)"', html)
    assert more, html
    html = client.get(more.group(1)).text
    assert f'id="held-{first}"' in html and "older held messages" not in html
