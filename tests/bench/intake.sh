#!/usr/bin/env bash
# Lead-intake benchmark: tests/bench/leadgen (distinct, realistic leads over h2c) against the real server on
# the private cluster, beside a pgbench baseline of the intake SQL, in the same run.
#
#   tests/bench/intake.sh            (after deploy/dev.sh has built and set up once)
#
# Scenarios (each after a warm-up that no figure includes):
#   (a) max throughput, POST /v1/leads, closed loop, 16 connections x 16 streams, RUNS runs, median
#   (b) max throughput, POST /v1/leads/batch with 100 leads a request, RUNS runs, median
#   (c) latency at a fixed rate: open loop, RATE leads/s spread evenly, latency from each request's
#       scheduled start (no coordinated omission), RUNS runs of RATE_DURATION s, the run of median p99 and
#       the percentiles of all runs' answers together
#   (d) pgbench of the server's intake transaction with as many clients as (a) has connections
# Every lead is distinct (phone, e-mail, source IP): leadgen numbers leads by seed, and the next free seed
# is kept in var/bench/leadgen.seed so later runs on the same database do not resend earlier contacts.
# Figures are reported, never asserted; the exit status is 1 if a run saw connection errors, reset
# streams, 5xx or unanswered requests.
#
# Environment: RUNS (3), DURATION seconds per run of (a) and (b) (10), RATE_DURATION seconds per run of (c) (30),
# WARMUP seconds (2), RATE leads/s for (c) (5000).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
PY=/usr/bin/python3
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGBENCH=$PGBIN/pgbench
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RATE=${RATE:-5000}
# (c) runs 30 s: the kernel writes the cluster's dirty data files back every 30 s (vm.dirty_expire_centisecs), a burst
# of a few hundred MB at this rate that WAL flushes queue behind, so a 10 s run met one or none
RATE_DURATION=${RATE_DURATION:-30}
CONNS=16 STREAMS=16             # (a) and (c)
BATCH=100 BATCH_CONNS=4 BATCH_STREAMS=4 # (b): 16 batches, 1,600 leads in flight
ATTRIBUTES='{"age": 35}'        # what the bench niche's attribute schema asks for

. "$here/lib.sh"
cc -O2 -std=c17 -Wall -Wextra -Werror $(pkg-config --cflags libnghttp2 jansson) \
  -o build/leadgen tests/bench/leadgen.c $(pkg-config --libs libnghttp2 jansson)
bench_start_server
bench_webmaster RUB

niche_code=$(curl -s --http2-prior-knowledge -o "$tmp/niche.json" -w '%{http_code}' \
  -H "authorization: Bearer $op" -H 'content-type: application/json' -d '{
    "slug": "bench-loans", "name": "Bench loans", "currency": "RUB", "max_shares": 3,
    "floor_exclusive": 50000, "floor_shared": 20000, "return_window_hours": 72, "inventory_ttl_hours": 48,
    "dedupe_days": 30, "fee_bps": 1500, "min_quality": 30,
    "attributes": {"age": {"type": "integer", "min": 18, "max": 100}}}' "$base/v1/niches")
case $niche_code in
200 | 201 | 409) ;; # 409: made by an earlier run
*) echo "bench: POST /v1/niches answered $niche_code: $(cat "$tmp/niche.json")" >&2; exit 1 ;;
esac
niche_id=$("$PGBIN/psql" "$LEADX_DATABASE_URL" -Atc "SELECT id FROM niches WHERE slug = 'bench-loans'" 2>/dev/null || true)

seed_file=var/bench/leadgen.seed
mkdir -p var/bench
seed=$(cat "$seed_file" 2>/dev/null || echo 1)
failed=0

