-- Outbox (issue 4): one row per outgoing message, with the exact bytes that every attempt sends.
-- Times are REAL seconds since the epoch (sub-second leases and backoff in tests).
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead')),
    message_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    sender TEXT NOT NULL,
    -- JSON array of envelope recipients (To + Cc + Bcc) still to deliver.
    recipients TEXT NOT NULL,
    -- JSON array of every envelope recipient, as queued (shown in listings).
    all_recipients TEXT NOT NULL,
    raw BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at REAL,
    claim_token TEXT,
    claimed_by TEXT,
    lease_until REAL,
    -- Set right before the DATA command of the current attempt: a crash after this point
    -- may have delivered the message, so recovery looks in the Sent folder first.
    data_at REAL,
    -- 1 when an earlier attempt may have been delivered but the Sent folder could not be
    -- checked: the next attempt looks in Sent before sending again.
    verify_sent INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT,
    parent_key INTEGER
);

CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_account ON outbox (account_id, status, id);

CREATE TABLE IF NOT EXISTS outbox_attempts (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    -- Deterministic: outbox-<id>-<attempt>.
    attempt_key TEXT NOT NULL UNIQUE,
    claim_token TEXT NOT NULL,
    worker_id TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    -- sent | partial | transient | permanent | exhausted | recovered | requeued | unverified
    -- | lost-claim
    outcome TEXT,
    smtp_code INTEGER,
    server_reply TEXT,
    PRIMARY KEY (outbox_id, attempt)
);

-- Per-account SMTP circuit breaker, shared by every process draining this store.
CREATE TABLE IF NOT EXISTS smtp_circuit (
    account_id INTEGER PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    open_until REAL,
    last_error TEXT,
    updated_at REAL NOT NULL
);
