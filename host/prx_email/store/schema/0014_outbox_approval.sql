-- First-contact approval (issue 16). The table is rebuilt because SQLite cannot change a
-- CHECK (as in 0007 and 0008):
-- * status `awaiting_approval`: the account's `first_contact = "approve"` policy held the row
--   because it goes to an address the account never exchanged mail with; never claimed. An
--   operator's `prx-email approve ID --hash H` makes it pending (or scheduled), `reject` makes
--   it `rejected` (terminal, never delivered).
-- * `approval_expires_at`: when the approval window of an awaiting row closes (the account's
--   `approval_ttl_hours` after it was held); past it, the row can only be rejected.
-- Dropping the old table drops 0010's event triggers on it: they are recreated below.
CREATE TABLE outbox_attempts_keep AS SELECT * FROM outbox_attempts;
DROP TABLE outbox_attempts;

CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'scheduled', 'sending', 'sent', 'failed', 'held', 'dead',
                          'cancelled', 'awaiting_approval', 'rejected')),
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
    draft_folder TEXT,
    approval_expires_at REAL
);
INSERT INTO outbox_new (id, account_id, status, message_id, subject, sender, recipients,
    all_recipients, raw, attempts, max_attempts, next_attempt_at, claim_token, claimed_by,
    lease_until, data_at, verify_sent, created_at, updated_at, sent_at, last_error, parent_key,
    deferred, copy_pending, send_at, draft_folder)
SELECT id, account_id, status, message_id, subject, sender, recipients, all_recipients, raw,
    attempts, max_attempts, next_attempt_at, claim_token, claimed_by, lease_until, data_at,
    verify_sent, created_at, updated_at, sent_at, last_error, parent_key, deferred, copy_pending,
    send_at, draft_folder
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
-- As in 0008.
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
    outcome TEXT,
    smtp_code INTEGER,
    server_reply TEXT,
    run_id TEXT,
    PRIMARY KEY (outbox_id, attempt)
);
INSERT INTO outbox_attempts (outbox_id, attempt, attempt_key, claim_token, worker_id,
                             started_at, finished_at, outcome, smtp_code, server_reply, run_id)
SELECT outbox_id, attempt, attempt_key, claim_token, worker_id,
       started_at, finished_at, outcome, smtp_code, server_reply, run_id
FROM outbox_attempts_keep;
DROP TABLE outbox_attempts_keep;

-- Outbox status changes (queued, sent, failed, held, dead, ...); `sending` is the delivery
-- lease, not a state anyone waits for, so it has no event.
CREATE TRIGGER events_outbox_insert AFTER INSERT ON outbox
BEGIN
    INSERT INTO events (type, account_id, rfc_message_id, subject, detail, ts)
    VALUES ('outbox', new.account_id, new.message_id, new.subject,
            json_object('outbox_id', new.id, 'status', new.status, 'previous', NULL,
                        'error', new.last_error),
            (julianday('now') - 2440587.5) * 86400.0);
END;

CREATE TRIGGER events_outbox_status AFTER UPDATE OF status ON outbox
WHEN old.status IS NOT new.status AND new.status != 'sending'
BEGIN
    INSERT INTO events (type, account_id, rfc_message_id, subject, detail, ts)
    VALUES ('outbox', new.account_id, new.message_id, new.subject,
            json_object('outbox_id', new.id, 'status', new.status, 'previous', old.status,
                        'error', new.last_error),
            (julianday('now') - 2440587.5) * 86400.0);
END;
