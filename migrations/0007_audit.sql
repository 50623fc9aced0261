-- The operator action log (issue 5 item 8): every operator action that
-- changes money, prices, niches or accounts appends one row, in the same
-- transaction as the change (src/api/action_log.h), to an append-only,
-- hash-chained log:
--
--   hash = SHA-256(prev_hash || bytes)
--   bytes = UTF-8 of "leadx-operator-action-v1" LF seq LF at LF operator_id LF action LF target LF details
--
-- where `at` is RFC 3339 UTC with six fractional digits and `details` is the
-- jsonb value's text (jsonb normalises key order and spacing, so its text is
-- a function of the value). The first row's prev_hash is 32 zero bytes.
-- action and target hold no line feed, and details comes last, so the bytes
-- name exactly one row. The same bytes are rebuilt in C by the audit report
-- (src/billing/audit.h lx_audit_action_hash), which recomputes the chain.
--
-- The database computes the chain: a BEFORE INSERT trigger locks the one-row
-- chain head (so appends serialise; writers add the row last in their
-- transaction and hold the head only until their commit), assigns seq = head
-- + 1 and the time, computes the hash and moves the head. Rows are never
-- updated or deleted; the head moves only from that trigger, one step at a
-- time, so a deleted last row is caught too (head ahead of the table).

CREATE TABLE operator_actions (
  seq          bigint PRIMARY KEY CHECK (seq >= 1),
  at           timestamptz NOT NULL,
  operator_id  uuid NOT NULL,
  action       text NOT NULL CHECK (action ~ '^[a-z][a-z_]*(\.[a-z_]+)*$' AND char_length(action) <= 64),
  target       text NOT NULL CHECK (char_length(target) BETWEEN 1 AND 200 AND target !~ '[\x01-\x1f\x7f]'),
  details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash         bytea NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX operator_actions_at ON operator_actions (at);

CREATE TABLE operator_action_head (
  one   boolean PRIMARY KEY DEFAULT true CHECK (one),
  seq   bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
  hash  bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex') CHECK (length(hash) = 32)
);
INSERT INTO operator_action_head DEFAULT VALUES;

CREATE FUNCTION lx_operator_action_bytes(p_seq bigint, p_at timestamptz, p_operator uuid, p_action text, p_target text,
                                         p_details jsonb) RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT convert_to('leadx-operator-action-v1' || E'\n' || p_seq::text || E'\n' ||
                    to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n' || p_operator::text ||
                    E'\n' || p_action || E'\n' || p_target || E'\n' || p_details::text, 'UTF8')
$$;

CREATE FUNCTION lx_operator_action_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head operator_action_head%ROWTYPE;
BEGIN
  SELECT * INTO STRICT head FROM operator_action_head FOR UPDATE;
  NEW.seq := head.seq + 1;
  -- Microseconds, as the canonical bytes carry them (timestamptz keeps no more).
  NEW.at := date_trunc('microseconds', clock_timestamp());
  NEW.details := coalesce(NEW.details, '{}');
  NEW.prev_hash := head.hash;
  NEW.hash := sha256(head.hash || lx_operator_action_bytes(NEW.seq, NEW.at, NEW.operator_id, NEW.action, NEW.target,
                                                            NEW.details));
  UPDATE operator_action_head SET seq = NEW.seq, hash = NEW.hash;
  RETURN NEW;
END $$;
CREATE TRIGGER operator_actions_chain BEFORE INSERT ON operator_actions
  FOR EACH ROW EXECUTE FUNCTION lx_operator_action_chain();
CREATE TRIGGER operator_actions_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON operator_actions
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();

-- The head moves one step at a time, and only from the chain trigger above.
CREATE FUNCTION lx_operator_action_head_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() < 2 OR NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'the operator action chain head moves only by appending an action'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER operator_action_head_step BEFORE UPDATE ON operator_action_head
  FOR EACH ROW EXECUTE FUNCTION lx_operator_action_head_step();
CREATE TRIGGER operator_action_head_keep BEFORE DELETE OR TRUNCATE ON operator_action_head
  FOR EACH STATEMENT EXECUTE FUNCTION lx_refuse_change();
