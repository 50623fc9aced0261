-- The sequencer's queue carries each receipt's log entry (src/billing/sequencer.c).
--
-- The sequencer used to read every queued receipt's wide row (body, key id, signature: about 600 bytes, found by
-- primary key among all receipts ever issued), render and hash it, and only then build its log entry. In the market
-- bench that read was the costliest statement PostgreSQL ran for the log. The money path that signs a receipt now
-- also computes its entry with the same functions (src/billing/receipts.c) and queues it beside the receipt's id, so
-- a round reads only the narrow queue. The audit still recomputes every logged entry from its stored receipt and
-- reports any that differ (src/billing/audit.c), so the log cannot silently disagree with the receipts.
--
-- entry is NULL on rows an earlier server queued before this migration: the sequencer derives those from the receipt
-- as before.

ALTER TABLE receipt_queue ADD COLUMN entry text CHECK (entry IS NULL OR entry LIKE '{"kind":%');

-- Every queue row is deleted a round after its insert, so the table is mostly dead versions unless something
-- vacuums it far more often than autovacuum visits a database (once a minute): in the market bench it grew to 8,201
-- pages (64 MB) holding no live row, and every round's read and the idle poll scanned them all. The sequencer now
-- vacuums it after each round that appended (src/billing/sequencer.c). Its pages are reused, never given back: a
-- truncation would take an exclusive lock that every money transaction's queue insert waits behind.
ALTER TABLE receipt_queue SET (vacuum_truncate = false);
