-- Foundation: currencies, accounts, API keys, idempotency keys.
-- Invariants live in constraints: roles, statuses, name lengths, ISO 4217
-- currencies (a catalogue table, so the list is data), one keyed hash per key.

CREATE TABLE currencies (
  code        char(3) PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
  minor_units smallint NOT NULL CHECK (minor_units BETWEEN 0 AND 4)
);

INSERT INTO currencies (code, minor_units) VALUES
  ('AED', 2),
  ('AFN', 2),
  ('ALL', 2),
  ('AMD', 2),
  ('ANG', 2),
  ('AOA', 2),
  ('ARS', 2),
  ('AUD', 2),
  ('AWG', 2),
  ('AZN', 2),
  ('BAM', 2),
  ('BBD', 2),
  ('BDT', 2),
  ('BGN', 2),
  ('BHD', 3),
  ('BIF', 0),
  ('BMD', 2),
  ('BND', 2),
  ('BOB', 2),
  ('BRL', 2),
  ('BSD', 2),
  ('BTN', 2),
  ('BWP', 2),
  ('BYN', 2),
  ('BZD', 2),
  ('CAD', 2),
  ('CDF', 2),
  ('CHF', 2),
  ('CLP', 0),
  ('CNY', 2),
  ('COP', 2),
  ('CRC', 2),
  ('CUP', 2),
  ('CVE', 2),
  ('CZK', 2),
  ('DJF', 0),
  ('DKK', 2),
  ('DOP', 2),
  ('DZD', 2),
  ('EGP', 2),
  ('ERN', 2),
  ('ETB', 2),
  ('EUR', 2),
  ('FJD', 2),
  ('FKP', 2),
  ('GBP', 2),
  ('GEL', 2),
  ('GHS', 2),
  ('GIP', 2),
  ('GMD', 2),
  ('GNF', 0),
  ('GTQ', 2),
  ('GYD', 2),
  ('HKD', 2),
  ('HNL', 2),
  ('HTG', 2),
  ('HUF', 2),
  ('IDR', 2),
  ('ILS', 2),
  ('INR', 2),
  ('IQD', 3),
  ('IRR', 2),
  ('ISK', 0),
  ('JMD', 2),
  ('JOD', 3),
  ('JPY', 0),
  ('KES', 2),
  ('KGS', 2),
  ('KHR', 2),
  ('KMF', 0),
  ('KPW', 2),
  ('KRW', 0),
  ('KWD', 3),
  ('KYD', 2),
  ('KZT', 2),
  ('LAK', 2),
  ('LBP', 2),
  ('LKR', 2),
  ('LRD', 2),
  ('LSL', 2),
  ('LYD', 3),
  ('MAD', 2),
  ('MDL', 2),
  ('MGA', 2),
  ('MKD', 2),
  ('MMK', 2),
  ('MNT', 2),
  ('MOP', 2),
  ('MRU', 2),
  ('MUR', 2),
  ('MVR', 2),
  ('MWK', 2),
  ('MXN', 2),
  ('MYR', 2),
  ('MZN', 2),
  ('NAD', 2),
  ('NGN', 2),
  ('NIO', 2),
  ('NOK', 2),
  ('NPR', 2),
  ('NZD', 2),
  ('OMR', 3),
  ('PAB', 2),
  ('PEN', 2),
  ('PGK', 2),
  ('PHP', 2),
  ('PKR', 2),
  ('PLN', 2),
  ('PYG', 0),
  ('QAR', 2),
  ('RON', 2),
  ('RSD', 2),
  ('RUB', 2),
  ('RWF', 0),
  ('SAR', 2),
  ('SBD', 2),
  ('SCR', 2),
  ('SDG', 2),
  ('SEK', 2),
  ('SGD', 2),
  ('SHP', 2),
  ('SLE', 2),
  ('SOS', 2),
  ('SRD', 2),
  ('SSP', 2),
  ('STN', 2),
  ('SVC', 2),
  ('SYP', 2),
  ('SZL', 2),
  ('THB', 2),
  ('TJS', 2),
  ('TMT', 2),
  ('TND', 3),
  ('TOP', 2),
  ('TRY', 2),
  ('TTD', 2),
  ('TWD', 2),
  ('TZS', 2),
  ('UAH', 2),
  ('UGX', 0),
  ('USD', 2),
  ('UYU', 2),
  ('UZS', 2),
  ('VES', 2),
  ('VND', 0),
  ('VUV', 0),
  ('WST', 2),
  ('XAF', 0),
  ('XCD', 2),
  ('XOF', 0),
  ('XPF', 0),
  ('YER', 2),
  ('ZAR', 2),
  ('ZMW', 2),
  ('ZWG', 2);

