-- Posting cost independent of the ledger's size. lx_ledger_post runs its statements through PL/pgSQL, which plans
-- each once per connection and keeps the plan; a plan made while receipts was small joined a statement's
-- transactions to the receipts by hashing a scan of the whole receipts_txn index, so every posting read every
-- receipt ever written (13-18 ms a sale batch at 270,000 receipts, inside the batch's campaign locks, and growing).
-- The function now runs with sequential scans, hash and merge joins off (its own setting, whoever calls it): each of
-- its look-ups is a key probe driven by the statement's few transactions and books, whatever the statistics said
-- when the plan was made. The receipts are fetched by ledger_txn = ANY (the statement's transactions), an index
-- condition by construction. Same rules, same messages.

CREATE OR REPLACE FUNCTION lx_ledger_post() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT e.txn_id, e.currency INTO bad FROM new_entries e GROUP BY e.txn_id, e.currency HAVING sum(e.amount) <> 0 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in %', bad.txn_id, bad.currency USING ERRCODE = 'check_violation';
  END IF;
  -- Per distinct book and transaction (a few rows per statement, not one per entry).
  SELECT e.ledger_account_id INTO bad FROM (SELECT DISTINCT ledger_account_id, account_id, book, currency FROM new_entries) e
    LEFT JOIN ledger_accounts a ON a.id = e.ledger_account_id
   WHERE a.id IS NULL OR a.currency <> e.currency OR a.owner IS DISTINCT FROM e.account_id OR a.book <> e.book
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger entries name book % with another owner, book or currency', bad.ledger_account_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  SELECT e.txn_id INTO bad FROM (SELECT DISTINCT txn_id, currency FROM new_entries) e
    LEFT JOIN ledger_txns t ON t.id = e.txn_id
   WHERE t.id IS NULL OR t.currency <> e.currency
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger entries name transaction % that does not exist or has another currency', bad.txn_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  -- Invariant 5: every account touched has its receipts, and they reproduce its entries on their book. One pass
  -- over this statement's entries and its transactions' receipts, grouped by (transaction, account, book): a book
  -- with receipts must have entries of the same sum; an account with entries must have a receipt on some book.
  SELECT g.txn, g.account, g.nr_account = 0 AS missing INTO bad FROM (
      SELECT k.txn, k.account, sum(k.ne) AS ne, sum(k.nr) AS nr, sum(k.se) AS se, sum(k.sr) AS sr,
             sum(sum(k.nr)) OVER (PARTITION BY k.txn, k.account) AS nr_account
        FROM (SELECT e.txn_id AS txn, e.account_id AS account, e.book, 1 AS ne, 0 AS nr, e.amount AS se, 0::bigint AS sr
                FROM new_entries e WHERE e.account_id IS NOT NULL
              UNION ALL
              SELECT r.ledger_txn, r.account_id, r.book, 0, 1, 0, r.amount FROM receipts r
               WHERE r.ledger_txn = ANY (ARRAY(SELECT DISTINCT e.txn_id FROM new_entries e))) AS k
       GROUP BY k.txn, k.account, k.book) AS g
   WHERE (g.ne > 0 AND g.nr_account = 0) OR (g.nr > 0 AND (g.ne = 0 OR g.se <> g.sr))
   ORDER BY g.nr_account = 0 DESC
   LIMIT 1;
  IF FOUND AND bad.missing THEN
    RAISE EXCEPTION 'ledger transaction % touches account % without a receipt', bad.txn, bad.account
      USING ERRCODE = 'check_violation';
  ELSIF FOUND THEN
    RAISE EXCEPTION 'receipts of ledger transaction % for account % do not match its entries', bad.txn,
      bad.account USING ERRCODE = 'check_violation';
  END IF;
  -- Balance rows in id order (DESIGN.md §5), then each gets its entries' sum.
  PERFORM 1 FROM ledger_accounts a
   WHERE a.id IN (SELECT e.ledger_account_id FROM new_entries e) AND a.balance IS NOT NULL
   ORDER BY a.id FOR NO KEY UPDATE;
  UPDATE ledger_accounts a SET balance = a.balance + d.total
    FROM (SELECT e.ledger_account_id AS id, sum(e.amount) AS total FROM new_entries e GROUP BY 1) AS d
   WHERE a.id = d.id AND a.balance IS NOT NULL;
  RETURN NULL;
END $$
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
