-- Deferred bodies (issue 3, fast first sync): a first sync stores each new message's
-- header-level summary in `messages` at once (filterable: sender, recipients, subject,
-- date, flags, threading ids) and its raw bytes here; a completion step
-- (`MessageStore.complete_pending`) parses the raw bytes in full, fills bodies, snippet,
-- headers and attachment metadata, full-text indexes the row and deletes its entry here,
-- one transaction per batch. A row of `messages` with an entry here is "pending"; reads
-- (list, get, search) complete pending rows before they answer. The raw bytes are dropped
-- once completed (the store never kept raw messages; keeping them would double its size).
-- (0004 is reserved for the auth/token store.)
CREATE TABLE IF NOT EXISTS message_pending (
    id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS message_pending_by_account ON message_pending (account_id, id);

-- How to complete an account's pending rows, recorded by the sync that stored them, so a
-- read that completes them applies the same body cap and attachment policy.
CREATE TABLE IF NOT EXISTS completion_settings (
    account_id INTEGER PRIMARY KEY,
    max_body_bytes INTEGER NOT NULL,
    attachment_root TEXT,            -- NULL: record attachment metadata, save no bytes
    attachment_max_bytes INTEGER NOT NULL,
    attachment_types TEXT NOT NULL   -- JSON array of allowed MIME patterns
);