# run_leadgen <json out> <leadgen args...>: one run with the next free seed; the result line goes to the
# file, its human summary to $tmp/run.log (kept in $tmp/failures.log if the run failed); the seed file moves
# past the leads this run used.
run_leadgen() {
  local out=$1 rc=0
  shift
  bench_checkpoint
  bench_cpu_begin "$out" "$@"
  bench_fsync_begin "$out" "$@"
  build/leadgen --url "$base" --token "$wm_token" --niche bench-loans --attributes "$ATTRIBUTES" --seed "$seed" \
    "$@" >"$out" 2>"$tmp/run.log" || rc=$?
  if [ ! -s "$out" ]; then
    echo "bench: leadgen produced no result (exit $rc):" >&2
    tail -20 "$tmp/run.log" >&2
    exit 1
  fi
  bench_cpu_end "$out"
  bench_fsync_end "$out"
  seed=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["next_seed"])' "$out")
  echo "$seed" >"$seed_file"
  if [ "$rc" -ne 0 ]; then
    failed=1
    cat "$tmp/run.log" >>"$tmp/failures.log"
  fi
}

# field <json file> <key>: one number from a result line
field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# ok2xx <json file>: true if every answer was 2xx and nothing failed
ok2xx() {
  $PY - "$1" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
ok = r["responses"] > 0 and all(200 <= int(k) < 300 for k in r["http"]) and not any(r["errors"][k] for k in ("connection", "stream", "unfinished"))
sys.exit(0 if ok else 1)
PYEOF
}

