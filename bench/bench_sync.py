"""Sync benchmark (issue 3): first sync of 10,000 ~3 KB messages from a local Dovecot.

Runs, as whole processes side by side (alternating, median of N rounds):

- baseline: a plain ``imaplib`` script — one ``UID FETCH 1:* (UID FLAGS BODY.PEEK[])``
  and one ``executemany`` of (uid, flags, raw) into SQLite;
- prx-email, phase 1 (the issue's metric): ``services.sync.sync(complete=False)`` into a
  fresh store: every message durably stored with its parsed summary (sender, recipients,
  subject, date, flags, threading ids; filterable at once) and its raw bytes, pending;
- prx-email, phase 2, a separate process: ``services.completion.complete_pending`` on that store
  (full parse, bodies, snippet, attachment metadata, FTS5), which a normal ``sync`` runs
  right after phase 1 and every read runs before it answers;
- prx-email, both phases in one process: a plain ``services.sync.sync`` (what users run);
- mbsync (isync), when installed: a pull of INBOX into a fresh Maildir with its defaults
  (``FSync yes``: every message file synced), ``make bench`` installs it as root.

Then, in this process: the no-change resync time, and the FETCH reader's rate for batch
sizes from 20 to 10,000 messages per command (it must stay flat).

Usage: python bench/bench_sync.py [--messages 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "host"))

from fixtures.dovecot import DovecotServer, start_dovecot  # noqa: E402

if TYPE_CHECKING:
    from prx_email.mail.imap import ImapClient
    from prx_email.services.context import ServiceContext

WORDS = [
    "invoice",
    "meeting",
    "project",
    "report",
    "quarterly",
    "budget",
    "review",
    "schedule",
    "travel",
    "contract",
    "update",
    "summary",
    "proposal",
    "deadline",
    "customer",
    "support",
    "release",
    "notes",
    "agenda",
    "minutes",
]


def message(i: int, rng: random.Random) -> bytes:
    """A ~3 KB plain-text message (built as text: EmailMessage costs ~9 ms each)."""
    lines = []
    size = 0
    while size < 2600:
        line = " ".join(rng.choice(WORDS) for _ in range(12))
        lines.append(line)
        size += len(line) + 2
    thread = ""
    if i % 3 == 0:
        thread = (
            f"In-Reply-To: <bench{i - 1}@example.org>\r\n"
            f"References: <bench{i - 2}@example.org> <bench{i - 1}@example.org>\r\n"
        )
    head = (
        f"From: Sender {i % 97} <sender{i % 97}@example.org>\r\n"
        "To: alice@example.org, Bob <bob@example.org>\r\n"
        "Cc: carol@example.org\r\n"
        f"Subject: {rng.choice(WORDS).title()} {rng.choice(WORDS)} #{i}\r\n"
        f"Date: Mon, {1 + i % 28:02d} Jan 2024 {i % 24:02d}:00:00 +0000\r\n"
        f"Message-ID: <bench{i}@example.org>\r\n{thread}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
    )
    return (head + "\r\n".join(lines) + "\r\n").encode()


BASELINE = r"""
import imaplib, re, sqlite3, ssl, sys, time
host, port, user, pw, ca, db = sys.argv[1:7]
t0 = time.perf_counter()
ctx = ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
m.login(user, pw)
m.select("INBOX", readonly=True)
typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
rows = []
rx = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)")
for part in data:
    if isinstance(part, tuple):
        mm = rx.search(part[0])
        rows.append((int(mm.group(1)), mm.group(2).decode(), part[1]))
conn = sqlite3.connect(db)
conn.execute("CREATE TABLE IF NOT EXISTS m (uid INTEGER PRIMARY KEY, flags TEXT, raw BLOB)")
conn.executemany("INSERT OR REPLACE INTO m VALUES (?, ?, ?)", rows)
conn.commit()
m.logout()
print(len(rows), time.perf_counter() - t0)
"""

OURS = r"""
import asyncio, os, sys, time
t0 = time.perf_counter()
from pathlib import Path
from prx_email.auth.credentials import StaticCredentialProvider
from prx_email.config.model import (AccountConfig, Config, PasswordAuth, ServerConfig,
    SyncSettings, TlsMode)
