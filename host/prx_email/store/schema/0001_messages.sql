-- Messages (issue 2/3): one row per stored message; `id` is the message key the agent sees.
-- Address lists are newline-joined display strings ("Name <addr>"), flags and references are
-- space-joined, headers and attachment metadata are JSON arrays.
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- keys are never reused after a delete
    account_id INTEGER NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL DEFAULT 0,
    uid INTEGER,                           -- NULL for messages imported from a local mailbox
    import_key TEXT,                       -- sha256 of the raw bytes of an imported message
    message_id TEXT,
    subject TEXT NOT NULL DEFAULT '',
    from_addr TEXT NOT NULL DEFAULT '',
    to_addrs TEXT NOT NULL DEFAULT '',
    cc_addrs TEXT NOT NULL DEFAULT '',
    reply_to TEXT NOT NULL DEFAULT '',
    in_reply_to TEXT,
    refs TEXT NOT NULL DEFAULT '',
    date INTEGER,                          -- unix seconds; NULL when missing or malformed
    -- date, or a floor below every real date: listings sort on it so NULL dates come last
    -- and keyset pagination compares plain integers.
    sort_date INTEGER NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    seen INTEGER NOT NULL DEFAULT 0,       -- 1 when flags hold \Seen
    snippet TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    has_attachments INTEGER NOT NULL DEFAULT 0,
    body_text TEXT,
    body_html TEXT,
    -- text of body_html when there is no text part: what search indexes as the body
    body_html_text TEXT,
    body_truncated INTEGER NOT NULL DEFAULT 0,
    headers TEXT NOT NULL DEFAULT '[]',
    attachments TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

CREATE UNIQUE INDEX IF NOT EXISTS messages_by_uid
    ON messages (account_id, folder, uidvalidity, uid) WHERE uid IS NOT NULL;
-- Covers the flag scan of a resync (uid -> flags) without touching the wide rows.
CREATE INDEX IF NOT EXISTS messages_uid_flags
    ON messages (account_id, folder, uidvalidity, uid, flags) WHERE uid IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_import
    ON messages (account_id, folder, import_key) WHERE import_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_listing
    ON messages (account_id, sort_date DESC, id DESC);
CREATE INDEX IF NOT EXISTS messages_folder_listing
    ON messages (account_id, folder, sort_date DESC, id DESC);
CREATE INDEX IF NOT EXISTS messages_by_message_id
    ON messages (account_id, message_id) WHERE message_id IS NOT NULL;

-- Full-text index over subject, from, to, cc and body. Contentless: the text lives in
-- `messages`. Rows with id <= fts_state.indexed_upto are indexed, later rows are pending.
--   * inserts: `store.messages.MessageStore` indexes every pending row with one
--     INSERT ... SELECT, either at the end of the writing transaction (the default) or in
--     a deferred step (`upsert_many(index=False)`, then `index_pending()`); `search` runs
--     the deferred step first, so it never misses a committed row. (Not a per-row trigger:
--     a trigger opens a statement savepoint per row, and FTS5 flushes its pending index at
--     every savepoint, which makes bulk inserts ~7x slower.) Insert messages only through
--     MessageStore.
--   * deletes and changes of indexed text of indexed rows: the triggers below.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    subject, from_addr, to_addrs, cc_addrs, body,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Sync commits a batch at a time, and each commit adds an index segment. Merge segments 16
-- at a time instead of the default 4: a third less indexing work, queries barely notice.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);

CREATE TABLE IF NOT EXISTS fts_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT OR IGNORE INTO fts_state (id, indexed_upto) VALUES (1, 0);

-- A contentless index can only forget a row given exactly the values it indexed, so these
-- fire only for indexed rows (a pending row gets its current values when it is indexed).
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_upto FROM fts_state WHERE id = 1)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, from_addr, to_addrs, cc_addrs, body)
    VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.cc_addrs,
            coalesce(old.body_text, old.body_html_text, ''));
END;

-- Flag updates do not touch the index; only a change of indexed text re-indexes the row.
CREATE TRIGGER IF NOT EXISTS messages_fts_update
AFTER UPDATE OF subject, from_addr, to_addrs, cc_addrs, body_text, body_html_text ON messages
WHEN (old.subject IS NOT new.subject
    OR old.from_addr IS NOT new.from_addr
    OR old.to_addrs IS NOT new.to_addrs
    OR old.cc_addrs IS NOT new.cc_addrs
    OR old.body_text IS NOT new.body_text
    OR old.body_html_text IS NOT new.body_html_text)
    AND old.id <= (SELECT indexed_upto FROM fts_state WHERE id = 1)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, from_addr, to_addrs, cc_addrs, body)
    VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.cc_addrs,
            coalesce(old.body_text, old.body_html_text, ''));
    INSERT INTO messages_fts (rowid, subject, from_addr, to_addrs, cc_addrs, body)
    VALUES (new.id, new.subject, new.from_addr, new.to_addrs, new.cc_addrs,
            coalesce(new.body_text, new.body_html_text, ''));
END;
