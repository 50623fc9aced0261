-- Returns, settlement, payouts and withdrawals (issue 5 items 6 and 7;
-- DESIGN.md §3 flows 6 and 7, §4 invariants 2-5).
--
-- What the database enforces here:
--   * one return per purchase (returns.sale_id is unique), with a reason from
--     the published list, and a status that only ever leaves 'pending' once
--     (decided_at set exactly when it is no longer pending; an accepted return
--     names its refund's ledger transaction);
--   * a sale is never both refunded and settled (CHECK on sales): a refund
--     takes back the webmaster's pending payout, which a settlement has moved
--     on; the refund job and the settlement job both lock the sale row and
--     test these columns under the lock;
--   * sales.return_pending mirrors "this sale has a pending return" on the sale
--     row itself, so the settlement's FOR UPDATE SKIP LOCKED re-checks it on
--     the newest row version (a return committed between the settlement's
--     snapshot and its lock is seen);
--   * money leaves an account only from what it holds: lx_require_funds locks
--     the book and refuses (23514, table ledger_accounts) an amount above its
--     balance; withdrawals use it because an advertiser's balance row may go
--     down to minus its credit limit, and only money actually there may leave.

-- The niche's return policy: the reasons accepted without an operator, and
-- the most a buyer may have accepted per 30 days, in basis points of its
-- purchases in the niche (the return being decided included).
ALTER TABLE niches
  ADD COLUMN return_auto_accept text[] NOT NULL DEFAULT '{}'
    CHECK (return_auto_accept <@ ARRAY['invalid_contact', 'duplicate', 'out_of_region', 'fake', 'other']
           AND cardinality(return_auto_accept) <= 5),
  ADD COLUMN return_max_rate_bps integer NOT NULL DEFAULT 1000 CHECK (return_max_rate_bps BETWEEN 0 AND 10000);

-- A lead returned as invalid_contact or fake is bad for every buyer: it never goes back on the market (the
-- inventory and the purchase skip it), whatever slots it has left.
ALTER TABLE leads ADD COLUMN resale_blocked boolean NOT NULL DEFAULT false;

-- Settlement state lives in the sale rows, so settlement is idempotent and
-- survives restarts: settled_at is set in the same transaction as the
-- settlement's ledger transaction (settle_txn; NULL for a sale with a zero
-- payout, which moves nothing).
ALTER TABLE sales
  ADD COLUMN return_pending boolean NOT NULL DEFAULT false,
  ADD COLUMN settled_at timestamptz,
  ADD COLUMN settle_txn uuid,
  ADD CONSTRAINT sales_settle_txn CHECK (settle_txn IS NULL OR settled_at IS NOT NULL),
  ADD CONSTRAINT sales_refunded_or_settled CHECK (refunded_at IS NULL OR settled_at IS NULL),
  ADD CONSTRAINT sales_return_pending CHECK (NOT return_pending OR (refunded_at IS NULL AND settled_at IS NULL));
-- What the settlement looks through: per niche (its window), oldest first.
CREATE INDEX sales_unsettled ON sales (niche_id, created_at) WHERE settled_at IS NULL AND refunded_at IS NULL;

CREATE TABLE returns (
  id             uuid PRIMARY KEY,
  sale_id        uuid NOT NULL UNIQUE,
  lead_id        uuid NOT NULL,
  buyer_id       uuid NOT NULL,
  webmaster_id   uuid NOT NULL,
  niche_id       uuid NOT NULL,
  reason         text NOT NULL CHECK (reason IN ('invalid_contact', 'duplicate', 'out_of_region', 'fake', 'other')),
  comment        text CHECK (comment IS NULL OR char_length(comment) BETWEEN 1 AND 1000),
  status         text NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
  decided_by     uuid,  -- the operator; NULL for a decision of the niche's policy
  decided_at     timestamptz,
  decision_note  text CHECK (decision_note IS NULL OR char_length(decision_note) BETWEEN 1 AND 1000),
  contest_note   text CHECK (contest_note IS NULL OR char_length(contest_note) BETWEEN 1 AND 1000),
  contested_at   timestamptz,
  refund_txn     uuid UNIQUE,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'pending') = (decided_at IS NULL)),
  CHECK ((status = 'accepted') = (refund_txn IS NOT NULL)),
  CHECK (status <> 'pending' OR decided_by IS NULL),
  CHECK ((contest_note IS NULL) = (contested_at IS NULL))
);
CREATE INDEX returns_buyer ON returns (buyer_id, id);
CREATE INDEX returns_webmaster ON returns (webmaster_id, id);
CREATE INDEX returns_status ON returns (status, id);
-- The policy's rate: a buyer's accepted returns in a niche over the last 30 days.
CREATE INDEX returns_accepted ON returns (buyer_id, niche_id, decided_at) WHERE status = 'accepted';
CREATE TRIGGER returns_keep BEFORE DELETE OR TRUNCATE ON returns FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_delete();

-- A decision is final: once a return is accepted or rejected, it never changes again.
CREATE FUNCTION lx_return_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status <> 'pending' THEN
    RAISE EXCEPTION 'return % was already %', OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER returns_final BEFORE UPDATE ON returns FOR EACH ROW EXECUTE FUNCTION lx_return_final();

-- Locks an account's book and refuses an amount above its balance (withdrawals: only money that is there, never the
-- credit limit; payouts: the available payouts). Called in the posting transaction before the entries.
CREATE FUNCTION lx_require_funds(p_owner uuid, p_book text, p_currency text, p_amount bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  b bigint;
BEGIN
  SELECT a.balance INTO b FROM ledger_accounts a
   WHERE a.owner = p_owner AND a.book = p_book AND a.currency = p_currency FOR NO KEY UPDATE;
  IF b IS NULL OR b < p_amount THEN
    RAISE EXCEPTION 'the % book of account % holds % %, less than %', p_book, p_owner, coalesce(b, 0), p_currency, p_amount
      USING ERRCODE = 'check_violation', TABLE = 'ledger_accounts';
  END IF;
  RETURN b;
END $$;
