-- One execution per Idempotency-Key, even after a takeover (src/api/common.c).
--
-- lx_idem_claim (0001) lets a retry take over a claim left in progress for more than 60 seconds: the server that made
-- it may have died with it. But that server may also still be working (a request waiting behind locks and timeouts
-- can take that long), and its outcome was then recorded by a plain UPDATE of (account, key): both executions
-- committed, a deposit or a payout posted twice under one key. The outcome is now recorded only while none is, in the
-- execution's own transaction: of two executions, the second to record waits for the first's commit, finds the key
-- completed and fails with LXI01, so its whole transaction (the deposit, the purchase...) rolls back; the server
-- answers 409 idempotency_in_progress, and a retry of the request replays the outcome that was recorded.
CREATE FUNCTION lx_idem_complete(p_account uuid, p_key text, p_status integer, p_resource uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE idempotency_keys k SET status_code = p_status, resource_id = p_resource, completed_at = now()
   WHERE k.account_id = p_account AND k.key = p_key AND k.status_code IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Idempotency-Key % was completed by another execution', p_key USING ERRCODE = 'LXI01';
  END IF;
END $$;
