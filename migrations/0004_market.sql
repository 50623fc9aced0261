-- The marketplace: the double-entry ledger, campaigns, sales.
--
-- What the database enforces here (DESIGN.md §4):
--   * every ledger transaction balances to zero per currency: a statement
--     trigger sums each INSERT's entries per transaction (each statement must
--     balance on its own, so any number of statements balances too), and
--     entries are never updated or deleted;
--   * every maintained balance equals the sum of its entries: the same
--     trigger adds each statement's entries to the balance rows, so no code
--     path can move money without moving the balance;
--   * a balance never goes below its floor (an advertiser's: minus its credit
--     limit; a webmaster's payouts: zero) — a CHECK on the balance row;
--   * a campaign never spends past its budget or daily cap — CHECKs on the
--     campaign row the intake batch updates under its lock;
--   * a lead's sale state: at most one exclusive sale, at most max_shares
--     shared ones, never both (CHECKs on leads), to distinct buyers and one
--     per share slot (unique indexes on the unrefunded sales).
-- Platform-wide books (revenue, external cash) carry no balance row: their
-- balance is the sum of their entries, so no single row serialises every
-- sale (DESIGN.md §5, lock order).

ALTER TABLE accounts ADD COLUMN credit_limit bigint NOT NULL DEFAULT 0 CHECK (credit_limit >= 0);

-- One row per book: an advertiser's spendable balance, a webmaster's pending
-- and available payouts, the platform's revenue and external cash (owner
-- NULL, one per currency). balance NULL = derived from the entries.
CREATE TABLE ledger_accounts (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner        uuid REFERENCES accounts (id),
  book         text NOT NULL CHECK (book IN ('balance', 'pending', 'available', 'revenue', 'cash')),
  currency     char(3) NOT NULL REFERENCES currencies (code),
  balance      bigint,
  min_balance  bigint,
  UNIQUE NULLS NOT DISTINCT (owner, book, currency),
  CHECK ((owner IS NULL) = (book IN ('revenue', 'cash'))),
  CHECK ((owner IS NULL) = (balance IS NULL)),
  CHECK ((balance IS NULL) = (min_balance IS NULL)),
  CHECK (balance IS NULL OR balance >= min_balance)
);

INSERT INTO ledger_accounts (owner, book, currency)
SELECT NULL, b.book, c.code FROM currencies c CROSS JOIN (VALUES ('revenue'), ('cash')) AS b (book);

-- An account's books exist from its creation on, so posting never has to
-- create one (and the trigger below never meets a missing balance row).
CREATE FUNCTION lx_open_books() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.role = 'advertiser' THEN
    INSERT INTO ledger_accounts (owner, book, currency, balance, min_balance)
    VALUES (NEW.id, 'balance', NEW.currency, 0, -NEW.credit_limit);
  ELSIF NEW.role = 'webmaster' THEN
    INSERT INTO ledger_accounts (owner, book, currency, balance, min_balance)
    VALUES (NEW.id, 'pending', NEW.currency, 0, 0), (NEW.id, 'available', NEW.currency, 0, 0);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER accounts_open_books AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION lx_open_books();
INSERT INTO ledger_accounts (owner, book, currency, balance, min_balance)
SELECT a.id, 'balance', a.currency, 0, -a.credit_limit FROM accounts a WHERE a.role = 'advertiser';
INSERT INTO ledger_accounts (owner, book, currency, balance, min_balance)
SELECT a.id, b.book, a.currency, 0, 0 FROM accounts a CROSS JOIN (VALUES ('pending'), ('available')) AS b (book)
WHERE a.role = 'webmaster';

-- The credit limit is the balance row's floor; lowering it under a balance
-- already spent fails on the CHECK above (the API answers 409).
CREATE FUNCTION lx_sync_credit_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ledger_accounts SET min_balance = -NEW.credit_limit WHERE owner = NEW.id AND book = 'balance';
  RETURN NULL;
