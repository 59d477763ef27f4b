"""Full-text indexing rate of the message store against a raw SQLite FTS5 script.

    .venv/bin/python bench/bench_index.py [--messages 10000] [--batch 500] [--repeat 3]

One synthetic corpus (~3 KB messages, parsed once up front), timed four ways, each into a
fresh database file with the store's pragmas (WAL, synchronous=NORMAL):

* raw FTS5: what a plain script does - one FTS5 table (default content storage) over
  subject/from/to/cc/body, one ``executemany``, one commit.
* raw FTS5 contentless: the same with ``content=''`` (index only, like the store's table).
* store: ``MessageStore.upsert_many`` in sync-sized batches - rows, indexes and FTS.
* store without FTS: the same minus the batch's FTS insert, to isolate the index cost.

The indexing rate of the store is messages / (store - store without FTS); it is compared
with the raw scripts' rates. The parser's cost per message is printed too.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

from prx_email.mail.parse import ParsedMessage, parse_message
from prx_email.store import messages
from prx_email.store.db import Database
from prx_email.store.messages import MessageStore, StoreItem

SEEN = "\\Seen"


def corpus(n: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "do", "gu"]
    words = ["".join(rnd.choices(syllables, k=rnd.randint(1, 4))) for _ in range(6000)]
    out = []
    for i in range(n):
        body_words: list[str] = []
        size = 0
        while size < 2600:
            line = " ".join(rnd.choices(words, k=12))
            body_words.append(line)
            size += len(line) + 2
        subject = " ".join(rnd.choices(words, k=6))
        raw = (
            f"Return-Path: <u{i % 97}@example.com>\r\n"
            f"Received: from mx{i % 5}.example.com by imap.example.org; "
            f"Mon, 1 Jun 2026 10:00:00 +0000\r\n"
            f"From: User {i % 97} <u{i % 97}@example.com>\r\n"
            f"To: Me <me@example.org>\r\nCc: team{i % 7}@example.org\r\n"
            f"Subject: {subject}\r\n"
            f"Date: Mon, {1 + i % 28} Jun 2026 {i % 24:02d}:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <bench{i}@example.com>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n" + "\r\n".join(body_words) + "\r\n"
        )
        out.append(raw.encode())
    return out


def fresh(tmp: Path, name: str) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp / f"{name}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def raw_fts(tmp: Path, rows: Sequence[tuple[str, ...]], *, contentless: bool) -> float:
    conn = fresh(tmp, f"raw{contentless}{time.perf_counter_ns()}")
    opts = ", content=''" if contentless else ""
    conn.execute(f"CREATE VIRTUAL TABLE fts USING fts5(subject, f, t, c, body{opts})")
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO fts VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def store_run(tmp: Path, items: list[StoreItem], batch: int, *, fts: bool) -> float:
    db = Database(tmp / f"store{fts}{time.perf_counter_ns()}.db")
    store = MessageStore(db)
    index_new = messages._INDEX_NEW
    if not fts:
        messages._INDEX_NEW = "SELECT ?"  # skip the batch's FTS insert
    try:
        start = time.perf_counter()
        for i in range(0, len(items), batch):
            store.upsert_many(1, "INBOX", 1, items[i : i + batch])
        elapsed = time.perf_counter() - start
    finally:
        messages._INDEX_NEW = index_new
    db.close()
    return elapsed


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.messages

    raws = corpus(n)
    avg = statistics.mean(len(r) for r in raws)
    start = time.perf_counter()
    parsed: list[ParsedMessage] = [parse_message(r) for r in raws]
    parse_us = (time.perf_counter() - start) / n * 1e6
    items = [
        StoreItem(uid=i + 1, flags=(SEEN,) if i % 3 else (), size=len(r), parsed=p)
        for i, (r, p) in enumerate(zip(raws, parsed, strict=True))
    ]
    rows = [(p.subject, p.from_, "\n".join(p.to), "\n".join(p.cc), p.index_text) for p in parsed]

    with tempfile.TemporaryDirectory(prefix="prx-bench-index-") as d:
        tmp = Path(d)
        raw_t = best(lambda: raw_fts(tmp, rows, contentless=False), args.repeat)
        raw_cl_t = best(lambda: raw_fts(tmp, rows, contentless=True), args.repeat)
        store_t = best(lambda: store_run(tmp, items, args.batch, fts=True), args.repeat)
        bare_t = best(lambda: store_run(tmp, items, args.batch, fts=False), args.repeat)

    index_t = max(store_t - bare_t, 1e-9)

    def rate(t: float) -> str:
        return f"{n / t:>9,.0f} msg/s"

    print(f"corpus: {n} messages, {avg:,.0f} bytes on average; best of {args.repeat} runs")
    print(f"parse_message:                 {parse_us:7.1f} µs/message")
    print(f"raw FTS5 (content stored):     {raw_t:7.3f} s  {rate(raw_t)}")
    print(f"raw FTS5 (contentless):        {raw_cl_t:7.3f} s  {rate(raw_cl_t)}")
    print(f"store upsert (rows + FTS):     {store_t:7.3f} s  {rate(store_t)}")
    print(f"store upsert without FTS:      {bare_t:7.3f} s  {rate(bare_t)}")
    print(f"store indexing (difference):   {index_t:7.3f} s  {rate(index_t)}")
    print(f"indexing rate vs raw FTS5:             {raw_t / index_t:5.2f}x  (target >= 0.9x)")
    print(f"indexing rate vs raw contentless FTS5: {raw_cl_t / index_t:5.2f}x")
    print(f"whole store upsert vs raw FTS5:        {raw_t / store_t:5.2f}x")


if __name__ == "__main__":
    main()
