-- Tamper-evident audit log (issue 16): one row per mutation and per policy decision, written
-- by the host (store/audit.py). Each row carries the previous row's hash and its own,
-- sha256(prev_hash || canonical JSON of the row): rows are appended under BEGIN IMMEDIATE
-- reading the last hash in the same transaction, so concurrent writers keep one chain.
-- `args` is a digest (subject, recipients, sizes, body hashes), never a body or a secret.
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,                  -- unix seconds
    entry_point TEXT NOT NULL,         -- api | cli | mcp | ta | console
    tool TEXT NOT NULL,                -- the host function (send, mark, ...) or config-reload, approve, ...
    account_id INTEGER,
    args TEXT NOT NULL,                -- canonical JSON of the argument digest
    outcome TEXT NOT NULL,             -- ok, or the EMAIL_... code
    run_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
