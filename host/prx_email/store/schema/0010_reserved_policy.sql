-- Placeholder: 0010 belongs to another branch of this session. It keeps the numbering
-- contiguous on the policy branch only (policy's own migration is 0013) and must be dropped
-- when the real 0010 is merged (store/db.py refuses two migrations with the same number, so
-- it cannot be forgotten).
SELECT 1;
