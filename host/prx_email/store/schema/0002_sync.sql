-- Sync state (issue 3): one row per (account, folder) that has been synced.
-- `last_uid` is the highest UID whose message is stored; it only moves inside the same
-- transaction as the upsert of that message, so a failed job never advances it.
CREATE TABLE IF NOT EXISTS sync_state (
    account_id INTEGER NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL DEFAULT 0,
    uidnext INTEGER,                 -- server UIDNEXT when the folder was last fully synced
    highestmodseq INTEGER,           -- CONDSTORE HIGHESTMODSEQ of the last flag/expunge pass
    last_sync_at INTEGER,
    PRIMARY KEY (account_id, folder)
);

-- Scheduler state: per-job failure count and backoff, so a restart keeps backing off.
CREATE TABLE IF NOT EXISTS sync_jobs (
    account_id INTEGER NOT NULL,
    folder TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_due REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    last_run_at REAL,
    PRIMARY KEY (account_id, folder)
);
