-- A suspension is a cut-off: no sale to the advertiser commits after the suspension does.
--
-- The intake's first attempt reads campaigns and balances without locks and checks at its write that the campaigns
-- it sold through are unchanged and of an active advertiser (src/leads/intake.c st_campaign_spend, 0010). The
-- advertiser's status was read there in the statement's snapshot: a suspension committed while the batch went on
-- (waiting for balance rows, writing receipts and entries) was not seen, and a multi-process test saw 118 sales commit
-- up to 8 ms after the suspension had. The campaign rows are what the batch locks and re-checks under its lock, so
-- suspending an advertiser now bumps the config_version of its active campaigns, whichever statement suspends it:
--   * a batch that updated a campaign's spend first holds that row until it commits, and the suspension waits for it
--     (that sale came first);
--   * a batch that reaches the row after the bump finds another version, fails with serialization_failure
--     (lx_campaigns_unchanged) and is decided again with locks, under which the advertiser is suspended.
-- The API's PATCH also takes the campaigns and then the advertiser's balance row first, in DESIGN.md §5's order
-- (src/api/accounts.c), and an inventory purchase re-reads the status after locking that balance row
-- (src/api/market.c), so a purchase either commits before the suspension or is refused after it.
CREATE FUNCTION lx_account_suspended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE campaigns SET config_version = config_version + 1 WHERE advertiser_id = NEW.id AND status = 'active';
  RETURN NULL;
END $$;

CREATE TRIGGER accounts_suspended AFTER UPDATE OF status ON accounts FOR EACH ROW
  WHEN (OLD.status = 'active' AND NEW.status <> 'active')
  EXECUTE FUNCTION lx_account_suspended();
