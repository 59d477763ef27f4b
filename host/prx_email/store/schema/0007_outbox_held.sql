-- Outbox semantics of issue 10. The table is rebuilt because SQLite cannot change a CHECK:
-- * status `held`: a row whose DATA started, whose outcome is unknown and that the account's
--   `unknown_outcome = "hold"` policy parks until `email.retry` (now = true) releases it;
-- * `attempts` now counts only attempts that reached the server (the claim no longer adds 1);
-- * `copy_pending` = 1: the row is sent and our copy to the Sent folder is still to be
--   appended (set in the same statement as `sent`, cleared after the APPEND, repaired by the
--   next drain when a kill came in between).
-- outbox_attempts references outbox (ON DELETE CASCADE, foreign keys on): it is set aside
-- first so that dropping the old table deletes nothing.
CREATE TABLE outbox_attempts_keep AS SELECT * FROM outbox_attempts;
DROP TABLE outbox_attempts;

CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held', 'dead')),
    message_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    all_recipients TEXT NOT NULL,
    raw BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at REAL,
    claim_token TEXT,
    claimed_by TEXT,
    lease_until REAL,
    data_at REAL,
    verify_sent INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT,
    parent_key INTEGER,
    deferred TEXT,
    copy_pending INTEGER NOT NULL DEFAULT 0
);
INSERT INTO outbox_new (id, account_id, status, message_id, subject, sender, recipients,
    all_recipients, raw, attempts, max_attempts, next_attempt_at, claim_token, claimed_by,
    lease_until, data_at, verify_sent, created_at, updated_at, sent_at, last_error, parent_key,
    deferred)
SELECT id, account_id, status, message_id, subject, sender, recipients, all_recipients, raw,
    attempts, max_attempts, next_attempt_at, claim_token, claimed_by, lease_until, data_at,
    verify_sent, created_at, updated_at, sent_at, last_error, parent_key, deferred
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
-- Indexes chosen so that the per-message writes of a delivery (claim, pre-DATA mark,
-- finalize) touch as few pages as possible (issue 10 item 7): only due-able rows are in
-- outbox_due, only rows being sent in outbox_sending (keyed by a column those writes leave
-- alone), and the listing index does not contain the status at all.
CREATE INDEX outbox_due ON outbox (account_id, next_attempt_at, id)
    WHERE status IN ('pending', 'failed');
CREATE INDEX outbox_sending ON outbox (status) WHERE status = 'sending';
CREATE INDEX outbox_account ON outbox (account_id, id);
CREATE INDEX outbox_copy_pending ON outbox (copy_pending) WHERE copy_pending = 1;

CREATE TABLE outbox_attempts (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    -- Deterministic: outbox-<id>-<attempt>. A try that never reached the server is not an
    -- attempt: the next claim reuses its number (and replaces its log line).
    attempt_key TEXT NOT NULL UNIQUE,
    claim_token TEXT NOT NULL,
    worker_id TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    -- sent | partial | transient | permanent | exhausted | recovered | requeued | unverified
    -- | not-attempted | held | lost-claim
    outcome TEXT,
    smtp_code INTEGER,
    server_reply TEXT,
    PRIMARY KEY (outbox_id, attempt)
);
INSERT INTO outbox_attempts SELECT * FROM outbox_attempts_keep;
DROP TABLE outbox_attempts_keep;
