-- A lead's attributes, consent evidence and source are kept as json, the text leadx validated and wrote, not jsonb.
--
-- Nothing in the database looks inside them: the server validates them before they are stored (src/leads/lead.c),
-- renders them back verbatim to the lead's supplier, operators and buyers (src/api/lead_view.c), and reads the
-- attributes of an inventory preview in C (src/api/market.c). jsonb made every intake batch parse each of the three
-- into a binary tree, with its keys sorted, and every read print the tree back: measured with pgbench, inserting 60
-- leads' three documents took 0.68 ms as jsonb against 0.37 ms as json (json_recv only checks the syntax), and in
-- the intake bench (six alternating runs on fresh databases) PostgreSQL's CPU per lead fell from 96-109 to 82-93 us.
-- A document now comes back with its members in the order leadx wrote them.
--
-- The niche's attribute schema (niches.attributes) stays jsonb: it is small, written by operators, and its CHECK
-- uses jsonb_typeof.
ALTER TABLE leads
  ALTER COLUMN attributes TYPE json USING attributes::json,
  ALTER COLUMN consent TYPE json USING consent::json,
  ALTER COLUMN source TYPE json USING source::json;