from prx_email.services.context import ServiceContext
from prx_email.services.sync import sync
from prx_email.store.db import Database
from prx_email.types import SyncRequest
host, port, user, ca, db, batch = sys.argv[1:7]
acc = AccountConfig(id=1, name="b", address="alice@example.org",
    imap=ServerConfig(host=host, port=int(port), tls=TlsMode.IMPLICIT, username=user,
        auth=PasswordAuth(password_env="BENCH_PW"), ca_file=Path(ca)),
    sync=SyncSettings(batch_size=int(batch)))
ctx = ServiceContext(config=Config(accounts=(acc,)), db=Database(db),
    credentials=StaticCredentialProvider())
complete = len(sys.argv) > 7 and sys.argv[7] == "complete"
rep = asyncio.run(sync(ctx, SyncRequest(account_id=1, folder="INBOX"), complete=complete))
print(rep.folders[0].fetched, time.perf_counter() - t0)
"""

COMPLETE = r"""
import sys, time
t0 = time.perf_counter()
from prx_email.store.db import Database
from prx_email.services.completion import complete_pending
db = Database(sys.argv[1])
n = complete_pending(db, 1)
print(n, time.perf_counter() - t0)
"""


def run_proc(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a script as a whole process: (wall seconds, CPU seconds user+sys, stdout)."""
    return run_cmd([sys.executable, "-c", code, *args], env)


def run_cmd(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command as a whole process: (wall seconds, CPU seconds user+sys, stdout)."""
    # Each process starts with no dirty pages left by the one before: their writeback
    # would otherwise land on whichever process runs next (both sides write ~35 MB).
    os.sync()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(err.decode()[-3000:])
    cpu = _child_cpu()
    return wall, cpu, out.decode().strip()


_last_child_cpu = 0.0


def mbsync_config(server: DovecotServer, dest: Path) -> Path:
    """An mbsyncrc pulling the server's INBOX into the Maildir ``dest`` (0600: it holds
    the throwaway test password). ``localhost``: isync checks the certificate's DNS names."""
    rc = dest.parent / f"{dest.name}.mbsyncrc"
    rc.write_text(
        f"IMAPAccount bench\nHost localhost\nPort {server.imaps_port}\nUser {server.user}\n"
        f"Pass {server.password}\nSSLType IMAPS\nCertificateFile {server.ca_file}\n\n"
        "IMAPStore bench-remote\nAccount bench\n\n"
        f"MaildirStore bench-local\nPath {dest}/\nInbox {dest}/INBOX\n\n"
        "Channel bench\nFar :bench-remote:\nNear :bench-local:\nPatterns INBOX\n"
        "Create Near\nSync Pull\nSyncState *\n"
    )
    rc.chmod(0o600)
    return rc


def maildir_count(folder: Path) -> int:
    return sum(1 for sub in ("cur", "new") for _ in (folder / sub).iterdir())


def _child_cpu() -> float:
    """CPU of children reaped since the last call (RUSAGE_CHILDREN is cumulative)."""
    global _last_child_cpu
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ru.ru_utime + ru.ru_stime
    delta, _last_child_cpu = total - _last_child_cpu, total
    return delta


async def _inbox_client(server: DovecotServer) -> ImapClient:
    """Our IMAP client, logged in over implicit TLS, INBOX selected."""
    from prx_email.auth.credentials import Password
    from prx_email.config.model import PasswordAuth, ServerConfig, TlsMode
    from prx_email.mail.imap import connect

    sc = ServerConfig(
        host=server.host,
        port=server.imaps_port,
        tls=TlsMode.IMPLICIT,
        username=server.user,
        auth=PasswordAuth(),
        ca_file=server.ca_file,
    )
    client = await connect(sc, Password(server.user, server.password))
    await client.select("INBOX")
    return client


async def reader_rates(server: DovecotServer, total: int) -> list[tuple[int, float]]:
    client = await _inbox_client(server)
    out = []
    for batch in (20, 100, 1000, 10_000):
        if batch > total:
            break
        t0 = time.perf_counter()
        n = 0
        for start in range(1, total + 1, batch):
            end = min(total, start + batch - 1)
            res = await client.uid_fetch(f"{start}:{end}", "(UID FLAGS BODY.PEEK[])")
            n += len(res.items)
        dt = time.perf_counter() - t0
        out.append((batch, n / dt))
    await client.logout()
    return out