END $$;
CREATE TRIGGER accounts_credit_limit AFTER UPDATE OF credit_limit ON accounts
  FOR EACH ROW WHEN (NEW.credit_limit IS DISTINCT FROM OLD.credit_limit) EXECUTE FUNCTION lx_sync_credit_limit();

CREATE TABLE ledger_txns (
  id          uuid PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('deposit', 'sale', 'refund', 'settlement', 'payout', 'withdrawal')),
  currency    char(3) NOT NULL,
  reference   text CHECK (reference IS NULL OR char_length(reference) BETWEEN 1 AND 200),
  lead_id     uuid,
  created_by  uuid,  -- the operator who recorded it (deposits, payouts)
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txn_id             uuid NOT NULL,
  ledger_account_id  uuid NOT NULL,
  account_id         uuid,  -- the book's owner (NULL: the platform), for per-account listing
  book               text NOT NULL,
  amount             bigint NOT NULL CHECK (amount <> 0),
  currency           char(3) NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now()
);
-- One index beyond the key: every sale writes several entries, and each
-- index is paid per entry. Listing by account (the platform's books are the
-- NULL owner) is what reads entries; a transaction's entries are found
-- through it too (refunds start from the sale row, which names its txn).
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);

CREATE FUNCTION lx_ledger_post() RETURNS trigger LANGUAGE plpgsql AS $$
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
  -- Balance rows in id order (DESIGN.md §5), then each gets its entries' sum.
  PERFORM 1 FROM ledger_accounts a
   WHERE a.id IN (SELECT e.ledger_account_id FROM new_entries e) AND a.balance IS NOT NULL
   ORDER BY a.id FOR NO KEY UPDATE;
  UPDATE ledger_accounts a SET balance = a.balance + d.total
    FROM (SELECT e.ledger_account_id AS id, sum(e.amount) AS total FROM new_entries e GROUP BY 1) AS d
   WHERE a.id = d.id AND a.balance IS NOT NULL;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_entries_post AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION lx_ledger_post();

CREATE FUNCTION lx_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are never changed or deleted (post a reversing transaction instead)', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER ledger_entries_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();
CREATE TRIGGER ledger_txns_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_txns
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();
CREATE TRIGGER ledger_accounts_keep BEFORE DELETE OR TRUNCATE ON ledger_accounts
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_delete();

-- Campaigns: an advertiser's bids in one niche. bid_seq orders equal bids
-- (the earlier-set bid wins); it moves whenever a price changes. The daily
-- counter belongs to daily_day, the campaign's local date when it was last
-- counted; a batch reading it on a later local date starts from zero.
CREATE SEQUENCE campaign_bid_seq;
CREATE TABLE campaigns (
  id                            uuid PRIMARY KEY,
  advertiser_id                 uuid NOT NULL REFERENCES accounts (id),
  niche_id                      uuid NOT NULL REFERENCES niches (id),
  name                          text CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 200),
  regions                       text[] NOT NULL CHECK (cardinality(regions) BETWEEN 1 AND 500),
  price_exclusive               bigint CHECK (price_exclusive IS NULL OR price_exclusive > 0),
  price_shared                  bigint CHECK (price_shared IS NULL OR price_shared > 0),
  bid_seq                       bigint NOT NULL DEFAULT nextval('campaign_bid_seq'),
  filters                       jsonb CHECK (filters IS NULL OR jsonb_typeof(filters) = 'object'),
  tz                            text NOT NULL DEFAULT 'UTC',
  hours                         jsonb CHECK (hours IS NULL OR jsonb_typeof(hours) = 'object'),
  daily_cap                     integer CHECK (daily_cap IS NULL OR daily_cap >= 1),
  daily_day                     date,
  daily_count                   integer NOT NULL DEFAULT 0 CHECK (daily_count >= 0),
  budget                        bigint CHECK (budget IS NULL OR budget >= 1),
  spent                         bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
  exclude_sources               text[] NOT NULL DEFAULT '{}' CHECK (cardinality(exclude_sources) <= 1000),
  exclude_bought_contacts_days  integer NOT NULL DEFAULT 0 CHECK (exclude_bought_contacts_days BETWEEN 0 AND 3650),
  status                        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
  created_at                    timestamptz NOT NULL DEFAULT now(),
  updated_at                    timestamptz NOT NULL DEFAULT now(),
  CHECK (price_exclusive IS NOT NULL OR price_shared IS NOT NULL),
  CHECK (budget IS NULL OR spent <= budget),
  CHECK (daily_cap IS NULL OR daily_count <= daily_cap)
);
CREATE INDEX campaigns_advertiser ON campaigns (advertiser_id, id);
CREATE INDEX campaigns_niche_active ON campaigns (niche_id, id) WHERE status = 'active';
CREATE TRIGGER campaigns_keep BEFORE DELETE OR TRUNCATE ON campaigns FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_delete();

