-- Lead intake: the niche catalogue, leads with encrypted contact data,
-- duplicate claims, suppressions and erasures.
--
-- What the database enforces here (DESIGN.md §4):
--   * one live claim per (niche, contact hash): the primary key of
--     contact_claims is what makes duplicate detection hold across batches,
--     connections and server processes;
--   * rejected and duplicate leads carry no contact ciphertext;
--   * money floors, fees and windows are in range; accounts, niches and
--     regions are never deleted (triggers below), so the ids a lead carries
--     keep naming what they named.
-- The leads table carries no foreign keys on purpose: each one costs a
-- KEY SHARE row lock per inserted lead on the same few account, niche and
-- region rows (MultiXact traffic shared by every concurrent intake batch)
-- and measured a quarter of the database's time per lead. The server writes
-- only ids it has just read (the caller's account, a cached niche, a region of
-- the catalogue), and the rows they name cannot disappear.
-- Contact data is never stored in clear: leads.contact_ct is sealed with a
-- per-lead key, wrapped by the master data key in leads.contact_key; erasing
-- both crypto-shreds the contact (src/leads/pii.h).

CREATE TABLE niches (
  id                   uuid PRIMARY KEY,
  slug                 text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 64),
  name                 text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  currency             char(3) NOT NULL REFERENCES currencies (code),
  max_shares           integer NOT NULL CHECK (max_shares BETWEEN 1 AND 20),
  floor_exclusive      bigint NOT NULL CHECK (floor_exclusive >= 0),
  floor_shared         bigint NOT NULL CHECK (floor_shared >= 0),
  return_window_hours  integer NOT NULL CHECK (return_window_hours BETWEEN 0 AND 8760),
  inventory_ttl_hours  integer NOT NULL CHECK (inventory_ttl_hours BETWEEN 1 AND 8760),
  dedupe_days          integer NOT NULL CHECK (dedupe_days BETWEEN 0 AND 3650),
  fee_bps              integer NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
  min_quality          integer NOT NULL CHECK (min_quality BETWEEN 0 AND 100),
  attributes           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
  status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Every leadx process caches the catalogue; any change tells them to drop it.
CREATE FUNCTION lx_notify_niche_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('leadx_auth', 'niches');
  RETURN NULL;
END $$;
CREATE TRIGGER niches_notify AFTER INSERT OR UPDATE ON niches
  FOR EACH STATEMENT EXECUTE FUNCTION lx_notify_niche_change();

-- Leads, ledger entries and receipts refer to these rows by id for ever.
CREATE FUNCTION lx_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are never deleted (suspend or archive instead)', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER accounts_keep BEFORE DELETE OR TRUNCATE ON accounts FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_delete();
CREATE TRIGGER niches_keep BEFORE DELETE OR TRUNCATE ON niches FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_delete();
CREATE TRIGGER regions_keep BEFORE DELETE OR TRUNCATE ON regions FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_delete();

CREATE TABLE leads (
  id                 uuid PRIMARY KEY,
  webmaster_id       uuid NOT NULL,
  niche_id           uuid NOT NULL,
  region             text NOT NULL,
  sale_mode          text NOT NULL CHECK (sale_mode IN ('any', 'exclusive', 'shared')),
  status             text NOT NULL CHECK (status IN ('accepted', 'rejected', 'duplicate', 'sold', 'unsold', 'expired')),
  quality_score      smallint NOT NULL CHECK (quality_score BETWEEN 0 AND 100),
  temperature        text NOT NULL CHECK (temperature IN ('hot', 'warm', 'cold')),
  reasons            text[] NOT NULL DEFAULT '{}',
  duplicate_of       uuid,  -- only when the earlier lead is the same webmaster's
  phone_hash         bytea NOT NULL CHECK (length(phone_hash) = 32),
  email_hash         bytea NOT NULL CHECK (length(email_hash) = 32),
  phone_country      char(2),
  contact_ct         bytea, -- sealed contact JSON; NULL for rejected/duplicate leads and after erasure
  contact_key        bytea CHECK (length(contact_key) = 73), -- its data key, wrapped by the master data key
  contact_erased_at  timestamptz,
  attributes         jsonb NOT NULL,
  consent            jsonb NOT NULL,
  source             jsonb NOT NULL,
  source_ip          inet,
  sub_id             text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (status NOT IN ('rejected', 'duplicate') OR contact_ct IS NULL),
  CHECK ((contact_ct IS NULL) = (contact_key IS NULL)),
  CHECK (contact_erased_at IS NULL OR contact_ct IS NULL)
);
CREATE INDEX leads_webmaster ON leads (webmaster_id, id);
CREATE INDEX leads_phone_hash ON leads (phone_hash);
CREATE INDEX leads_email_hash ON leads (email_hash);

-- Screening velocity: leads per visitor IP (kind 1) and per webmaster +
-- sub_id (kind 2) in 10-minute buckets (bucket = Unix seconds / 600). The
-- intake batch adds its counts in one upsert per key and reads the last hour
-- as a sum over seven buckets: a few index entries per lead, however busy the
-- source, where counting lead rows would read thousands. Each writer adds to
-- its own row (shard = the PostgreSQL backend's pid), so concurrent batches
-- never wait on a busy source's counter. Buckets older than two hours are
-- pruned by the server.
CREATE TABLE intake_velocity (
  kind    smallint NOT NULL CHECK (kind IN (1, 2)),
  key     text NOT NULL,
  bucket  bigint NOT NULL,
  shard   integer NOT NULL,
  n       integer NOT NULL CHECK (n > 0),
  PRIMARY KEY (kind, key, bucket, shard)
);

-- Duplicate detection: the accepted lead that holds a contact hash in a niche
-- until expires_at (its niche's dedupe_days at acceptance). The intake batch
-- upserts a claim for every hash it sees, in key order, so concurrent batches
-- serialise on exactly the contacts they share.
CREATE TABLE contact_claims (
  niche_id      uuid NOT NULL,
  hash          bytea NOT NULL CHECK (length(hash) = 32),
  lead_id       uuid NOT NULL,
  webmaster_id  uuid NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (niche_id, hash)
);

-- Contacts whose owner asked to be erased or withdrew consent: future leads
-- with them are rejected with reason "suppressed".
CREATE TABLE erasures (
  id            uuid PRIMARY KEY,
  operator_id   uuid NOT NULL REFERENCES accounts (id),
  phone_hash    bytea CHECK (length(phone_hash) = 32),
  email_hash    bytea CHECK (length(email_hash) = 32),
  leads_erased  integer NOT NULL CHECK (leads_erased >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (phone_hash IS NOT NULL OR email_hash IS NOT NULL)
);
CREATE TABLE suppressions (
  hash        bytea PRIMARY KEY CHECK (length(hash) = 32),
  kind        text NOT NULL CHECK (kind IN ('phone', 'email')),
  erasure_id  uuid NOT NULL REFERENCES erasures (id),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- A batch submission's outcome, for Idempotency-Key replays: one entry per
-- item, {"status_code", "lead_id"} or {"status_code", "problem"}.
ALTER TABLE idempotency_keys ADD COLUMN outcome jsonb;
