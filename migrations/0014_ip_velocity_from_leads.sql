-- A visitor IP's velocity (its leads in the last hour, all suppliers) is counted in the leads table, not in counter
-- rows.
--
-- Nearly every lead comes from an address not seen in the hour, so the counter of migration 0003 cost every lead an
-- upsert of a new row (a heap tuple, a B-tree entry and a speculative insertion) and, two hours later, a pruning
-- delete and its vacuum. An entry in this index costs one B-tree insert, and the intake batch counts an address's
-- leads only up to the count at which the ip_velocity penalty is whole (25 by default; src/leads/quality.h), so a
-- busy address costs no more to count than a quiet one. Measured in the intake bench (18 runs a side, alternating in
-- rounds of three on fresh databases): PostgreSQL's CPU per lead 65.4 -> 60.8 us on average, the machine's 115.1 ->
-- 108.6, median throughput 15,823 -> 16,671 leads/s. The count is also exact now: the last hour, not six or seven
-- 10-minute buckets.
--
-- Counters stay for sub_ids (kind 2): a source sends many leads an hour under few keys, and its allowance (100) is too
-- high to count row by row.
--
-- Building the index reads the whole leads table under a lock that stops intake, like any index build in a migration.
CREATE INDEX leads_source_ip ON leads (source_ip, created_at) WHERE source_ip IS NOT NULL;
DELETE FROM intake_velocity WHERE kind = 1;
ALTER TABLE intake_velocity DROP CONSTRAINT intake_velocity_kind_check,
  ADD CONSTRAINT intake_velocity_kind_check CHECK (kind = 2);