async def stock_aioimaplib_rates(server: DovecotServer) -> list[tuple[int, str]]:
    """aioimaplib's own FETCH handling, for comparison (quadratic, recursive per line)."""
    import ssl

    import aioimaplib

    out: list[tuple[int, str]] = []
    for batch in (20, 100, 1000):
        ctx = ssl.create_default_context(cafile=str(server.ca_file))
        client = aioimaplib.IMAP4_SSL(
            host=server.host, port=server.imaps_port, ssl_context=ctx, timeout=60
        )
        try:
            await client.wait_hello_from_server()
            await client.login(server.user, server.password)
            await client.select("INBOX")
            t0 = time.perf_counter()
            resp = await asyncio.wait_for(
                client.uid("fetch", f"1:{batch}", "(UID FLAGS BODY.PEEK[])"), 60
            )
            dt = time.perf_counter() - t0
            ok = resp.result == "OK"
            out.append((batch, f"{batch / dt:,.0f} msg/s" if ok else f"failed: {resp.result}"))
        except RecursionError:
            out.append((batch, "failed: RecursionError (one recursion per response line)"))
        except Exception as exc:
            out.append((batch, f"failed: {type(exc).__name__}"))
        finally:
            with contextlib.suppress(Exception):
                client.protocol.transport.abort()
    # A response of many short lines (FLAGS of the whole mailbox) hits the per-line recursion.
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    client = aioimaplib.IMAP4_SSL(
        host=server.host, port=server.imaps_port, ssl_context=ctx, timeout=60
    )
    try:
        await client.wait_hello_from_server()
        await client.login(server.user, server.password)
        await client.select("INBOX")
        # Its reader raises RecursionError inside the transport callback (asyncio would log
        # it at length); the command then never completes.
        asyncio.get_running_loop().set_exception_handler(lambda _loop, _ctx: None)
        t0 = time.perf_counter()
        resp = await asyncio.wait_for(client.uid("fetch", "1:*", "(UID FLAGS)"), 15)
        dt = time.perf_counter() - t0
        text = f"{len(resp.lines)} lines in {dt:.2f}s ({resp.result})"
    except RecursionError:
        text = "failed: RecursionError"
    except TimeoutError:
        text = "failed: RecursionError in its reader, the command never completed"
    except Exception as exc:
        text = f"failed: {type(exc).__name__}"
    finally:
        with contextlib.suppress(Exception):
            client.protocol.transport.abort()
    out.append((0, f"UID FETCH 1:* (UID FLAGS): {text}"))
    return out


async def flags_scan_ours(server: DovecotServer) -> float:
    client = await _inbox_client(server)
    t0 = time.perf_counter()
    res = await client.uid_fetch("1:*", "(UID FLAGS)")
    dt = time.perf_counter() - t0
    assert len(res.items) > 0
    await client.logout()
    return dt


def bench_context(server: DovecotServer, db: Path, batch: int = 500) -> ServiceContext:
    """A store at ``db`` and one account on ``server``'s INBOX (password in ``BENCH_PW``)."""
    from prx_email.auth.credentials import StaticCredentialProvider
    from prx_email.config.model import (
        AccountConfig,
        Config,
        PasswordAuth,
        ServerConfig,
        SyncSettings,
        TlsMode,
    )
    from prx_email.services.context import ServiceContext
    from prx_email.store.db import Database

    acc = AccountConfig(
        id=1,
        name="b",
        address="alice@example.org",
        imap=ServerConfig(
            host=server.host,
            port=server.imaps_port,
            tls=TlsMode.IMPLICIT,
            username=server.user,
            auth=PasswordAuth(password_env="BENCH_PW"),
            ca_file=server.ca_file,
        ),
        sync=SyncSettings(batch_size=batch),
    )
    return ServiceContext(
        config=Config(accounts=(acc,)), db=Database(db), credentials=StaticCredentialProvider()
    )


