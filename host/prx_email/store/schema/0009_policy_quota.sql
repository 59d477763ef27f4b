-- Send quotas per account (issue 16): counted in the store so that a restart does not reset
-- them, and checked and counted in the same transaction as the outbox insert (store/quota.py).
-- IF NOT EXISTS: a store whose user_version was set back (tests do) migrates again.
-- * policy_sends: one row per message queued, kept for a day (the longest window).
-- * policy_recipients: every address (lower-case addr-spec) an account has queued mail to,
--   with when it was first; "new recipients per day" counts first_at in the last day.
CREATE TABLE IF NOT EXISTS policy_sends (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    at REAL NOT NULL,
    outbox_id INTEGER
);
CREATE INDEX IF NOT EXISTS policy_sends_account_at ON policy_sends (account_id, at);

CREATE TABLE IF NOT EXISTS policy_recipients (
    account_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    first_at REAL NOT NULL,
    PRIMARY KEY (account_id, address)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS policy_recipients_first ON policy_recipients (account_id, first_at);
