-- Placeholder: 0008 belongs to the scheduled-send branch (sched). This file keeps the
-- numbering contiguous on the events branch only and must be dropped when sched's 0008
-- is merged (store/db.py refuses two migrations with the same number, so it cannot be
-- forgotten).
SELECT 1;
