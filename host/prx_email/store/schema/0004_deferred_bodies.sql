-- Deferred bodies (issue 3, fast first sync): a first sync stores each new message's
-- header-level summary in `messages` at once (filterable: sender, recipients, subject,
-- date, flags, threading ids) with its raw bytes in `raw`; a completion step
-- (`MessageStore.complete_pending`) parses the raw bytes in full, fills bodies, snippet,
-- headers and attachment metadata, full-text indexes the row and sets `raw` to NULL, one
-- transaction per batch. A row with `raw` not NULL is "pending"; reads (list, get, search)
-- complete pending rows before they answer. The raw bytes are dropped once completed (the
-- store never kept raw messages; keeping them would double its size).
-- `raw` is the last column, so reads of the other columns never walk its overflow pages;
-- in the row rather than a side table: one insert and one update per message instead of
-- two inserts and a delete (about 10 % of either phase).
ALTER TABLE messages ADD COLUMN raw BLOB;
CREATE INDEX IF NOT EXISTS messages_pending ON messages (account_id, id) WHERE raw IS NOT NULL;

-- How to complete an account's pending rows, recorded by the sync that stored them, so a
-- read that completes them applies the same body cap and attachment policy.
CREATE TABLE IF NOT EXISTS completion_settings (
    account_id INTEGER PRIMARY KEY,
    max_body_bytes INTEGER NOT NULL,
    attachment_root TEXT,            -- NULL: record attachment metadata, save no bytes
    attachment_max_bytes INTEGER NOT NULL,
    attachment_types TEXT NOT NULL   -- JSON array of allowed MIME patterns
);