async def no_change_resync(server: DovecotServer, db: Path) -> float:
    from prx_email.services.sync import open_imap, sync_folder

    ctx = bench_context(server, db)
    acc = ctx.config.accounts[0]
    client = await open_imap(ctx, acc)
    await client.enable("QRESYNC")
    t0 = time.perf_counter()
    rep = await sync_folder(ctx, acc, client, "INBOX")
    dt = time.perf_counter() - t0
    assert rep.fetched == 0, rep
    await client.logout()
    return dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500)
    opts = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="prx-bench-"))
    os.chmod(work, 0o755)
    server = start_dovecot(work / "dovecot")
    try:
        rng = random.Random(7)
        t0 = time.perf_counter()
        msgs = [message(i, rng) for i in range(opts.messages)]
        server.add_messages(msgs, "INBOX")
        avg = sum(map(len, msgs)) / len(msgs)
        print(
            f"mailbox: {len(msgs)} messages, avg {avg:.0f} bytes, written in "
            f"{time.perf_counter() - t0:.2f}s"
        )
        t0 = time.perf_counter()
        server.index("INBOX")
        print(f"dovecot indexed in {time.perf_counter() - t0:.2f}s")

        env = dict(os.environ, BENCH_PW=server.password, PYTHONPATH=str(ROOT / "host"))
        # Bytecode for the package, as an installed copy has (pip compiles on install): with
        # PYTHONDONTWRITEBYTECODE set and no __pycache__, every child process would compile
        # ~70 modules from source first (~0.1 s CPU the baseline, all stdlib, never pays).
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(ROOT / "host" / "prx_email")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        base_times: list[float] = []
        our_times: list[float] = []
        base_cpu: list[float] = []
        our_cpu: list[float] = []
        done_times: list[float] = []
        done_cpu: list[float] = []
        one_times: list[float] = []
        one_cpu: list[float] = []
        mb_times: list[float] = []
        mb_cpu: list[float] = []
        mbsync = shutil.which("mbsync")
        _child_cpu()  # reset: dovecot helpers (doveadm) ran as children too
        last_db = work / "ours-last.db"
        for r in range(opts.rounds):
            bdb, odb = work / f"base{r}.db", work / f"ours{r}.db"
            wall, cpu, out = run_proc(
                BASELINE,
                [
                    server.host,
                    str(server.imaps_port),
                    server.user,
                    server.password,
                    str(server.ca_file),
                    str(bdb),
                ],
                env,
            )
            assert int(out.split()[0]) == opts.messages, out
            base_times.append(wall)
            base_cpu.append(cpu)
            wall, cpu, out = run_proc(
                OURS,
                [
                    server.host,
                    str(server.imaps_port),
                    server.user,
                    str(server.ca_file),
                    str(odb),
                    str(opts.batch),
                ],
                env,
            )
            assert int(out.split()[0]) == opts.messages, out
            our_times.append(wall)
            our_cpu.append(cpu)
            wall, cpu, out = run_proc(COMPLETE, [str(odb)], env)
            assert int(out.split()[0]) == opts.messages, out
            done_times.append(wall)
            done_cpu.append(cpu)
            wall, cpu, out = run_proc(
                OURS,
                [
                    server.host,
                    str(server.imaps_port),
                    server.user,
                    str(server.ca_file),
                    str(work / f"one{r}.db"),
                    str(opts.batch),
                    "complete",
                ],
                env,
            )
            assert int(out.split()[0]) == opts.messages, out
            one_times.append(wall)
            one_cpu.append(cpu)
            print(
                f"round {r + 1}: imaplib {base_times[-1]:.2f}s (cpu {base_cpu[-1]:.2f}s)  "
                f"prx-email summaries {our_times[-1]:.2f}s (cpu {our_cpu[-1]:.2f}s)  "
                f"completion {done_times[-1]:.2f}s (cpu {done_cpu[-1]:.2f}s)  "
                f"plain sync {one_times[-1]:.2f}s (cpu {one_cpu[-1]:.2f}s)  "
                f"ratio (a) {our_times[-1] / base_times[-1]:.2f}x"
            )
            shutil.copy(odb, last_db) if r == opts.rounds - 1 else None
        # mbsync after all rounds, not within them: it syncs each of its 10,000 files, and
        # the writeback it leaves behind slowed the next round's processes unevenly.
        for r in range(opts.rounds if mbsync is not None else 0):
            dest = work / f"mbsync{r}"
            dest.mkdir()
            rc = mbsync_config(server, dest)
            wall, cpu, _ = run_cmd([mbsync or "mbsync", "-c", str(rc), "-q", "bench"], env)
            assert maildir_count(dest / "INBOX") == opts.messages
            mb_times.append(wall)
            mb_cpu.append(cpu)
            print(f"mbsync round {r + 1}: {wall:.2f}s (cpu {cpu:.2f}s)")
        b, o = statistics.median(base_times), statistics.median(our_times)
        # Each round runs both back to back: the median of those paired ratios is the
        # statistic least moved by the machine speeding up or slowing down between rounds.
        paired = statistics.median(x / y for x, y in zip(our_times, base_times, strict=True))
        c = statistics.median(done_times)
        tot = statistics.median([x + y for x, y in zip(our_times, done_times, strict=True)])
        one = statistics.median(one_times)
        result = {
            "messages": opts.messages,
            "batch_size": opts.batch,
            "imaplib_s": round(b, 3),
            "prx_email_s": round(o, 3),
            "ratio": round(o / b, 3),
            "paired_ratio": round(paired, 3),
            "completion_s": round(c, 3),
            "completion_msg_per_s": round(opts.messages / c),
            "total_s": round(tot, 3),
            "total_ratio": round(tot / b, 3),
            "plain_sync_s": round(one, 3),
            "plain_sync_cpu_s": round(statistics.median(one_cpu), 3),
            "imaplib_cpu_s": round(statistics.median(base_cpu), 3),
            "prx_email_cpu_s": round(statistics.median(our_cpu), 3),
            "completion_cpu_s": round(statistics.median(done_cpu), 3),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "mbsync": "not installed" if mbsync is None else mbsync,
        }
        print(
            f"(a) first sync to durable, filterable summaries: imaplib {b:.2f}s, prx-email "
            f"{o:.2f}s, ratio {o / b:.2f}x, median of the rounds' ratios {paired:.2f}x "
            f"(target <= 1.5x); {opts.messages / o:.0f} msg/s"
        )
        print(
            f"(b) deferred completion (full parse, bodies, FTS), own process: {c:.2f}s, "
            f"{opts.messages / c:.0f} msg/s"
        )
        print(f"(c) total (a) + (b): {tot:.2f}s, {tot / b:.2f}x the imaplib script")
        print(
            f"(d) plain services.sync.sync (both phases, one process): {one:.2f}s, "
            f"{one / b:.2f}x the imaplib script"
        )
        print(
            f"cpu: imaplib {result['imaplib_cpu_s']}s, prx-email {result['prx_email_cpu_s']}s "
            f"+ completion {result['completion_cpu_s']}s; "
            f"load average {result['load_avg_1m']} on {os.cpu_count()} cpus (wall ratios "
            "stretch under load: the CPU-heavier process loses more)"
        )
        if mbsync is None:
            print("mbsync: not installed, skipped (make bench installs isync as root)")
        else:
            mb = statistics.median(mb_times)
            result["mbsync_s"] = round(mb, 3)
            result["mbsync_cpu_s"] = round(statistics.median(mb_cpu), 3)
            result["ratio_vs_mbsync"] = round(o / mb, 3)
            print(
                f"(e) mbsync pull into a Maildir (its defaults, FSync on): {mb:.2f}s (cpu "
                f"{result['mbsync_cpu_s']}s), {mb / b:.2f}x the imaplib script; prx-email (a) "
                f"is {o / mb:.2f}x mbsync's time"
            )

        os.environ["BENCH_PW"] = server.password
        nc = asyncio.run(no_change_resync(server, last_db))
        result["no_change_resync_ms"] = round(nc * 1000, 2)
        print(f"no-change resync of {opts.messages}: {nc * 1000:.1f} ms")

        rates = asyncio.run(reader_rates(server, opts.messages))
        result["reader_rates"] = {str(k): round(v) for k, v in rates}
        for batch, rate in rates:
            print(f"FETCH reader, {batch:>6} messages per command: {rate:,.0f} msg/s")
        stock = asyncio.run(stock_aioimaplib_rates(server))
        result["stock_aioimaplib"] = {str(k): v for k, v in stock}
        for batch, text in stock:
            if batch:
                print(f"stock aioimaplib FETCH, {batch:>6} messages per command: {text}")
            else:
                print(f"stock aioimaplib {text}")
        fs = asyncio.run(flags_scan_ours(server))
        result["flags_scan_s"] = round(fs, 3)
        print(f"our reader UID FETCH 1:* (UID FLAGS) of {opts.messages}: {fs:.2f}s")
        print(json.dumps(result))
        return 0 if o / b <= 1.5 else 1
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
