-- Substring search (issue 10 item 13): a second full-text index over the same columns with
-- FTS5's trigram tokenizer (SQLite >= 3.34), case-insensitive. Filters (subject, from, to,
-- body) and free-text words in scripts without spaces (CJK, kana, Hangul, Thai) of three
-- characters or more find their candidate rows through it (every trigram of the needle in
-- that column), and the search checks each candidate for the whole needle; shorter
-- needles are checked directly (store/fts.py). detail = column: no positions, about a
-- fifth of the size of detail = full (bench/bench_index.py) and cheaper to write.
-- Kept exactly like messages_fts: contentless, the same watermark (fts_state.indexed_upto),
-- rows indexed by the statement that indexes messages_fts, in the same transaction
-- (store/messages.py), and the triggers below for deletes and changes of indexed rows.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_trgm USING fts5 (
    subject, from_addr, to_addrs, cc_addrs, body,
    content = '',
    tokenize = 'trigram',
    detail = column
);
INSERT INTO messages_trgm (messages_trgm, rank) VALUES ('automerge', 16);

-- Backfill an existing store: every row already indexed in messages_fts (later rows are
-- pending and get both entries when they are indexed).
INSERT INTO messages_trgm (rowid, subject, from_addr, to_addrs, cc_addrs, body)
SELECT id, subject, from_addr, to_addrs, cc_addrs, coalesce(body_text, body_html_text, '')
FROM messages WHERE id <= (SELECT indexed_upto FROM fts_state WHERE id = 1);

CREATE TRIGGER IF NOT EXISTS messages_trgm_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_upto FROM fts_state WHERE id = 1)
BEGIN
    INSERT INTO messages_trgm (messages_trgm, rowid, subject, from_addr, to_addrs, cc_addrs, body)
    VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.cc_addrs,
            coalesce(old.body_text, old.body_html_text, ''));
END;

CREATE TRIGGER IF NOT EXISTS messages_trgm_update
AFTER UPDATE OF subject, from_addr, to_addrs, cc_addrs, body_text, body_html_text ON messages
WHEN (old.subject IS NOT new.subject
    OR old.from_addr IS NOT new.from_addr
    OR old.to_addrs IS NOT new.to_addrs
    OR old.cc_addrs IS NOT new.cc_addrs
    OR old.body_text IS NOT new.body_text
    OR old.body_html_text IS NOT new.body_html_text)
    AND old.id <= (SELECT indexed_upto FROM fts_state WHERE id = 1)
BEGIN
    INSERT INTO messages_trgm (messages_trgm, rowid, subject, from_addr, to_addrs, cc_addrs, body)
    VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.cc_addrs,
            coalesce(old.body_text, old.body_html_text, ''));
    INSERT INTO messages_trgm (rowid, subject, from_addr, to_addrs, cc_addrs, body)
    VALUES (new.id, new.subject, new.from_addr, new.to_addrs, new.cc_addrs,
            coalesce(new.body_text, new.body_html_text, ''));
END;
