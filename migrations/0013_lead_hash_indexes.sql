-- The indexes on a lead's keyed contact hashes are hash indexes, not B-trees.
--
-- Every look-up by them is one equality: the intake batch's "same person in another niche" signal and its "bought
-- this person before" check (src/leads/intake.c), and an erasure's search for a person's leads (src/api/leads.c),
-- each an OR of the two, planned as a BitmapOr of two index scans either way. The hashes are keyed BLAKE2b output,
-- so every insert lands on a random page: a B-tree descends three or four levels comparing 32-byte byteas through
-- the operator class (_bt_compare was the top symbol of PostgreSQL's profile in the intake bench), and its entries
-- are 48 bytes. A hash index finds its one bucket page from the 4-byte hash code and stores only that code: measured
-- in the intake bench (six alternating runs a side on fresh databases), PostgreSQL's CPU per lead fell from 70-81 to
-- 60-71 us; the index is a third smaller than a freshly built B-tree (6.2 against 9.2 MB for 158,000 leads). Hash
-- indexes cannot be unique, cover several columns or order their entries; none of these is needed here
-- (contact_claims keeps the B-tree that makes a claim unique).
--
-- Recreating them reads the whole table under a lock that stops intake, like any index build in a migration.
DROP INDEX leads_phone_hash;
DROP INDEX leads_email_hash;
CREATE INDEX leads_phone_hash ON leads USING hash (phone_hash);
CREATE INDEX leads_email_hash ON leads USING hash (email_hash);
