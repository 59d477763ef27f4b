"""The operator console in a real headless Chromium (Debian's), driven by Playwright.

One ``prx-email console --port 0`` process (the real CLI, network switch on) and one
browser serve the whole module; a real aiosmtpd (STARTTLS + AUTH) is the account's relay.
Each test queues its own held rows through the same outbox service an agent's send uses,
then acts through the pages: approve by clicking (delivered exactly once), reject (nothing
sent), refusals without the token (401) and without a CSRF token (403, nothing changed),
the outbox filter, the audit chain before and after a row is tampered with in the store.
Every page's screenshot is saved under build/console-screenshots/.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.smtpd import PASSWORD, PASSWORD_ENV, USER, SmtpSink, TlsFiles
from helpers.outbox import context
from playwright.sync_api import Browser, Page, sync_playwright
from prx_email import NETWORK_ENV
from prx_email.config.loader import parse_config
from prx_email.services import outbox
from prx_email.services.context import ServiceContext
from prx_email.store.approvals import ApprovalRepo
from prx_email.store.outbox import OutboxRepo
from prx_email.types import AttachmentBase64, OutgoingAttachment, OutgoingMessage

pytestmark = [pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[1] / "build" / "console-screenshots"
# A local domain: the doctor's SPF/DKIM checks do not reach out to DNS for it.
ADDRESS = "me@console.localhost"


@dataclass
class Console:
    url: str  # with the token
    base: str
    ctx: ServiceContext
    sink: SmtpSink
    stderr: Path

    def held(self, to: str, subject: str = "hello", **kw: object) -> int:
        msg = OutgoingMessage(account_id=1, to=(to,), subject=subject, body_text="Hi!", **kw)  # type: ignore[arg-type]
        return outbox.queue(self.ctx, msg)

    def drain(self) -> None:
        """What ``prx-email send-due`` runs; in a thread: Playwright's loop owns this one."""
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, outbox.drain_due(self.ctx)).result(timeout=30)

    def status(self, oid: int) -> str:
        entry = OutboxRepo(self.ctx.db).entry(oid)
        assert entry is not None
        return entry.status.value

    def deliveries(self, oid: int) -> int:
        entry = OutboxRepo(self.ctx.db).entry(oid)
        assert entry is not None
        return self.sink.handler.count(entry.message_id)


def _config(sink: SmtpSink) -> str:
    assert sink.tls_files is not None
    return f"""
[[accounts]]
id = 1
name = "ops"
address = "{ADDRESS}"
[accounts.smtp]
host = "{sink.host}"
port = {sink.port}
tls = "starttls"
username = "{USER}"
password_env = "{PASSWORD_ENV}"
ca_file = "{sink.tls_files.ca_file}"
[accounts.send]
append_to_sent = false
[accounts.policy]
first_contact = "approve"
"""


def _first_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """The console's URL line (read in a thread: a dead process must not hang the test)."""
    assert proc.stdout is not None
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert got and got[0].startswith("prx-email console: http://"), (got, proc.poll())
    return got[0].split(": ", 1)[1].strip()


