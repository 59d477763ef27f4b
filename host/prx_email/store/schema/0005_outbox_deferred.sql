-- Per-recipient state of the attempt whose DATA may have gone through (issue 4, "nothing
-- lost"): stamped together with `data_at` right before DATA, the JSON array of this row's
-- recipients the server deferred with a 4xx at RCPT (they do not receive that DATA and
-- must be tried again). Lease recovery that finds the message in the Sent folder marks the
-- row sent only for the others and keeps it queued for these. Not reset by a claim: a
-- later attempt that only looks in Sent (`verify_sent`) still needs it; the next DATA
-- overwrites it. NULL: stamped before this column existed (treated as "none deferred").
-- Such a recovery ends its attempt with outcome `recovered-partial`; like `partial`, it
-- means the Message-ID is in Sent already, so Sent cannot vouch for any later attempt.
ALTER TABLE outbox ADD COLUMN deferred TEXT;