# row <label> <run> <json file>: one table row
row() {
  $PY - "$@" <<'PYEOF'
import json, sys
label, run, path = sys.argv[1:4]
r = json.load(open(path))
lat, err = r["latency_ms"], r["errors"]
errors = err["connection"] + err["stream"] + err["unfinished"]
http = " ".join(f"{k}:{v}" for k, v in r["http"].items())
leads = " ".join(f"{k}:{v}" for k, v in r["leads"].items())
problems = " ".join(f"{k}:{v}" for k, v in r["problems"].items())
per = r.get("cpu_us_per_lead", {})
cpu = " ".join(f"{'-':>6}" if per.get(k) is None else f"{per[k]:>6.0f}" for k in ("leadx", "postgres", "machine"))
print(f"{label:<24} {run:>3} {r['leads_per_s']:>9.0f} {r['requests_per_s']:>8.0f} {lat['p50']:>7.2f} {lat['p90']:>7.2f}"
      f" {lat['p99']:>7.2f} {lat['max']:>8.2f} {errors:>4} {r['client_cpu_s']:>6.1f} {cpu}  {http} | {leads}"
      + (f" | problems {problems}" if problems else "")
      + (" | fdatasync p50 {p50} p99 {p99} max {max} ms, {over_20} over 20 ms".format(**r["fdatasync_ms"]) if "fdatasync_ms" in r else ""))
PYEOF
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ==== pgbench baseline of the intake SQL ========================================================================
# pgbench_intake <clients>: the tps pgbench reaches running the server's own intake transaction (the statements
# of src/leads/intake.c, in its order) for ONE lead per transaction: what leadx would cost without its
# micro-batcher. The column arrays the server sends as binary parameters are built in SQL from pgbench variables;
# contacts are fresh (random 32-byte hashes), the lead row is the size of leadgen's, unsold like the server's (the
# bench niche has no campaigns, so the campaign, buyer and past-purchase look-ups, which find nothing, are left out).
pgbench_intake() {
  local clients=$1 sql=$tmp/intake.sql
  cat >"$sql" <<'SQL'
\set r random(1, 1000000000)
BEGIN;
LOCK TABLE suppressions IN ROW SHARE MODE;
SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
SELECT set_config('bench.id', (md5(:r::text || clock_timestamp()::text)::uuid)::text, true) AS lead_id,
       encode(sha256((:r::text || clock_timestamp()::text || 'p')::bytea), 'hex') AS ph,
       encode(sha256((:r::text || clock_timestamp()::text || 'e')::bytea), 'hex') AS eh \gset
INSERT INTO contact_claims AS c (niche_id, hash, lead_id, webmaster_id, expires_at)
  SELECT x.n, x.h, x.l, x.w, now() + make_interval(days => x.d)
  FROM unnest(ARRAY[':niche_id', ':niche_id']::uuid[], ARRAY[decode(':ph', 'hex'), decode(':eh', 'hex')],
    ARRAY[':lead_id', ':lead_id']::uuid[], ARRAY[':webmaster_id', ':webmaster_id']::uuid[], ARRAY[30, 30])
    AS x(n, h, l, w, d) ORDER BY x.n, x.h
  ON CONFLICT (niche_id, hash) DO UPDATE SET
    lead_id = CASE WHEN c.expires_at <= now() THEN EXCLUDED.lead_id ELSE c.lead_id END,
    webmaster_id = CASE WHEN c.expires_at <= now() THEN EXCLUDED.webmaster_id ELSE c.webmaster_id END,
    expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
  RETURNING c.niche_id, encode(c.hash, 'hex'), c.lead_id, c.webmaster_id;
SELECT x.i,
  CASE WHEN x.ip IS NULL THEN 0 ELSE (SELECT count(*) FROM (SELECT FROM leads l WHERE l.source_ip = x.ip::inet
    AND l.created_at > now() - interval '1 hour' LIMIT 25::bigint) AS l) END,
  CASE WHEN x.sub IS NULL THEN 0 ELSE (SELECT coalesce(sum(v.n), 0) FROM intake_velocity v WHERE v.kind = 2
    AND v.key = x.w::text || ':' || x.sub AND v.bucket > (extract(epoch from now())::bigint / 600) - 7) END,
  (SELECT coalesce(string_agg(DISTINCT l.niche_id::text, ','), '') FROM leads l WHERE (l.phone_hash = x.ph
    OR l.email_hash = x.eh) AND l.niche_id <> x.n AND l.created_at > now() - interval '30 days'),
  EXISTS (SELECT 1 FROM suppressions s WHERE s.hash IN (x.ph, x.eh))
  FROM unnest(ARRAY[0], ARRAY['198.51.' || (:r % 256) || '.' || (:r % 250 + 1)], ARRAY[':webmaster_id']::uuid[],
    ARRAY['s' || (:r % 12)], ARRAY[decode(':ph', 'hex')], ARRAY[decode(':eh', 'hex')], ARRAY[':niche_id']::uuid[])
    AS x(i, ip, w, sub, ph, eh, n);
INSERT INTO intake_velocity AS v (kind, key, bucket, shard, n)
  SELECT 2, x.key, (extract(epoch from now())::bigint / 600), pg_backend_pid(), x.n
  FROM unnest(ARRAY[':webmaster_id' || ':s' || (:r % 12)], ARRAY[1]) AS x(key, n)
  ON CONFLICT (kind, key, bucket, shard) DO UPDATE SET n = v.n + EXCLUDED.n;
INSERT INTO leads (id, webmaster_id, niche_id, region, sale_mode, status, quality_score, temperature, reasons,
    duplicate_of, phone_hash, email_hash, phone_country, contact_ct, contact_key, attributes, consent, source,
    source_ip, sub_id, created_at, max_shares, sold_mode, shares_sold, payout_total, expires_at)
  SELECT x.id, x.w, x.n, x.region, x.mode, x.status, x.score, x.temp, string_to_array(x.reasons, ','), x.dup,
    x.ph, x.eh, x.pc, x.ct, x.ck, x.attributes, x.consent, x.source, x.ip::inet, x.sub, x.at, x.ms, x.sm, x.ss,
    x.pt, x.at + make_interval(hours => x.ttl)
  FROM unnest(ARRAY[':lead_id']::uuid[], ARRAY[':webmaster_id']::uuid[], ARRAY[':niche_id']::uuid[], ARRAY['RU-MOW'],
    ARRAY['any'], ARRAY['unsold'], ARRAY[100], ARRAY['hot'], ARRAY[''], ARRAY[NULL]::uuid[], ARRAY[decode(':ph', 'hex')],
    ARRAY[decode(':eh', 'hex')], ARRAY['RU'], ARRAY[sha512(':ph'::bytea) || sha512(':eh'::bytea)],
    ARRAY[sha512(':ph'::bytea) || substr(sha256(':eh'::bytea), 1, 9)],
    ARRAY[json_build_object('age', 35)],
    ARRAY[json_build_object('text', 'Я согласен на обработку персональных данных и получение звонков.',
      'given_at', now(), 'personal_data', true, 'advertising', true, 'ip', '198.51.100.7',
      'user_agent', 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36',
      'page_url', 'https://zaim.example.ru/anketa')],
    ARRAY[json_build_object('sub_id', 's1', 'click_id', 'c-' || :r, 'landing_url', 'https://zaim.example.ru/',
      'ip', '198.51.100.7', 'form_started_at', now() - interval '40 seconds', 'form_submitted_at', now())],
    ARRAY['198.51.' || (:r % 256) || '.' || (:r % 250 + 1)], ARRAY['s' || (:r % 12)], ARRAY[now()], ARRAY[3], ARRAY[NULL]::text[], ARRAY[0], ARRAY[0::bigint],
    ARRAY[48])
    AS x(id, w, n, region, mode, status, score, temp, reasons, dup, ph, eh, pc, ct, ck, attributes, consent, source,
      ip, sub, at, ms, sm, ss, pt, ttl);
COMMIT;
SQL
  [ -n "$niche_id" ] || return 0
  bench_checkpoint
  "$PGBENCH" -n -c "$clients" -j 2 -T "$DURATION" -f "$sql" -D webmaster_id="$wm_id" -D niche_id="$niche_id" \
    "$LEADX_DATABASE_URL" >"$tmp/pgbench.out" 2>&1 ||
    { echo "bench: pgbench failed:" >&2; tail -5 "$tmp/pgbench.out" >&2; return 0; }
  sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$tmp/pgbench.out"
}
# ====================================================================================================================

# Smoke tests: one lead on each route, so a missing route or a rejected body stops here with its answer.
run_leadgen "$tmp/smoke.json" -n 1 -c 1 -m 1
if ! ok2xx "$tmp/smoke.json"; then
  echo "bench: POST /v1/leads did not take a lead:" >&2
  cat "$tmp/run.log" >&2
  exit 1
fi
batch_ok=1
run_leadgen "$tmp/smoke-batch.json" -n 2 --batch 2 -c 1 -m 1
if ! ok2xx "$tmp/smoke-batch.json"; then
  batch_ok=0
  batch_why=$(sed -n 's/^ *first non-2xx answer //p' "$tmp/run.log")
  [ -n "$batch_why" ] || batch_why=$(cat "$tmp/smoke-batch.json")
fi

out=var/bench/intake-$(date -u +%Y%m%dT%H%M%SZ).txt
exec > >(tee "$out")

echo "leadx intake benchmark — $(date -u +%FT%TZ), $(nproc) CPUs; leadgen, server and PostgreSQL on this machine"
echo "server: leadx serve --threads 2 (rate limit off, access log off); leadgen: one thread, h2c;" \
  "runs of ${DURATION} s ((c): ${RATE_DURATION} s) after ${WARMUP} s warm-up"
echo "niche bench-loans (RUB, dedupe 30 days, min quality 30); leads distinct in phone, e-mail and source IP"
printf '\n%-24s %3s %9s %8s %7s %7s %7s %8s %4s %6s %6s %6s %6s  %s\n' scenario run leads/s req/s p50_ms p90_ms p99_ms max_ms \
  errs cli_s lx_us pg_us all_us 'responses | lead statuses'
echo "(lx_us, pg_us, all_us: µs of CPU per answered lead in leadx, PostgreSQL and the whole machine; see tests/bench/lib.sh)"

# (a) single route, max throughput
: >"$tmp/lps.single"
for run in $(seq "$RUNS"); do
  run_leadgen "$tmp/single.$run.json" -c $CONNS -m $STREAMS -d "$DURATION" --warmup "$WARMUP"
  row "POST /v1/leads c${CONNS}m${STREAMS}" "$run" "$tmp/single.$run.json"
  field "$tmp/single.$run.json" leads_per_s >>"$tmp/lps.single"
done
med_single=$(median <"$tmp/lps.single")

# (b) batch route, max throughput
med_batch=
if [ $batch_ok = 1 ]; then
  : >"$tmp/lps.batch"
  for run in $(seq "$RUNS"); do
    run_leadgen "$tmp/batch.$run.json" --batch $BATCH -c $BATCH_CONNS -m $BATCH_STREAMS -d "$DURATION" --warmup "$WARMUP"
    row "POST /v1/leads/batch x$BATCH" "$run" "$tmp/batch.$run.json"
    field "$tmp/batch.$run.json" leads_per_s >>"$tmp/lps.batch"
  done
  med_batch=$(median <"$tmp/lps.batch")
else
  echo "POST /v1/leads/batch: skipped, two leads were not taken: $batch_why"
fi

# (c) fixed rate, open loop: RUNS runs, as one run's p99 moves with whatever else the two cores do in its window; each
# traces every answer, and the summary also gives the percentiles of all runs' answers together
for run in $(seq "$RUNS"); do
  run_leadgen "$tmp/rate.$run.json" --rate "$RATE" -c $CONNS -m $STREAMS -d "$RATE_DURATION" --warmup "$WARMUP" \
    --trace "$tmp/rate.$run.trace"
  row "POST /v1/leads @${RATE}/s" "$run" "$tmp/rate.$run.json"
done

# (d) pgbench
pg_tps=$(pgbench_intake $CONNS)

echo
printf 'median POST /v1/leads:            %.0f leads/s\n' "$med_single"
[ -z "$med_batch" ] || printf 'median POST /v1/leads/batch x%s: %.0f leads/s\n' "$BATCH" "$med_batch"
$PY - "$RATE" "$tmp"/rate.*.json <<'PYEOF'
import glob, json, sys
rate, runs = float(sys.argv[1]), [json.load(open(p)) for p in sys.argv[2:]]
lats = sorted(float(line.split()[1]) for p in glob.glob(sys.argv[2].rsplit("/", 1)[0] + "/rate.*.trace") for line in open(p))
runs.sort(key=lambda r: r["latency_ms"]["p99"])
r = runs[(len(runs) - 1) // 2]
lat = r["latency_ms"]
print(f"at {rate:.0f} leads/s offered, the run of median p99 ({len(runs)} runs): {r['leads_per_s']:.0f} leads/s answered "
      f"2xx; latency from the scheduled start p50 {lat['p50']:.2f} ms, p90 {lat['p90']:.2f} ms, p99 {lat['p99']:.2f} ms, "
      f"max {lat['max']:.2f} ms; p99 of the runs " + ", ".join(f"{x['latency_ms']['p99']:.2f}" for x in runs) + " ms")
if all("fdatasync_ms" in x for x in runs):
    print("  the slowest WAL flush (PostgreSQL's fdatasync) in each of those runs: "
          + ", ".join(f"{x['fdatasync_ms']['max']:.1f}" for x in runs) + " ms; flushes over 20 ms: "
          + ", ".join(str(x["fdatasync_ms"]["over_20"]) for x in runs))
if lats:
    n = len(lats)
    print(f"  all {len(runs)} runs' answers together ({n}): p50 {lats[n // 2]:.2f} ms, p99 {lats[int(n * 0.99)]:.2f} ms, "
          f"p99.9 {lats[int(n * 0.999)]:.2f} ms, max {lats[-1]:.2f} ms")
if r["requests_per_s"] < 0.98 * rate:
    print(f"  the server did not keep up (most requests waiting for a stream: {r['max_backlog']}); "
          "those latencies include the queue")
PYEOF
if [ -n "$pg_tps" ]; then
  printf 'pgbench, the intake transaction, %s clients, simple query protocol: %.0f tps\n' "$CONNS" "$pg_tps"
else
  echo "pgbench, the intake transaction: n/a (pgbench_intake in tests/bench/intake.sh is still a placeholder)"
fi
$PY - "$med_single" "${med_batch:-0}" "${pg_tps:-0}" <<'PYEOF'
import sys
single, batch, pg = (float(x) for x in sys.argv[1:4])
if batch and single:
    print(f"ratio batch / single route leads/s: {batch / single:.2f}")
if pg:
    print(f"ratio leadx POST /v1/leads / pgbench: {single / pg:.2f}")
    if batch:
        print(f"ratio leadx POST /v1/leads/batch / pgbench: {batch / pg:.2f}")
PYEOF
if [ $failed = 1 ]; then
  echo
  echo "runs with connection errors, reset streams, 5xx or unanswered requests:"
  cat "$tmp/failures.log"
fi
echo "(written to $out)"
[ $failed = 0 ]