@pytest.fixture(scope="module")
def console(smtp_tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    sink = SmtpSink(tls="starttls", tls_files=smtp_tls).start()
    cfg = tmp / "config.toml"
    cfg.write_text(_config(sink))
    db = tmp / "mail.db"
    ctx = context(db, *parse_config(cfg.read_text()).accounts)
    stderr = tmp / "console.stderr"
    env = {
        **os.environ,
        NETWORK_ENV: "1",
        PASSWORD_ENV: PASSWORD,
        "PRX_EMAIL_LOG_LEVEL": "debug",  # whatever it logs, the token must not be in it
    }
    cmd = [sys.executable, "-m", "prx_email.adapters.cli"]
    cmd += ["--db", str(db), "--config", str(cfg), "console", "--port", "0"]
    with stderr.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        url = _first_line(proc)
        base = url.split("/?", 1)[0]
        yield Console(url=url, base=base, ctx=ctx, sink=sink, stderr=stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
        ctx.db.close()
        sink.stop()
    token = url.split("token=", 1)[1]
    assert token not in stderr.read_text()  # never logged, not even at debug


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/ensure-system-deps.sh")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh browser context (no cookie), signed in by opening the printed URL."""
    ctx = browser.new_context()
    pg = ctx.new_page()
    response = pg.goto(console.url)
    assert response is not None and response.status == 200
    assert "token=" not in pg.url  # the token left the address bar
    try:
        yield pg
    finally:
        ctx.close()


def _shot(pg: Page, name: str) -> None:
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_without_the_token_every_page_is_refused(browser: Browser, console: Console) -> None:
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        for path in ("/approvals", "/outbox", "/audit", "/?token=not-the-token"):
            response = pg.goto(console.base + path)
            assert response is not None and response.status == 401, path
        assert "needs its access token" in pg.inner_text("#error")
        _shot(pg, "unauthorized")
    finally:
        ctx.close()


def test_approve_by_click_delivers_exactly_once(page: Page, console: Console) -> None:
    data = base64.b64encode(b"%PDF-" + b"x" * 2043).decode()
    att = OutgoingAttachment(AttachmentBase64(data), filename="report.pdf")
    oid = console.held("alice@example.org", "Quarterly report", attachments=(att,))
    digest = ApprovalRepo(console.ctx.db).hashes([oid])[oid]
    page.goto(console.base + "/approvals")
    card = page.locator(f"#held-{oid}")
    assert card.locator("code.hash").inner_text() == digest
    assert "Quarterly report" in card.inner_text() and "alice@example.org" in card.inner_text()
    assert card.locator("pre.text").inner_text().strip() == "Hi!"
    row = card.locator("table.attachments tr", has_text="report.pdf")
    assert "application/pdf" in row.inner_text() and "2048" in row.inner_text()
    _shot(page, "approvals")
    assert console.deliveries(oid) == 0

    card.get_by_role("button", name="Approve and send now").click()
    assert f"outbox #{oid} approved: sent" in page.locator(".notice").inner_text()
    assert console.deliveries(oid) == 1
    # The drain the CLI runs (send-due) finds nothing left to send: still exactly once.
    console.drain()
    assert console.deliveries(oid) == 1 and console.status(oid) == "sent"
    received = [r for r in console.sink.received if r.rcpt_tos == ["alice@example.org"]]
    assert len(received) == 1 and received[0].message["Subject"] == "Quarterly report"


def test_a_message_changed_after_it_was_shown_is_refused(page: Page, console: Console) -> None:
    oid = console.held("bob@example.org")
    page.goto(console.base + "/approvals")
    raw = OutboxRepo(console.ctx.db).raw(oid)
    assert raw is not None
    console.ctx.db.connect().execute(
        "UPDATE outbox SET raw = ? WHERE id = ?", (raw.replace(b"Hi!", b"Ha!"), oid)
    )
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.locator(f"#held-{oid}").get_by_role("button", name="Approve", exact=True).click()
    assert info.value.status == 400
    error = page.inner_text("#error")
    assert "EMAIL_INVALID_ARGUMENT" in error and "does not match" in error and "Hint" in error
    _shot(page, "approve-refused")
    assert console.status(oid) == "awaiting_approval" and console.deliveries(oid) == 0


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    page: Page, console: Console
) -> None:
    oid = console.held("carol@example.org")
    digest = ApprovalRepo(console.ctx.db).hashes([oid])[oid]
    # The browser context's own cookie goes with these requests: only the token is missing.
    api = page.request
    for path, form in ((f"/approvals/{oid}/approve", {"hash": digest, "send": "1"}),
                       (f"/approvals/{oid}/reject", {})):  # fmt: skip
        response = api.post(console.base + path, form=form)
        assert response.status == 403 and "CSRF" in response.text()
    assert console.status(oid) == "awaiting_approval" and console.deliveries(oid) == 0


def test_reject_through_the_page_sends_nothing(page: Page, console: Console) -> None:
    oid = console.held("dave@example.org")
    page.goto(console.base + "/approvals")
    page.locator(f"#held-{oid}").get_by_role("button", name="Reject").click()
    assert f"outbox #{oid} rejected" in page.locator(".notice").inner_text()
    console.drain()
    assert console.status(oid) == "rejected" and console.deliveries(oid) == 0
    assert page.locator(f"#held-{oid}").count() == 0


def test_outbox_filters_and_shows_why_a_row_is_held(page: Page, console: Console) -> None:
    held = console.held("erin@example.org")
    # An unknown outcome can only come from a crash mid-DATA; here the store says so directly.
    console.ctx.db.connect().execute(
        "UPDATE outbox SET status = 'held', last_error = ? WHERE id = ?",
        ("DATA sent, outcome unknown (connection lost); held by unknown_outcome = hold", held),
    )
    page.goto(console.base + "/outbox")
    page.select_option("select[name=status]", "held")
    page.get_by_role("button", name="Filter").click()
    assert page.url.endswith("/outbox?status=held")
    rows = page.locator("#outbox tr.row")
    assert rows.count() >= 1
    assert all(s == "held" for s in page.locator("#outbox tr.row .badge.held").all_inner_texts())
    assert rows.count() == page.locator("#outbox tr.status-held").count()
    mine = page.locator(f"#row-{held}")
    assert "unknown outcome" in mine.inner_text() and "held by unknown_outcome" in mine.inner_text()
    _shot(page, "outbox")


def test_audit_page_shows_the_chain_then_the_tampered_entry(page: Page, console: Console) -> None:
    oid = console.held("frank@example.org")
    page.goto(console.base + "/approvals")
    page.locator(f"#held-{oid}").get_by_role("button", name="Reject").click()
    page.goto(console.base + "/audit")
    assert "Chain OK" in page.inner_text("#chain")
    mine = page.locator("#audit tr", has_text="console").first
    assert "reject" in mine.inner_text()
    _shot(page, "audit")
    conn = console.ctx.db.connect()
    (last, outcome) = conn.execute("SELECT id, outcome FROM audit_log ORDER BY id DESC").fetchone()
    conn.execute("UPDATE audit_log SET outcome = 'EMAIL_POLICY_DENIED' WHERE id = ?", (last,))
    try:
        page.reload()
        assert f"Chain BROKEN at entry {last}" in page.inner_text("#chain")
        _shot(page, "audit-tampered")
    finally:
        conn.execute("UPDATE audit_log SET outcome = ? WHERE id = ?", (outcome, last))
    page.reload()
    assert "Chain OK" in page.inner_text("#chain")


def test_accounts_doctor_and_events_pages(page: Page, console: Console) -> None:
    page.goto(console.base + "/accounts")
    page.get_by_role("button", name="Run doctor").click()
    checks = page.locator("#account-1 table.checks").inner_text()
    for step in ("smtp.tcp", "smtp.tls", "smtp.login", "mail-dns"):
        assert step in checks
    assert "smtp.login\tpass" in checks
    _shot(page, "accounts")
    console.held("grace@example.org")  # an outbox event
    page.goto(console.base + "/events")
    assert "awaiting_approval" in page.inner_text("#events")
    _shot(page, "events")


def test_two_tabs_approving_and_sending_at_once_deliver_once(console: Console) -> None:
    """The operator double-clicks, or two people act at once: two "Approve and send now" POSTs
    for the same held row race through the real console; the relay receives it once, the
    other POST is answered as data (already approved / not awaiting), never a second send."""
    import re

    import httpx2

    oid = console.held("race@example.org", "Race")
    digest = ApprovalRepo(console.ctx.db).hashes([oid])[oid]
    with httpx2.Client(follow_redirects=True, timeout=30) as web:
        assert web.get(console.url).status_code == 200  # the token sets the session cookie
        found = re.search(
            r'name="csrf" value="([0-9a-f]+)"', web.get(console.base + "/approvals").text
        )
        assert found
        form = {"csrf": found.group(1), "hash": digest, "send": "1"}
        barrier = threading.Barrier(2)

        def post() -> httpx2.Response:
            barrier.wait()
            return web.post(f"{console.base}/approvals/{oid}/approve", data=form)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: post(), range(2)))
    assert console.deliveries(oid) == 1 and console.status(oid) == "sent"
    assert all("Traceback" not in r.text for r in answers)
    won, lost = sorted(answers, key=lambda r: r.status_code)
    assert won.status_code == 200 and f"outbox #{oid} approved: sent" in won.text
    assert lost.status_code == 409 and "EMAIL_INVALID_STATE" in lost.text
