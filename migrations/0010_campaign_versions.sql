-- Optimistic campaign reads for the intake's auction (src/leads/intake.c).
--
-- An intake batch used to lock every campaign and every buyer balance in its niches (about 420 campaign rows a
-- batch in the market bench) before its auction, and held them while the server ran the auction and signed the
-- receipts, so concurrent batches of the same niches ran one after another. Its first attempt now reads them
-- without locks and writes only what it sold through, checking at the write that nothing it decided on changed:
--   * a campaign's terms: config_version below, bumped by the trigger on any change of a column the auction reads,
--     whichever statement makes it (the API's PATCH, pause and resume, an operator's SQL). The sale's spend update
--     names the version the auction saw; a campaign changed since then, or paused, or of an advertiser suspended
--     since, fails the batch with serialization_failure (lx_campaigns_unchanged), and the batch is decided again,
--     this time with the locks, under the new terms;
--   * caps, budgets and balances: their CHECKs (0004) refuse any excess, and the batch is decided again, with the
--     locks, from the balances and counts as they are.
-- The spend and count columns (spent, daily_count, daily_day) are not terms: they change with every sale and do not
-- bump the version.

ALTER TABLE campaigns ADD COLUMN config_version bigint NOT NULL DEFAULT 1 CHECK (config_version >= 1);

CREATE FUNCTION lx_campaign_config_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.config_version := OLD.config_version + 1;
  RETURN NEW;
END $$;

-- Every column the auction reads but the spend and count columns (a column added to campaigns later belongs here
-- too when the auction reads it); a new name changes no term. The WHEN clause is evaluated without calling the function, so
-- a sale's spend update pays only the comparison.
CREATE TRIGGER campaigns_config_version BEFORE UPDATE ON campaigns FOR EACH ROW
  WHEN ((OLD.advertiser_id, OLD.niche_id, OLD.regions, OLD.price_exclusive, OLD.price_shared, OLD.bid_seq,
         OLD.filters, OLD.tz, OLD.hours, OLD.daily_cap, OLD.budget, OLD.exclude_sources,
         OLD.exclude_bought_contacts_days, OLD.status)
        IS DISTINCT FROM
        (NEW.advertiser_id, NEW.niche_id, NEW.regions, NEW.price_exclusive, NEW.price_shared, NEW.bid_seq,
         NEW.filters, NEW.tz, NEW.hours, NEW.daily_cap, NEW.budget, NEW.exclude_sources,
         NEW.exclude_bought_contacts_days, NEW.status))
  EXECUTE FUNCTION lx_campaign_config_bump();

-- The intake's check that every campaign it sold through was still as its auction saw it (see above).
CREATE FUNCTION lx_campaigns_unchanged(unchanged bigint, sold_through bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF unchanged <> sold_through THEN
    RAISE EXCEPTION 'campaigns changed since the auction read them (% of % unchanged)', unchanged, sold_through
      USING ERRCODE = 'serialization_failure';
  END IF;
END $$;
