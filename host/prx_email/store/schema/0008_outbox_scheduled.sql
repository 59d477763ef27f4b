-- Scheduled send and cancel (issue 12). The table is rebuilt because SQLite cannot change a
-- CHECK (as in 0007):
-- * status `scheduled`: waits until `send_at` (= its `next_attempt_at`); then it is claimed
--   like a due `pending` row. Status `cancelled`: email.cancel stopped it before it started
--   sending; never delivered, kept for the listing.
-- * `send_at`: the time the caller asked for (NULL: send at once), shown in listings.
-- * `draft_folder`: the row sends a draft of that IMAP folder (its Message-ID is the draft's
--   identity); the draft is removed from there once the row is `sent`, and the column
--   cleared. A kill in between leaves it set: the next drain removes the draft.
CREATE TABLE outbox_attempts_keep AS SELECT * FROM outbox_attempts;
DROP TABLE outbox_attempts;

CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'scheduled', 'sending', 'sent', 'failed', 'held', 'dead',
                          'cancelled')),
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
    copy_pending INTEGER NOT NULL DEFAULT 0,
    send_at REAL,
    draft_folder TEXT
);
INSERT INTO outbox_new (id, account_id, status, message_id, subject, sender, recipients,
    all_recipients, raw, attempts, max_attempts, next_attempt_at, claim_token, claimed_by,
    lease_until, data_at, verify_sent, created_at, updated_at, sent_at, last_error, parent_key,
    deferred, copy_pending)
SELECT id, account_id, status, message_id, subject, sender, recipients, all_recipients, raw,
    attempts, max_attempts, next_attempt_at, claim_token, claimed_by, lease_until, data_at,
    verify_sent, created_at, updated_at, sent_at, last_error, parent_key, deferred, copy_pending
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
-- As in 0007, plus `scheduled` rows among the due-able ones (the drain finds them by time).
CREATE INDEX outbox_due ON outbox (account_id, next_attempt_at, id)
    WHERE status IN ('pending', 'failed', 'scheduled');
CREATE INDEX outbox_sending ON outbox (status) WHERE status = 'sending';
CREATE INDEX outbox_account ON outbox (account_id, id);
CREATE INDEX outbox_copy_pending ON outbox (copy_pending) WHERE copy_pending = 1;
CREATE INDEX outbox_draft_pending ON outbox (draft_folder)
    WHERE draft_folder IS NOT NULL AND status = 'sent';

CREATE TABLE outbox_attempts (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    attempt_key TEXT NOT NULL UNIQUE,
    claim_token TEXT NOT NULL,
    worker_id TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    -- As in 0007.
    outcome TEXT,
    smtp_code INTEGER,
    server_reply TEXT,
    PRIMARY KEY (outbox_id, attempt)
);
INSERT INTO outbox_attempts SELECT * FROM outbox_attempts_keep;
DROP TABLE outbox_attempts_keep;
