-- Substring search (issue 10 item 13): a second full-text index over the header fields with
-- FTS5's trigram tokenizer (SQLite >= 3.34), case-insensitive. A subject, from or to filter
-- of three characters or more finds its candidate rows through it (every trigram of the
-- needle in that column), and the search checks each candidate for the whole needle
-- (store/fts.py). Bodies are not in it: trigram-indexing them doubled the CPU of
-- completing a synced message (bench/bench_index.py, bench/bench_sync.py (b)); a body
-- substring is checked on the rows the other criteria leave, newest first, and a page
-- stops the scan as soon as it is full.
-- detail = column: no positions, about a fifth of the size of detail = full.
-- Kept exactly like messages_fts: contentless, the same watermark (fts_state.indexed_upto),
-- rows indexed by the statement that indexes messages_fts, in the same transaction
-- (store/messages.py), and the triggers below for deletes and changes of indexed rows.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_trgm USING fts5 (
    subject, from_addr, to_addrs, cc_addrs,
    content = '',
    tokenize = 'trigram',
    detail = column
);
INSERT INTO messages_trgm (messages_trgm, rank) VALUES ('automerge', 16);

-- Backfill an existing store: every row already indexed in messages_fts (later rows are
-- pending and get both entries when they are indexed).
INSERT INTO messages_trgm (rowid, subject, from_addr, to_addrs, cc_addrs)
SELECT id, subject, from_addr, to_addrs, cc_addrs
FROM messages WHERE id <= (SELECT indexed_upto FROM fts_state WHERE id = 1);

CREATE TRIGGER IF NOT EXISTS messages_trgm_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_upto FROM fts_state WHERE id = 1)
BEGIN
    INSERT INTO messages_trgm (messages_trgm, rowid, subject, from_addr, to_addrs, cc_addrs)
    VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.cc_addrs);
END;

CREATE TRIGGER IF NOT EXISTS messages_trgm_update
AFTER UPDATE OF subject, from_addr, to_addrs, cc_addrs ON messages
WHEN (old.subject IS NOT new.subject
    OR old.from_addr IS NOT new.from_addr
    OR old.to_addrs IS NOT new.to_addrs
    OR old.cc_addrs IS NOT new.cc_addrs)
    AND old.id <= (SELECT indexed_upto FROM fts_state WHERE id = 1)
BEGIN
    INSERT INTO messages_trgm (messages_trgm, rowid, subject, from_addr, to_addrs, cc_addrs)
    VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.cc_addrs);
    INSERT INTO messages_trgm (rowid, subject, from_addr, to_addrs, cc_addrs)
    VALUES (new.id, new.subject, new.from_addr, new.to_addrs, new.cc_addrs);
END;
