-- Issue 15: each delivery attempt keeps the run id its log lines and error carry, so one id
-- ties the attempt record, the logs and the envelope together.
ALTER TABLE outbox_attempts ADD COLUMN run_id TEXT;
