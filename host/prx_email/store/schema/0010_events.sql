-- Durable event log (issue 13). One row per change the store records, written in the same
-- transaction as that change; `id` is AUTOINCREMENT, so ids strictly increase and are never
-- reused, even after retention deleted the newest rows. Consumers read `id > cursor`.
-- The message fields are a snapshot taken when the event was written (the message may be
-- gone later); `snippet` may be '' for mail stored pending completion, and readers fill it
-- from the message row while that row exists.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,                -- new_mail | flags_changed | expunged | moved | outbox | bounce
    account_id INTEGER NOT NULL,
    folder TEXT,
    message_id INTEGER,                -- the store key of the message (messages.id)
    uid INTEGER,
    rfc_message_id TEXT,
    thread_id TEXT,
    from_addr TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    snippet TEXT NOT NULL DEFAULT '',
    automated TEXT,                    -- NULL: not automated; else the reason (loop prevention)
    detail TEXT,                       -- JSON object of type-specific fields, or NULL
    ts REAL NOT NULL                   -- unix seconds when the change was stored
);
-- No secondary index: each would be one more b-tree written per new message on the first
-- sync's hot path. Reads scan the id range after their cursor; retention by age walks from
-- the oldest id (ts grows with id) and stops at the first event young enough.

-- Named consumers and the last event id each acknowledged (retention keeps what they have
-- not acknowledged, unless the operator allows pruning it).
CREATE TABLE IF NOT EXISTS event_consumers (
    name TEXT PRIMARY KEY,
    acked INTEGER NOT NULL,
    updated_at REAL NOT NULL
);

-- Loop prevention (RFC 3834 and friends): the reason a message is automated, or NULL.
ALTER TABLE messages ADD COLUMN automated TEXT;

-- Flag changes of stored messages, whoever writes them (sync's flag pass and upsert, the
-- mark/label actions): a trigger, so no writer can forget the event. Not on the first
-- sync's hot path (that inserts; its new_mail events are one INSERT ... SELECT per batch).
-- The thread id expression is store/events.py's THREAD_SQL (tests/test_events_store.py
-- checks they agree with store.messages.thread_id).
CREATE TRIGGER IF NOT EXISTS events_flags AFTER UPDATE OF flags ON messages
WHEN old.flags IS NOT new.flags AND new.uid IS NOT NULL
BEGIN
    INSERT INTO events (type, account_id, folder, message_id, uid, rfc_message_id, thread_id,
                        from_addr, subject, snippet, automated, detail, ts)
    VALUES ('flags_changed', new.account_id, new.folder, new.id, new.uid, new.message_id,
            coalesce(nullif(substr(trim(new.refs), 1, instr(trim(new.refs) || ' ', ' ') - 1), ''),
                     nullif(new.in_reply_to, ''), nullif(new.message_id, ''),
                     '<local-' || new.id || '@prx-email>'),
            new.from_addr, new.subject, new.snippet, new.automated,
            -- space-joined as stored; readers split them into lists
            json_object('flags', new.flags, 'previous', old.flags),
            (julianday('now') - 2440587.5) * 86400.0);
END;

-- Outbox status changes (queued, sent, failed, held, dead, ...); `sending` is the delivery
-- lease, not a state anyone waits for, so it has no event.
CREATE TRIGGER IF NOT EXISTS events_outbox_insert AFTER INSERT ON outbox
BEGIN
    INSERT INTO events (type, account_id, rfc_message_id, subject, detail, ts)
    VALUES ('outbox', new.account_id, new.message_id, new.subject,
            json_object('outbox_id', new.id, 'status', new.status, 'previous', NULL,
                        'error', new.last_error),
            (julianday('now') - 2440587.5) * 86400.0);
END;

CREATE TRIGGER IF NOT EXISTS events_outbox_status AFTER UPDATE OF status ON outbox
WHEN old.status IS NOT new.status AND new.status != 'sending'
BEGIN
    INSERT INTO events (type, account_id, rfc_message_id, subject, detail, ts)
    VALUES ('outbox', new.account_id, new.message_id, new.subject,
            json_object('outbox_id', new.id, 'status', new.status, 'previous', old.status,
                        'error', new.last_error),
            (julianday('now') - 2440587.5) * 86400.0);
END;
