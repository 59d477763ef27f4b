-- Webhook deliveries that failed max_attempts times (issue 13). Delivery moves on past
-- them; `prx-email webhooks dead` lists them and `replay ID` sends one again. The body is
-- kept as it was sent, so a replay works after retention has pruned the event itself.
CREATE TABLE IF NOT EXISTS webhook_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook TEXT NOT NULL,             -- the [[webhooks]] name
    event_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,                -- the JSON body as POSTed
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,          -- "HTTP 500", "timeout", "connection failed", ...
    created_at REAL NOT NULL,
    replayed_at REAL,                  -- NULL until a replay got a 2xx
    UNIQUE (webhook, event_id)         -- a crash before the ack dead-letters it only once
);
