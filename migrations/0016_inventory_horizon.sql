-- The inventory's look-back: how far back in lead ids GET /v1/market/leads needs to look (src/api/market.c).
--
-- The inventory lists leads in id order, and a lead stays in it until its expires_at (created_at plus the niche's
-- inventory_ttl_hours at intake). Nothing leaves the leads_market index when that time passes (its predicate cannot
-- name now()), so the first page scanned every expired lead ever taken before reaching the live ones: on the intake
-- bench's 10.6 million leads, with nine in ten of them past their expires_at, the first page took 14 s, past the
-- server's statement_timeout. Lead ids are UUIDv7, their first 48 bits the intake's clock in ms, from the same clock
-- as created_at; so a lead still in the inventory has an id no older than now() minus the longest TTL its niche had
-- when it arrived (the id's clock lags created_at by a few ms at most). The listing now starts there
-- (lx_uuid_v7_floor, with a second to spare) and reads only the leads of that window, whatever the table's history.
-- This holds because only the intake writes leads and makes their ids (src/leads/intake.c); a lead inserted by hand
-- with an id older than its created_at would be missed by these listings. No CHECK states it: it would cost every
-- lead about a microsecond, to guard against writers the server does not have.
--
-- inventory_ttl_hours_max is the longest inventory_ttl_hours the niche has had while any lead it then took may still
-- be in the inventory: it only grows (a server may still stamp leads with a TTL from its niche cache for a moment
-- after a PATCH lowers it, and leads keep the TTL they arrived with). The trigger keeps it so on every write, and
-- the CHECK makes the rule visible. Existing niches start at the longest TTL of their leads still in date.

-- The smallest UUIDv7 of time t (ms), clamped to what 48 bits hold: every id made at or after t sorts at or above it.
CREATE FUNCTION lx_uuid_v7_floor(t timestamptz) RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT (lpad(to_hex(least(greatest(0, floor(extract(epoch FROM t) * 1000)), 281474976710655)::bigint), 12, '0')
          || repeat('0', 20))::uuid
$$;

ALTER TABLE niches ADD COLUMN inventory_ttl_hours_max integer;
UPDATE niches n SET inventory_ttl_hours_max = greatest(n.inventory_ttl_hours, coalesce(m.hours, 0))
  FROM niches n0 LEFT JOIN (SELECT l.niche_id, ceil(max(extract(epoch FROM l.expires_at - l.created_at)) / 3600)::int AS hours
                              FROM leads l WHERE l.expires_at > now() GROUP BY l.niche_id) m ON m.niche_id = n0.id
 WHERE n.id = n0.id;
ALTER TABLE niches ALTER COLUMN inventory_ttl_hours_max SET NOT NULL,
  ADD CONSTRAINT niches_inventory_ttl_hours_max CHECK (inventory_ttl_hours_max >= inventory_ttl_hours);

CREATE FUNCTION lx_niche_inventory_horizon() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.inventory_ttl_hours_max := NEW.inventory_ttl_hours;
  ELSE
    NEW.inventory_ttl_hours_max := greatest(OLD.inventory_ttl_hours_max, NEW.inventory_ttl_hours);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER niches_inventory_horizon BEFORE INSERT OR UPDATE ON niches
  FOR EACH ROW EXECUTE FUNCTION lx_niche_inventory_horizon();
