"""Outbox chaos: concurrent ``prx-email send-due`` processes SIGKILLed at random moments.

A real aiosmtpd answers 451 to a fraction of DATA at random and sleeps 0-100 ms before and
after accepting a message (seeded: ``PRX_CHAOS_SEED``). 80 messages are queued; each round
runs 2-3 drainers with a small ``--limit`` (so they share the work) and kills each at a
random moment; a drainer that ends early is replaced until its slot's kill time. One round
stalls the server's 250 after it accepted a message and kills the client then, so every
variant meets at least one unknown outcome. After the rounds, a clean drain. Then:

- 0 lost: every queued Message-ID reached the server (``held`` rows excepted: their outcome
  is unknown by definition and they wait for ``email.retry``);
- 0 dead, 0 stuck (nothing pending/sending/failed);
- every row matches the server's log: ``sent`` exactly when the server has it;
- no attempt burned: a row's ``attempts`` never exceed the DATA the server answered for it
  plus its attempts cut off after DATA started;
- duplicates only for rows whose DATA had started when their drainer was killed (seen in
  the store right after each round), at most one extra copy per such kill; with
  ``unknown_outcome = "hold"`` no duplicates, the held rows are among those, and
  ``prx-email outbox retry ID --now`` releases one;
- with the server filing sent mail into Dovecot's Sent (``server_files_sent = true``):
  0 duplicates and nothing held.

The observed numbers are printed (``pytest -s``) as one ``chaos[...]`` line per variant.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fixtures.smtpd import Chaos, SmtpSink
from helpers.chaos import (
    IMAP_PASSWORD_ENV,
    cli,
    imap_table,
    kill,
    queue,
    rows,
    send_due,
    spawn_send_due,
    wait_for_leases,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.chaos]

SEED = int(os.environ.get("PRX_CHAOS_SEED", "20261201"))
MESSAGES = 80
MAX_ROUNDS = 12
STALL_ROUND = 2  # this round's first kill lands between the server's acceptance and its 250
LEASE = 1.0
SMTP_TIMEOUT = 2.0  # a cut-off DATA holds its lease 2 x this + 1 s; the clean drain waits it out
BUDGET = 18.0  # seconds of chaos per variant at most; the clean drain follows


@dataclass
class Observed:
    rounds: int = 0
    drainers: int = 0
    kills: int = 0
    crashed: list[str] = field(default_factory=list)
    chaos_seconds: float = 0.0
    drains: int = 0
    settled_in_chaos: int = 0  # rows sent or held when the clean drain began
    # (Message-ID, data_at) of every attempt cut off after its DATA started: a row stays
    # `sending` until its lease expires, so later rounds see the same attempt again.
    cut: set[tuple[str, float]] = field(default_factory=set)

    @property
    def uncertain(self) -> Counter[str]:
        """Message-ID -> how many of its attempts were cut off after DATA started."""
        return Counter(mid for mid, _ in self.cut)


def unsettled(db: Path) -> bool:
    return any(r.status in ("pending", "sending", "failed") for r in rows(db))


def _reap(proc: subprocess.Popen[bytes], obs: Observed, what: str = "drainer") -> None:
    """A drainer that ended by itself must have printed its report, without a traceback."""
    out, err = proc.communicate(timeout=30)
    text = err.decode(errors="replace")
    if "Traceback" in text or not out.strip().startswith(b"{"):
        obs.crashed.append(f"{what} rc {proc.returncode}: {text[-2000:]}")


def chaos_round(
    db: Path, cfg: Path, rng: random.Random, obs: Observed, sink: SmtpSink, *, stall: bool
) -> None:
    """2-3 drainer slots, each killed at a random moment; early finishers are replaced.

    In a ``stall`` round the server withholds its 250 after accepting a message and every
    drainer is killed as soon as that happened.
    """
    start = time.monotonic()
    slots = rng.choice([2, 3])
    deadline = [start + (30.0 if stall else rng.uniform(0.4, 2.2)) for _ in range(slots)]
    limits = [rng.randint(3, 10) for _ in range(slots)]
    procs: list[subprocess.Popen[bytes] | None] = [None] * slots
    done = [False] * slots
    if stall:
        sink.handler.accepted.clear()
        sink.handler.release.clear()
        sink.handler.stall_after_accept = True
    try:
        while not all(done):
            now = time.monotonic()
            if stall and sink.handler.accepted.is_set():
                deadline = [min(d, now) for d in deadline]
            for i in range(slots):
                if done[i]:
                    continue
                p = procs[i]
                if p is not None and p.poll() is not None:
                    _reap(p, obs)
                    procs[i] = p = None
                if now >= deadline[i]:
                    if p is not None:
                        obs.kills += int(kill(p))
                        procs[i] = None
                    done[i] = True
                elif p is None:
                    if deadline[i] - now > 0.3:
                        procs[i] = spawn_send_due(db, cfg, "--limit", str(limits[i]))
                        obs.drainers += 1
                    else:
                        done[i] = True
            time.sleep(0.01)
    finally:
        for p in procs:
            if p is not None:
                obs.kills += int(kill(p))
        sink.handler.stall_after_accept = False
        sink.handler.release.set()
    obs.rounds += 1
    # Every drainer is gone: a row still `sending` with DATA started was cut off mid-send.
    for r in rows(db):
        if r.status == "sending" and r.data_at is not None:
            obs.cut.add((r.message_id, r.data_at))


def run_chaos(db: Path, cfg: Path, sink: SmtpSink, seed: int) -> Observed:
    rng = random.Random(seed)
    obs = Observed()
    began = time.monotonic()
    for n in range(MAX_ROUNDS):
        if n > STALL_ROUND and (not unsettled(db) or time.monotonic() - began > BUDGET):
            break
        chaos_round(db, cfg, rng, obs, sink, stall=n == STALL_ROUND)
    obs.chaos_seconds = time.monotonic() - began
    obs.settled_in_chaos = sum(r.status in ("sent", "held") for r in rows(db))
    # The clean drain: leases expire, then send-due runs to the end (no kills).
    for _ in range(6):
        wait_for_leases(db)
        obs.drains += 1
        res = send_due(db, cfg)
        if "Traceback" in res.stderr or not res.stdout.strip().startswith("{"):
            obs.crashed.append(f"clean drain rc {res.returncode}: {res.stderr[-2000:]}")
        if not unsettled(db):
            break
        time.sleep(0.2)
    return obs


@pytest.fixture
def chaos_sink(smtpd_plain: SmtpSink) -> SmtpSink:
    smtpd_plain.handler.chaos = Chaos(seed=SEED, fail_fraction=0.1, max_sleep=0.1)
    return smtpd_plain


VARIANTS: dict[str, dict[str, Any]] = {
    "resend": {},  # the default policy, unknown_outcome = "resend"
    "hold": {"unknown_outcome": "hold"},
    "server-files-sent": {"server_files_sent": True, "sent_folder": "Sent"},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_outbox_chaos(
    variant: str,
    chaos_sink: SmtpSink,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = chaos_sink
    imap = None
    files_sent = variant == "server-files-sent"
    if files_sent:
        dovecot: Any = request.getfixturevalue("dovecot")
        monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
        dovecot.create_folder("Sent")
        sink.handler.on_accept = lambda rec: dovecot.add_messages(
            [rec.content], folder="Sent", flags="S"
        )
        imap = imap_table(dovecot)
    db = tmp_path / "mail.db"
    cfg = write_config(
        tmp_path / "config.toml",
        smtp_port=sink.port,
        sink=sink,
        smtp_timeout=SMTP_TIMEOUT,
        imap=imap,
        # The shipped max_attempts and circuit breaker; retries due at once.
        send={"lease_seconds": LEASE, "backoff_base_seconds": 0.01, **VARIANTS[variant]},
    )
    ids = queue(cfg, db, MESSAGES, prefix="chaos", lines=20)
    started = time.monotonic()
    obs = run_chaos(db, cfg, sink, SEED)
    elapsed = time.monotonic() - started

    final = {r.message_id: r for r in rows(db)}
    counts = sink.handler.counts()
    status = Counter(r.status for r in final.values())
    dups = {m: c for m, c in counts.items() if c > 1}
    held = {m for m, r in final.items() if r.status == "held"}
    lost = [m for m in ids if counts[m] == 0 and m not in held]
    refused = sink.handler.chaos.refused if sink.handler.chaos else 0
    print(
        f"\nchaos[{variant}] seed={SEED} rounds={obs.rounds} drainers={obs.drainers}"
        f" kills={obs.kills} uncertain={sum(obs.uncertain.values())}"
        f" duplicates={len(dups)} extra_copies={sum(c - 1 for c in dups.values())}"
        f" held={len(held)} lost={len(lost)} statuses={dict(status)}"
        f" data={sink.handler.data_attempts} 451s={refused}"
        f" elapsed={elapsed:.1f}s (chaos {obs.chaos_seconds:.1f}s"
        f" settling {obs.settled_in_chaos}/{MESSAGES},"
        f" clean drain runs {obs.drains})"
    )

    assert not obs.crashed, obs.crashed
    assert obs.kills >= obs.rounds, "the drainers were not killed"
    assert obs.uncertain, "no kill landed after DATA started (the stall round should)"
    assert set(final) == set(ids)
    assert lost == [], f"{len(lost)} messages never reached the server"
    assert status["dead"] == 0, [r for r in final.values() if r.status == "dead"]
    stuck = [r for r in final.values() if r.status in ("pending", "sending", "failed")]
    assert stuck == [], stuck
    mismatch = [
        (m, r.status, counts[m])
        for m, r in final.items()
        if r.status != "held" and (r.status == "sent") != (counts[m] >= 1)
    ]
    assert mismatch == [], "row state disagrees with the server's log"
    assert set(counts) <= set(ids), "the server got a Message-ID nobody queued"
    # Attempts count only what reached the server: a DATA it answered, or one cut off by a
    # kill after it started. A kill before DATA costs nothing.
    answered = Counter(mid for mid, _ in sink.handler.data_log)
    burned = {
        m: (r.attempts, answered[m], obs.uncertain[m])
        for m, r in final.items()
        if r.attempts > answered[m] + obs.uncertain[m]
    }
    assert burned == {}, f"attempts beyond what the server saw (attempts, DATA, cut): {burned}"

    if files_sent:
        assert dups == {}, f"duplicates although the server files sent mail: {dups}"
        assert held == set()
    elif variant == "hold":
        assert dups == {}, f"duplicates under unknown_outcome = hold: {dups}"
        assert held, "the stalled unknown outcome should have been held"
        assert held <= set(obs.uncertain), "held a row whose DATA never started before a kill"
        assert all(counts[m] <= 1 for m in held)
        # A held row is released by an explicit retry (the real CLI): sent, same Message-ID.
        sink.handler.chaos = None  # the server behaves now: this is about the release
        first = min(held, key=lambda m: final[m].id)
        res = cli(db, cfg, "outbox", "retry", str(final[first].id), "--now")
        assert res.returncode == 0, res
        assert {r.id: r.status for r in rows(db)}[final[first].id] == "sent"
        assert 1 <= sink.handler.count(first) <= 2
    else:
        assert set(dups) <= set(obs.uncertain), {m: dups[m] for m in set(dups) - set(obs.uncertain)}
        over = {m: c for m, c in dups.items() if c > 1 + obs.uncertain[m]}
        assert over == {}, f"more copies than unknown outcomes: {over}"
        assert held == set()
        assert dups, "the stalled unknown outcome should have been sent again (resend)"
