-- Signed receipts and the transparency log (DESIGN.md §3 flow 8, §4
-- invariants 4-6, §5 receipts).
--
-- A receipt is written in the same transaction as its ledger entries, one per
-- account a ledger transaction touches (the platform's books are not an
-- account). `body` is the RFC 8785 canonical JSON that was signed, byte for
-- byte: it is what the log hashes and what clients verify, so it is kept as
-- text, never re-rendered from columns. The columns beside it are copies for
-- queries and for the database's own checks.
--
-- The database refuses ledger entries whose receipts are missing or do not
-- match them: the entries trigger (below) requires, for every account an
-- entries statement touches in a transaction, receipts of that transaction
-- and account whose amounts sum to that account's entries on the receipts'
-- book. Receipts are therefore inserted before the entries.

CREATE TABLE receipts (
  id          uuid PRIMARY KEY,
  account_id  uuid NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('deposit', 'sale', 'refund', 'settlement', 'payout', 'withdrawal')),
  book        text NOT NULL CHECK (book IN ('balance', 'pending', 'available')),
  ledger_txn  uuid NOT NULL,
  amount      bigint NOT NULL CHECK (amount <> 0 AND abs(amount) < 9007199254740992),
  currency    char(3) NOT NULL,
  lead_id     uuid,
  sale_id     uuid,
  reverses    uuid,
  issued_at   timestamptz NOT NULL,
  body        text NOT NULL,
  key_id      text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  signature   text NOT NULL CHECK (char_length(signature) = 86),
  CHECK ((kind IN ('sale', 'refund')) = (sale_id IS NOT NULL AND lead_id IS NOT NULL)),
  CHECK ((kind = 'refund') = (reverses IS NOT NULL))
);
CREATE INDEX receipts_account ON receipts (account_id, id);
CREATE INDEX receipts_txn ON receipts (ledger_txn);
CREATE TRIGGER receipts_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON receipts
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();

-- Receipts waiting for the sequencer, in the same transaction as the receipt
-- (a queue row is cheaper than updating the wide receipt row later).
CREATE TABLE receipt_queue (
  receipt_id  uuid PRIMARY KEY
);

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
  -- Invariant 5: every account touched has its receipts, and they reproduce its entries on their book.
  SELECT t.txn_id, t.account_id INTO bad
    FROM (SELECT e.txn_id, e.account_id FROM new_entries e WHERE e.account_id IS NOT NULL GROUP BY 1, 2) t
   WHERE NOT EXISTS (SELECT 1 FROM receipts r WHERE r.ledger_txn = t.txn_id AND r.account_id = t.account_id)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger transaction % touches account % without a receipt', bad.txn_id, bad.account_id
      USING ERRCODE = 'check_violation';
  END IF;
  SELECT r.ledger_txn, r.account_id INTO bad
    FROM (SELECT r.ledger_txn, r.account_id, r.book, sum(r.amount) AS total FROM receipts r
           WHERE r.ledger_txn IN (SELECT DISTINCT e.txn_id FROM new_entries e) GROUP BY 1, 2, 3) r
    LEFT JOIN (SELECT e.txn_id, e.account_id, e.book, sum(e.amount) AS total FROM new_entries e
                WHERE e.account_id IS NOT NULL GROUP BY 1, 2, 3) e
      ON e.txn_id = r.ledger_txn AND e.account_id = r.account_id AND e.book = r.book
   WHERE e.total IS DISTINCT FROM r.total
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'receipts of ledger transaction % for account % do not match its entries', bad.ledger_txn,
      bad.account_id USING ERRCODE = 'check_violation';
  END IF;
  -- Balance rows in id order (DESIGN.md §5), then each gets its entries' sum.
  PERFORM 1 FROM ledger_accounts a
   WHERE a.id IN (SELECT e.ledger_account_id FROM new_entries e) AND a.balance IS NOT NULL
   ORDER BY a.id FOR NO KEY UPDATE;
  UPDATE ledger_accounts a SET balance = a.balance + d.total
    FROM (SELECT e.ledger_account_id AS id, sum(e.amount) AS total FROM new_entries e GROUP BY 1) AS d
   WHERE a.id = d.id AND a.balance IS NOT NULL;
  RETURN NULL;
END $$;

-- Receipt-signing public keys, registered by each server at start from its
-- key directory (a rotated-out key keeps its row with not_after set).
CREATE TABLE receipt_keys (
  key_id      text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
  public_key  text NOT NULL UNIQUE CHECK (char_length(public_key) = 43),
  not_before  timestamptz NOT NULL,
  not_after   timestamptz,
  CHECK (not_after IS NULL OR not_after >= not_before)
);

-- The transparency log. log_entries.entry is the canonical JSON of the entry
-- (the leaf's preimage); log_nodes holds every perfect aligned subtree hash
-- (level 0 = the leaf hashes), see src/billing/merkle.h. log_state's one row
-- is the sequencer's lock: whoever holds it FOR UPDATE appends.
CREATE TABLE log_entries (
  log_index   bigint PRIMARY KEY CHECK (log_index >= 0),
  receipt_id  uuid NOT NULL UNIQUE,
  entry       text NOT NULL
);
CREATE TABLE log_nodes (
  level  smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
  idx    bigint NOT NULL CHECK (idx >= 0),
  hash   bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);
CREATE TABLE log_heads (
  tree_size   bigint PRIMARY KEY CHECK (tree_size >= 0),
  root_hash   text NOT NULL CHECK (char_length(root_hash) = 43),
  timestamp   text NOT NULL,
  key_id      text NOT NULL,
  signature   text NOT NULL CHECK (char_length(signature) = 86),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE log_state (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  tree_size  bigint NOT NULL DEFAULT 0 CHECK (tree_size >= 0)
);
INSERT INTO log_state DEFAULT VALUES;
CREATE TRIGGER log_entries_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON log_entries
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();
CREATE TRIGGER log_nodes_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON log_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();
CREATE TRIGGER log_heads_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON log_heads
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();
-- The log only grows.
CREATE FUNCTION lx_log_state_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.tree_size < OLD.tree_size THEN
    RAISE EXCEPTION 'the log never shrinks (% -> %)', OLD.tree_size, NEW.tree_size USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER log_state_grow BEFORE UPDATE ON log_state FOR EACH ROW EXECUTE FUNCTION lx_log_state_grow();
