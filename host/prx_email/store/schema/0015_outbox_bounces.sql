-- Bounces linked to outbox rows (issue 13). A bounce (mail/bounce.py, classified when the
-- sync stores it) whose original Message-ID is one of our outbox rows adds one row here per
-- recipient it names, in the transaction that stores the bounce message; the outbox entry
-- carries them as `bounces`. The outbox row's own status is left as it is (a `sent` row
-- stays `sent`: its SMTP delivery succeeded; which recipients bounced later is this table).
CREATE TABLE IF NOT EXISTS outbox_bounces (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT,                       -- RFC 3463 code (5.1.1), NULL when the bounce gives none
    action TEXT NOT NULL,              -- failed | delayed (RFC 3464 Action)
    kind TEXT NOT NULL CHECK (kind IN ('permanent', 'transient', 'unknown')),
    reason TEXT NOT NULL DEFAULT '',
    message_key INTEGER,               -- messages.id of the bounce message
    at REAL NOT NULL                   -- unix seconds when the bounce was stored
);
CREATE INDEX IF NOT EXISTS outbox_bounces_row ON outbox_bounces (outbox_id, id);

-- The outbox row's `outbox` event says so: a trigger, as for its status changes (0010).
-- `bounced` for a failure, `delayed` for a transient delay notice.
CREATE TRIGGER IF NOT EXISTS events_outbox_bounce AFTER INSERT ON outbox_bounces
BEGIN
    INSERT INTO events (type, account_id, rfc_message_id, subject, detail, ts)
    SELECT 'outbox', o.account_id, o.message_id, o.subject,
           json_object('outbox_id', o.id,
                       'status', CASE WHEN new.action = 'delayed' THEN 'delayed' ELSE 'bounced' END,
                       'previous', o.status, 'error', new.reason, 'recipient', new.recipient,
                       'bounce_status', new.status, 'kind', new.kind),
           new.at
    FROM outbox o WHERE o.id = new.outbox_id;
END;

-- A deleted outbox row takes its bounces along.
CREATE TRIGGER IF NOT EXISTS outbox_bounces_gone AFTER DELETE ON outbox
BEGIN
    DELETE FROM outbox_bounces WHERE outbox_id = old.id;
END;
