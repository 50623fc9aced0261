-- Statements of closed periods stay as they were issued (src/api/ledger.c).
--
-- A receipt states when it was issued (issued_at, signed, in its body), which is when the server signed it: before its
-- transaction took its locks and committed. A statement lists an account's receipts by issued_at, so a transaction
-- that waited on locks could commit receipts dated inside a period whose statement had already been read, and change
-- that period's lines and closing afterwards (seen: a refund that waited 1.5 s for the webmaster's book). Nothing
-- bounded how long that could be. Now the posting trigger refuses, at the end of the posting, receipts older than an
-- hour, so a receipt is visible within an hour of its issued_at or never; a statement says it is final when its
-- period ended more than that (and a minute for the commit's own flush) before it was read. The server's statements
-- time out after seconds, so the hour is never reached by a server that works; the margin also covers a clock of a
-- server that is ahead of the database's. The oldest issued_at comes from the pass over the receipts that the
-- trigger already makes (invariant 5); the rest of the function is 0009's.

CREATE OR REPLACE FUNCTION lx_ledger_post() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
  oldest timestamptz; -- the earliest issued_at among the statement's transactions' receipts
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
  -- The same pass gives the oldest receipt's issued_at (for the commit window below): one row always, the worst
  -- group first.
  SELECT g.txn, g.account, g.nr_account = 0 AS missing,
         (g.ne > 0 AND g.nr_account = 0) OR (g.nr > 0 AND (g.ne = 0 OR g.se <> g.sr)) AS wrong,
         min(g.oldest) OVER () AS oldest INTO bad FROM (
      SELECT k.txn, k.account, sum(k.ne) AS ne, sum(k.nr) AS nr, sum(k.se) AS se, sum(k.sr) AS sr, min(k.at) AS oldest,
             sum(sum(k.nr)) OVER (PARTITION BY k.txn, k.account) AS nr_account
        FROM (SELECT e.txn_id AS txn, e.account_id AS account, e.book, 1 AS ne, 0 AS nr, e.amount AS se, 0::bigint AS sr,
                     NULL::timestamptz AS at
                FROM new_entries e WHERE e.account_id IS NOT NULL
              UNION ALL
              SELECT r.ledger_txn, r.account_id, r.book, 0, 1, 0, r.amount, r.issued_at FROM receipts r
               WHERE r.ledger_txn = ANY (ARRAY(SELECT DISTINCT e.txn_id FROM new_entries e))) AS k
       GROUP BY k.txn, k.account, k.book) AS g
   ORDER BY (g.ne > 0 AND g.nr_account = 0) OR (g.nr > 0 AND (g.ne = 0 OR g.se <> g.sr)) DESC, g.nr_account = 0 DESC
   LIMIT 1;
  IF FOUND AND bad.wrong AND bad.missing THEN
    RAISE EXCEPTION 'ledger transaction % touches account % without a receipt', bad.txn, bad.account
      USING ERRCODE = 'check_violation';
  ELSIF FOUND AND bad.wrong THEN
    RAISE EXCEPTION 'receipts of ledger transaction % for account % do not match its entries', bad.txn,
      bad.account USING ERRCODE = 'check_violation';
  END IF;
  oldest := CASE WHEN FOUND THEN bad.oldest END;
  -- Balance rows in id order (DESIGN.md §5), then each gets its entries' sum.
  PERFORM 1 FROM ledger_accounts a
   WHERE a.id IN (SELECT e.ledger_account_id FROM new_entries e) AND a.balance IS NOT NULL
   ORDER BY a.id FOR NO KEY UPDATE;
  UPDATE ledger_accounts a SET balance = a.balance + d.total
    FROM (SELECT e.ledger_account_id AS id, sum(e.amount) AS total FROM new_entries e GROUP BY 1) AS d
   WHERE a.id = d.id AND a.balance IS NOT NULL;
  -- The commit window: after every wait of the posting (the balance locks just above were the last), no receipt may
  -- be older than an hour, so no receipt becomes visible more than an hour after the time it states. A statement of
  -- a period that ended longer ago than that is final (src/api/ledger.c). serialization_failure: whoever posts signs
  -- anew and tries again.
  IF oldest < clock_timestamp() - interval '1 hour' THEN
    RAISE EXCEPTION 'receipts issued at % are older than the hour a posting may take', oldest
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN NULL;
END $$
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