-- A lead's sale state, kept on the lead row: the row every purchase of the
-- lead locks, so concurrent buyers serialise on it.
ALTER TABLE leads
  ADD COLUMN max_shares    smallint NOT NULL DEFAULT 1 CHECK (max_shares BETWEEN 1 AND 20),
  ADD COLUMN sold_mode     text CHECK (sold_mode IN ('exclusive', 'shared')),
  ADD COLUMN shares_sold   smallint NOT NULL DEFAULT 0,
  ADD COLUMN payout_total  bigint NOT NULL DEFAULT 0 CHECK (payout_total >= 0),
  ADD COLUMN expires_at    timestamptz,  -- leaves the inventory (accepted leads only)
  ADD CONSTRAINT leads_shares CHECK (shares_sold BETWEEN 0 AND max_shares),
  ADD CONSTRAINT leads_sold_mode CHECK ((sold_mode IS NULL) = (shares_sold = 0)),
  ADD CONSTRAINT leads_exclusive_once CHECK (sold_mode IS DISTINCT FROM 'exclusive' OR shares_sold = 1);
-- The inventory: accepted leads with something left to buy, by niche.
CREATE INDEX leads_market ON leads (niche_id, id)
  WHERE status IN ('sold', 'unsold') AND sold_mode IS DISTINCT FROM 'exclusive' AND shares_sold < max_shares;

-- Every sale, real-time (campaign_id set) or from the inventory.
CREATE TABLE sales (
  id            uuid PRIMARY KEY,
  lead_id       uuid NOT NULL,
  buyer_id      uuid NOT NULL,
  campaign_id   uuid,
  webmaster_id  uuid NOT NULL,
  niche_id      uuid NOT NULL,
  mode          text NOT NULL CHECK (mode IN ('exclusive', 'shared')),
  share_index   smallint NOT NULL CHECK (share_index BETWEEN 0 AND 19),
  price         bigint NOT NULL CHECK (price > 0),
  fee           bigint NOT NULL CHECK (fee >= 0),
  payout        bigint NOT NULL CHECK (payout >= 0),
  currency      char(3) NOT NULL,
  ledger_txn    uuid NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  refunded_at   timestamptz,
  CHECK (fee + payout = price),
  CHECK (mode = 'shared' OR share_index = 0)
);
CREATE UNIQUE INDEX sales_one_per_buyer ON sales (lead_id, buyer_id) WHERE refunded_at IS NULL;
CREATE UNIQUE INDEX sales_one_per_slot ON sales (lead_id, share_index) WHERE refunded_at IS NULL;
CREATE INDEX sales_buyer ON sales (buyer_id, id);

-- Every intake batch updates the campaigns it sold through and the balance
-- rows it moved: room on each page keeps those updates HOT (no index
-- changes, no new index entries), and an early vacuum keeps the few hot rows
-- from dragging a trail of dead versions through every lock and read.
ALTER TABLE campaigns SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                           autovacuum_analyze_scale_factor = 0.1);
ALTER TABLE ledger_accounts SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                                 autovacuum_analyze_scale_factor = 0.1);