CREATE TABLE accounts (
  id          uuid PRIMARY KEY,
  role        text NOT NULL CHECK (role IN ('operator', 'webmaster', 'advertiser')),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200 AND name = btrim(name, ' ')),
  currency    char(3) NOT NULL REFERENCES currencies (code),
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  rate_limit  integer CHECK (rate_limit IS NULL OR rate_limit BETWEEN 1 AND 1000000),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_role_id ON accounts (role, id);

CREATE TABLE api_keys (
  id           uuid PRIMARY KEY,
  account_id   uuid NOT NULL REFERENCES accounts (id),
  hash         bytea NOT NULL CHECK (length(hash) = 32),
  label        text CHECK (label IS NULL OR char_length(label) BETWEEN 1 AND 100),
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id, id);

-- A revocation, or any change to an account, tells every
-- leadx process to drop its cached copy (NOTIFY is delivered at commit).
CREATE FUNCTION lx_notify_account_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Caches hold the rendered account (GET /v1/me), so any change counts.
  IF NEW IS DISTINCT FROM OLD THEN
    PERFORM pg_notify('leadx_auth', 'account:' || NEW.id::text);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER accounts_notify AFTER UPDATE ON accounts
  FOR EACH ROW EXECUTE FUNCTION lx_notify_account_change();

CREATE FUNCTION lx_notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.hash IS DISTINCT FROM OLD.hash THEN
    PERFORM pg_notify('leadx_auth', 'key:' || NEW.id::text);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER api_keys_notify AFTER UPDATE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION lx_notify_key_change();

-- Idempotency-Key store: per account and key; pruned after 24 h.
CREATE TABLE idempotency_keys (
  account_id   uuid NOT NULL REFERENCES accounts (id),
  key          text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
  operation    text NOT NULL,
  request_hash text NOT NULL,
  status_code  integer CHECK (status_code BETWEEN 200 AND 599),
  resource_id  uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Claims a key for one execution. Runs in its own short transaction so a
-- concurrent request sees the claim at once ('in_progress' -> 409). A claim
-- left unfinished by a crash is taken over after 60 s; entries older than
-- 24 h are forgotten.
CREATE FUNCTION lx_idem_claim(p_account uuid, p_key text, p_operation text, p_hash text,
                              OUT state text, OUT status_code integer, OUT resource_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
  r idempotency_keys%ROWTYPE;
BEGIN
  DELETE FROM idempotency_keys k
   WHERE k.account_id = p_account AND k.key = p_key AND k.created_at < now() - interval '24 hours';
  INSERT INTO idempotency_keys (account_id, key, operation, request_hash)
  VALUES (p_account, p_key, p_operation, p_hash)
  ON CONFLICT DO NOTHING;
  IF FOUND THEN
    state := 'claimed';
    RETURN;
  END IF;
  SELECT * INTO r FROM idempotency_keys k WHERE k.account_id = p_account AND k.key = p_key FOR UPDATE;
  IF r.request_hash <> p_hash OR r.operation <> p_operation THEN
    state := 'mismatch';
  ELSIF r.status_code IS NOT NULL THEN
    state := 'done';
    status_code := r.status_code;
    resource_id := r.resource_id;
  ELSIF r.created_at < now() - interval '60 seconds' THEN
    UPDATE idempotency_keys k SET created_at = now() WHERE k.account_id = p_account AND k.key = p_key;
    state := 'claimed';
  ELSE
    state := 'in_progress';
  END IF;
END $$;
