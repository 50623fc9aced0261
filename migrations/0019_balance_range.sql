-- A deposit may not take a balance past 2^53 - 1 (src/api/ledger.c).
--
-- Request amounts were capped at 2^53 - 1, so every JSON reader holds them exactly, but a balance was only kept
-- inside the 64-bit range: deposits could take one to 9.2e18, and then balance + credit_limit (what the advertiser may
-- spend, read by every intake batch whose scope has one of its campaigns and by its inventory purchases) left that
-- range: bigint out of range, a 500 for the purchases and for every lead of every webmaster that shared a batch with
-- the campaign. Each request on the way had been accepted. Now a deposit is refused (422 at /amount) when the book
-- would hold more than 2^53 - 1, with the book locked, so concurrent deposits cannot pass it together; the credit
-- limit is at most 2^53 - 1 already, so balance + credit_limit stays far inside the range, and balances are exact
-- numbers for every JSON reader too.
CREATE FUNCTION lx_require_room(p_owner uuid, p_book text, p_currency text, p_amount bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  b bigint;
BEGIN
  SELECT a.balance INTO b FROM ledger_accounts a
   WHERE a.owner = p_owner AND a.book = p_book AND a.currency = p_currency FOR NO KEY UPDATE;
  IF b IS NOT NULL AND b > 9007199254740991 - p_amount THEN
    RAISE EXCEPTION 'the % book of account % would hold more than 2^53 - 1', p_book, p_owner
      USING ERRCODE = 'numeric_value_out_of_range';
  END IF;
  RETURN b;
END $$;
