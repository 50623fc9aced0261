#!/usr/bin/env bash
# Marketplace benchmark: distinct leads from tests/bench/leadgen sold through the real-time auction of the real server
# (intake batch: leads, sales, signed receipts, ledger entries and campaign spend in one commit), beside pgbench
# running the server's own intake+sale SQL one lead per transaction ("per-lead design") and in the server's batch size
# ("limit"), in the same run. tests/bench/receipts.sh runs it beside a revision without receipts.
#
#   tests/bench/market.sh                            (after deploy/dev.sh has built and set up once)
#   LEADX_BIN=build-bench/leadx tests/bench/market.sh
#
# The market, set up through the API on every run (a deterministic plan, the same every time):
#   10 niches (RUB, max_shares 3, fee 15 %, realistic floors, an "age" attribute), 20 Russian subdivisions checked
#   against GET /v1/regions?country=RU, one webmaster, 100 advertisers each funded by one large deposit
#   (POST /v1/accounts/{id}/deposits) with 5 campaigns in 5 niches (POST /v1/campaigns, the advertiser's own key):
#   exclusive-only, shared-only or both bids between the floor and twice it, 4-12 regions or all of RU, some with
#   an age filter every lead passes or "not a person I bought within 30 days"; no budget, no daily cap. Every
#   (niche, region) pair gets at least 3 exclusive and 3 shared bidders. MARKET_SETUP=sql credits the deposits and inserts the campaigns with psql
#   instead (the same plan); the default, auto, uses the API and falls back to SQL only where a route is missing.
# Leads rotate through the 10 niches and 20 regions (leadgen --niche/--region), sale_mode 80 % any, 10 % exclusive,
# 10 % shared (SALE_MODE=mix; any, exclusive or shared also work), attributes {"age": 35}.
#
# Scenarios (after PRIME seconds of load, and each after a warm-up, that no figure includes):
#   (a) max throughput, POST /v1/leads, closed loop, 16 connections x 16 streams, RUNS runs, median
#   (b) max throughput, POST /v1/leads/batch with 100 leads a request, RUNS runs, median
#   (c) latency at a fixed rate: open loop, RATE leads/s, latency from each request's scheduled start
#   (d) from the database: of each scenario's leads (this run's webmaster, the scenario's time window, warm-up
#       included) the share sold, exclusive and shared shares of the sold ones, buyers (sales rows) per sold lead
#   (e) pgbench, as many clients as (a) has connections, of the server's intake+sale transaction
#       (src/leads/intake.c, the two posting statements of src/billing/ledger.c and the receipts statement of
#       src/billing/receipts.c, copied from the source on every run, in the server's order and in its two pipelined
#       round trips): "per-lead design" with 1 lead a transaction, "limit" with PG_BATCH (256, the server's
#       --intake-batch-max) leads a transaction
#   (f) the same transaction's PostgreSQL time statement by statement, pgbench with one client at COST_SIZES leads
#       a transaction (25, 50, 100 and PG_BATCH), the fastest of COST_ROUNDS rounds, split into a fixed cost per
#       transaction and a cost per lead (batch_costs; needs pg_stat_statements, which deploy/pg.sh's clusters load)
# Every measured run (leadgen's and pgbench's) starts after a VACUUM of the tables each sale updates (campaigns,
# balance rows), so runs compare; see vacuum_hot.
# The database is a dedicated one on the private cluster (DBNAME, default leadx_bench_market), dropped and made
# afresh at the start of every run so that runs compare (it stays after the run for inspection). KEEP_DB=1, or a
# LEADX_DATABASE_URL naming another database, keeps the database: the run then archives the campaigns an earlier
# run left in the bench niches and adds its own 100 advertisers. leadgen's next free seed is kept in
# var/bench/market.seed.
# Figures are reported, never asserted; the exit status is 1 on errors only (a failed set-up step, connection
# errors, reset streams, 5xx or unanswered requests in a run, pgbench failures).
#
# Environment: RUNS (3), DURATION seconds per run (10), WARMUP seconds (2), PRIME seconds of load before the first
# scenario (5), RATE leads/s for (c) (5000),
# PG_BATCH (LEADX_INTAKE_BATCH_MAX or 256), COST_SIZES ("25 50 100 PG_BATCH"), COST_ROUNDS (2), SALE_MODE (mix), MARKET_SETUP (auto|api|sql), LEADX_BIN (build/leadx), DBNAME, KEEP_DB.
# WITHOUT_RECEIPTS=1 (tests/bench/receipts.sh's other side): LEADX_BIN must be built with -DLEADX_BENCH_WITHOUT_RECEIPTS=ON
# (its real-time sales issue no receipts); the bench database's lx_ledger_post then loses its receipts check
# (invariant 5; the rest of the function as the latest migration defines it) and the pgbench copy of the server's SQL
# leaves lx_receipts_insert out, as the server does.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
PY=/usr/bin/python3
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGBENCH=$PGBIN/pgbench
PSQL=$PGBIN/psql
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PRIME=${PRIME:-5} # seconds of load after the set-up that no figure includes
RATE=${RATE:-5000}
PG_BATCH=${PG_BATCH:-${LEADX_INTAKE_BATCH_MAX:-256}} # the server's batch size (leadx serve --intake-batch-max)
PG_TEMPLATES_1=600 PG_TEMPLATES_BATCH=16 # pgbench's parameter templates (see pgbench_prepare)
COST_SIZES=${COST_SIZES:-25 50 100 $PG_BATCH} # leads a transaction for batch_costs (a batch at 5,000 leads/s here: 40-50)
COST_ROUNDS=${COST_ROUNDS:-2}
SALE_MODE=${SALE_MODE:-mix}
MARKET_SETUP=${MARKET_SETUP:-auto}
CONNS=16 STREAMS=16                     # (a), (c) and the pgbench clients
BATCH=100 BATCH_CONNS=4 BATCH_STREAMS=4 # (b): 16 batches, 1,600 leads in flight
ATTRIBUTES='{"age": 35}'                # what the niches' attribute schema asks for
export DBNAME=${DBNAME:-leadx_bench_market} # deploy/pg.sh creates it; ignored when LEADX_DATABASE_URL is set
case $MARKET_SETUP in auto | api | sql) ;; *) echo "bench: MARKET_SETUP must be auto, api or sql" >&2; exit 2 ;; esac
case $SALE_MODE in any | exclusive | shared | mix) ;; *) echo "bench: SALE_MODE must be any, exclusive, shared or mix" >&2; exit 2 ;; esac

. "$here/lib.sh"
# A fresh dedicated database each run, so runs compare: the last run's is dropped here (and kept until then).
if [ -z "${LEADX_DATABASE_URL:-}" ] && [ "${KEEP_DB:-0}" != 1 ]; then
  deploy/pg.sh start
  DBNAME=postgres deploy/pg.sh psql -qAtX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DBNAME\" WITH (FORCE)"
fi
leadgen=$(dirname "$LEADX_BIN")/leadgen
cc -O2 -std=c17 -Wall -Wextra -Werror $(pkg-config --cflags libnghttp2 jansson) \
  -o "$leadgen" tests/bench/leadgen.c $(pkg-config --libs libnghttp2 jansson)
bench_start_server
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; "$PSQL" "$LEADX_DATABASE_URL" -qXc "DROP SCHEMA IF EXISTS leadx_bench CASCADE" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
bench_webmaster RUB
sql() { "$PSQL" "$LEADX_DATABASE_URL" -qAtX -v ON_ERROR_STOP=1 "$@"; }
if [ "${WITHOUT_RECEIPTS:-0}" = 1 ]; then
  grep -q '"bench_without_receipts"' "$tmp/server.log" ||
    { echo "bench: WITHOUT_RECEIPTS=1 needs a server built with -DLEADX_BENCH_WITHOUT_RECEIPTS=ON" >&2; exit 2; }
  # lx_ledger_post as the latest migration defining it has it, without the block that checks receipts
  $PY - "$repo" >"$tmp/post_without_receipts.sql" <<'PYEOF'
import glob, re, sys
defs = [(path, m.group(0)) for path in sorted(glob.glob(sys.argv[1] + "/migrations/*.sql"))
        for m in re.finditer(r"CREATE (?:OR REPLACE )?FUNCTION lx_ledger_post\(\).*?\$\$.*?\$\$[^;]*;", open(path).read(), re.S)]
if not defs:
    sys.exit("bench: no migration defines lx_ledger_post()")
path, body = defs[-1]
# from '-- Invariant 5:' to the statement that keeps the oldest receipt's time (0020: the commit window then checks
# nothing, oldest staying NULL), or, in an earlier definition, to the END IF after its ELSIF
block = re.compile(r"\n  -- Invariant 5:.*?\n  oldest := [^\n]*;" if "\n  oldest := " in body else
                   r"\n  -- Invariant 5:.*?\n  ELSIF FOUND THEN\n.*?\n  END IF;", re.S)
if len(block.findall(body)) != 1:
    sys.exit(f"bench: {path}: lx_ledger_post's receipts check (from '-- Invariant 5:' to 'oldest :=', or to the END IF after its ELSIF) not found once")
print(re.sub(r"^CREATE (?:OR REPLACE )?FUNCTION", "CREATE OR REPLACE FUNCTION", block.sub("", body)))
PYEOF
  sql -f "$tmp/post_without_receipts.sql"
fi

# ==== the market ====================================================================================================
# set_up_market: niches, regions, advertisers, deposits, campaigns (see the header); writes $tmp/market.env
# (NICHE_SLUGS, REGION_CODES) and a description of the market to $tmp/market.txt.
set_up_market() {
  $PY - "$base" "$op" "$LEADX_DATABASE_URL" "$PSQL" "$MARKET_SETUP" "$tmp" <<'PYEOF'
import json, random, statistics, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
import httpx

base, op, db_url, psql, setup_mode, tmp = sys.argv[1:7]
ADVERTISERS, CAMPAIGNS_EACH, DEPOSIT = 100, 5, 10**12  # a deposit of 10 billion RUB (in kopecks) per advertiser
MIN_BIDDERS = 3  # exclusive and shared bidders every (niche, region) pair gets at least
# slug, name, floor_exclusive, floor_shared (kopecks): exclusive floors 2.5-3.2 times the shared ones, so in some
# niches one exclusive buyer outbids three shared ones and in others it does not
NICHES = [
    ("bench-microloans", "Микрозаймы", 30000, 10000),
    ("bench-credit-cards", "Кредитные карты", 50000, 20000),
    ("bench-mortgage", "Ипотека", 150000, 50000),
    ("bench-car-insurance", "ОСАГО и КАСКО", 40000, 15000),
    ("bench-bankruptcy", "Банкротство физических лиц", 120000, 40000),
    ("bench-windows", "Пластиковые окна", 50000, 20000),
    ("bench-renovation", "Ремонт квартир", 80000, 25000),
    ("bench-dentistry", "Стоматология", 90000, 30000),
    ("bench-online-courses", "Онлайн-курсы", 40000, 15000),
    ("bench-new-buildings", "Новостройки", 100000, 35000),
]
REGIONS = ["RU-MOW", "RU-SPE", "RU-MOS", "RU-LEN", "RU-KDA", "RU-SVE", "RU-NVS", "RU-TA", "RU-BA", "RU-NIZ",
           "RU-ROS", "RU-CHE", "RU-SAM", "RU-KYA", "RU-PER", "RU-VOR", "RU-VGG", "RU-OMS", "RU-IRK", "RU-KEM"]
tag = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
via, started, took = {}, time.monotonic(), {}


def lap(step):
    took[step] = time.monotonic() - started - sum(took.values())


def die(msg):
    print(f"bench: market set-up: {msg}", file=sys.stderr)
    sys.exit(1)


http = httpx.Client(base_url=base, timeout=60)


def call(method, path, token, body=None):
    return http.request(method, path, json=body, headers={"authorization": f"Bearer {token}"})


def expect(r, what, ok=(200, 201)):
    if r.status_code not in ok:
        die(f"{what}: {r.request.method} {r.request.url.path} answered {r.status_code}: {r.text[:500]}")
    return r.json() if r.content else None


def run_sql(text):
    p = subprocess.run([psql, db_url, "-qAtX", "-v", "ON_ERROR_STOP=1"], input=text, text=True, capture_output=True)
    if p.returncode != 0:
        die(f"psql: {p.stderr.strip()[:1000]}")
    return p.stdout


def lit(s):
    return "NULL" if s is None else "'" + str(s).replace("'", "''") + "'"


def no_route(r):
    """The server has no such route (yet): the SQL fallback applies."""
    return r.status_code in (404, 405)


NO_ROUTE = object()


def calls(fn, items):
    """fn over items, 8 at a time (the first alone: when it answers NO_ROUTE, that is the answer)."""
    items = list(items)
    if not items:
        return []
    first = fn(items[0])
    if first is NO_ROUTE:
        return NO_ROUTE
    with ThreadPoolExecutor(8) as pool:
        return [first] + list(pool.map(fn, items[1:]))


# -- regions: every code must be in the catalogue
codes, cursor = set(), None
while True:
    q = "/v1/regions?country=RU&limit=200" + (f"&cursor={cursor}" if cursor else "")
    page = expect(call("GET", q, op), "regions")
    codes.update(i["code"] for i in page["items"])
    cursor = page.get("next_cursor")
    if not cursor:
        break
missing = [c for c in REGIONS if c not in codes]
if missing:
    die(f"GET /v1/regions?country=RU lacks {missing}")

# -- niches: made once, reused by later runs (their floors are read back)
floors = []
for slug, name, fe, fs in NICHES:
    r = call("POST", "/v1/niches", op, {
        "slug": slug, "name": name, "currency": "RUB", "max_shares": 3, "floor_exclusive": fe, "floor_shared": fs,
        "return_window_hours": 72, "inventory_ttl_hours": 48, "dedupe_days": 30, "fee_bps": 1500,
        "min_quality": 30, "attributes": {"age": {"type": "integer", "min": 18, "max": 100, "required": True}}})
    expect(r, f"niche {slug}", ok=(200, 201, 409))
    n = expect(call("GET", f"/v1/niches/{slug}", op), f"niche {slug}")
    if n.get("currency") != "RUB" or n.get("status") != "active":
        die(f"niche {slug} exists but is not an active RUB niche: {n}")
    floors.append((n["floor_exclusive"], n["floor_shared"], n.get("max_shares", 3)))

# -- campaigns an earlier run left active in these niches: archived, so every run sees the same market
slugs = [n[0] for n in NICHES]
leftover = run_sql(f"SELECT c.id || ' ' || c.advertiser_id FROM campaigns c JOIN niches n ON n.id = c.niche_id "
                   f"WHERE c.status <> 'archived' AND n.slug IN ({','.join(lit(s) for s in slugs)})").split("\n")
leftover = [l.split() for l in leftover if l.strip()]
archived_via = "none left"
if leftover:
    archived_via = "api"
    if setup_mode != "sql":
        def archive(c):
            r = call("PATCH", f"/v1/campaigns/{c[0]}", op, {"status": "archived"})
            return NO_ROUTE if no_route(r) and setup_mode == "auto" else expect(r, "archiving an earlier run's campaign")
        if calls(archive, leftover) is NO_ROUTE:
            archived_via = "sql"
    else:
        archived_via = "sql"
    if archived_via == "sql":
        run_sql(f"UPDATE campaigns SET status = 'archived', updated_at = now() WHERE status <> 'archived' AND id IN "
                f"({','.join(lit(c) for c, _ in leftover)})")
via["archive"] = archived_via
lap("niches and archive")

# -- advertisers
def advertiser(a):
    body = expect(call("POST", "/v1/accounts", op, {"role": "advertiser", "currency": "RUB",
                                                    "name": f"bench market advertiser {a + 1:03d} ({tag})"}), "advertiser")
    return body["account"]["id"], body["key"]["token"]


advertisers = calls(advertiser, range(ADVERTISERS))
lap("advertisers")

# -- deposits
deposit_via = "sql" if setup_mode == "sql" else "api"
def deposit(i):
    r = call("POST", f"/v1/accounts/{advertisers[i][0]}/deposits", op,
             {"amount": DEPOSIT, "currency": "RUB", "reference": f"bench market {tag} #{i + 1}"})
    return NO_ROUTE if no_route(r) and setup_mode == "auto" else expect(r, "deposit")


if deposit_via == "api" and calls(deposit, range(len(advertisers))) is NO_ROUTE:
    deposit_via = "sql"
if deposit_via == "sql":
    # One ledger transaction of kind 'deposit' each: the platform's cash book -amount, the advertiser's balance
    # +amount, both entries in one statement (the trigger checks each statement balances and moves the balances).
    rows = ",".join(f"(gen_random_uuid(), {lit(aid)}::uuid, {lit(f'bench market {tag} #{i + 1}')})"
                    for i, (aid, _) in enumerate(advertisers))
    run_sql(f"""BEGIN;
CREATE TEMP TABLE d (id uuid, adv uuid, ref text) ON COMMIT DROP;
INSERT INTO d VALUES {rows};
INSERT INTO ledger_txns (id, kind, currency, reference) SELECT id, 'deposit', 'RUB', ref FROM d;
INSERT INTO ledger_entries (txn_id, ledger_account_id, account_id, book, amount, currency)
  SELECT d.id, a.id, a.owner, a.book, CASE WHEN a.owner IS NULL THEN -{DEPOSIT} ELSE {DEPOSIT} END, 'RUB'
  FROM d JOIN ledger_accounts a ON a.currency = 'RUB'
   AND ((a.owner = d.adv AND a.book = 'balance') OR (a.owner IS NULL AND a.book = 'cash'))
  ORDER BY d.id;
COMMIT;""")
via["deposits"] = deposit_via
lap("deposits")

# -- the campaign plan: deterministic, so every run sees the same market
rng = random.Random(8)


def price(floor):
    return max(floor, int(round(floor * rng.uniform(1.0, 2.0) / 100.0)) * 100)  # whole roubles


plan = []
for a in range(ADVERTISERS):
    for ni in sorted(rng.sample(range(len(NICHES)), CAMPAIGNS_EACH)):
        fe, fs, _ = floors[ni]
        u = rng.random()
        kind = "exclusive" if u < 0.4 else "shared" if u < 0.7 else "both"
        regions = ["RU"] if rng.random() < 0.1 else sorted(rng.sample(REGIONS, rng.randint(4, 12)))
        c = {"adv": a, "ni": ni, "regions": regions,
             "price_exclusive": price(fe) if kind != "shared" else None,
             "price_shared": price(fs) if kind != "exclusive" else None,
             "filters": {"attributes": {"age": {"gte": rng.choice([18, 21, 25]), "lte": rng.choice([60, 65, 70])}}}
             if rng.random() < 0.2 else None,
             "exclude_bought_contacts_days": 30 if rng.random() < 0.1 else 0}
        plan.append(c)


def covers(c, region):
    return "RU" in c["regions"] or region in c["regions"]


for ni in range(len(NICHES)):  # at least MIN_BIDDERS exclusive and shared bidders in every pair
    for region in REGIONS:
        for key in ("price_exclusive", "price_shared"):
            have = [c for c in plan if c["ni"] == ni and c[key] and covers(c, region)]
            spare = [c for c in plan if c["ni"] == ni and c[key] and not covers(c, region)]
            while len(have) < MIN_BIDDERS and spare:
                c = spare.pop(rng.randrange(len(spare)))
                c["regions"] = sorted(c["regions"] + [region])
                have.append(c)

# -- campaigns
campaign_via = "sql" if setup_mode == "sql" else "api"
def campaign(c):
    slug, name = NICHES[c["ni"]][:2]
    body = {"niche": slug, "name": f"{name}: {'вся Россия' if c['regions'] == ['RU'] else ', '.join(c['regions'])}"[:200],
            "regions": c["regions"]}
    for k in ("price_exclusive", "price_shared", "filters"):
        if c[k] is not None:
            body[k] = c[k]
    if c["exclude_bought_contacts_days"]:
        body["exclude_bought_contacts_days"] = c["exclude_bought_contacts_days"]
    r = call("POST", "/v1/campaigns", advertisers[c["adv"]][1], body)
    return NO_ROUTE if no_route(r) and setup_mode == "auto" else expect(r, f"campaign {body}")


# (8 at a time, so equal bids of one pair may get their bid_seq, the tie-break, in another order from run to run)
if campaign_via == "api" and calls(campaign, plan) is NO_ROUTE:
    campaign_via = "sql"
if campaign_via == "sql":
    rows = ",".join(
        f"({lit(advertisers[c['adv']][0])}::uuid, {lit(slugs[c['ni']])}, {lit(NICHES[c['ni']][1])}, "
        f"{lit('{' + ','.join(c['regions']) + '}')}::text[], {c['price_exclusive'] or 'NULL'}, {c['price_shared'] or 'NULL'}, "
        f"{lit(json.dumps(c['filters'], separators=(',', ':')) if c['filters'] else None)}::jsonb, "
        f"{c['exclude_bought_contacts_days']})" for c in plan)
    run_sql(f"""INSERT INTO campaigns (id, advertiser_id, niche_id, name, regions, price_exclusive, price_shared, filters,
    exclude_bought_contacts_days)
  SELECT gen_random_uuid(), p.adv, n.id, p.name, p.regions, p.pe, p.ps, p.filters, p.xd
  FROM (VALUES {rows}) AS p (adv, slug, name, regions, pe, ps, filters, xd) JOIN niches n ON n.slug = p.slug;""")
via["campaigns"] = campaign_via
lap("campaigns")

# -- what the market looks like, and what the auction makes of a lead with sale_mode any in each pair (no caps, no
# budgets, balances far beyond the run's spend: always the same winners)
ex_bidders, sh_bidders, exclusive_pairs = [], [], 0
for ni in range(len(NICHES)):
    fe, fs, max_shares = floors[ni]
    for region in REGIONS:
        cs = [c for c in plan if c["ni"] == ni and covers(c, region)]
        ex = [c["price_exclusive"] for c in cs if c["price_exclusive"] and c["price_exclusive"] >= fe]
        sh = sorted((c["price_shared"] for c in cs if c["price_shared"] and c["price_shared"] >= fs), reverse=True)
        ex_bidders.append(len(ex))
        sh_bidders.append(len(sh))
        exclusive_pairs += bool(ex) and max(ex) >= sum(sh[:max_shares])
pairs = len(NICHES) * len(REGIONS)
with open(f"{tmp}/market.txt", "w") as f:
    print(f"market: {len(NICHES)} niches (RUB, max_shares 3, fee 15 %) x {len(REGIONS)} regions, 1 webmaster, "
          f"{ADVERTISERS} advertisers with {len(plan)} campaigns "
          f"({sum(1 for c in plan if c['price_exclusive'] and not c['price_shared'])} exclusive only, "
          f"{sum(1 for c in plan if c['price_shared'] and not c['price_exclusive'])} shared only, "
          f"{sum(1 for c in plan if c['price_shared'] and c['price_exclusive'])} both; "
          f"{sum(1 for c in plan if c['regions'] == ['RU'])} all of RU, {sum(1 for c in plan if c['filters'])} "
          f"with an age filter, {sum(1 for c in plan if c['exclude_bought_contacts_days'])} excluding people bought "
          f"within 30 days)", file=f)
    print(f"bidders per (niche, region): exclusive min {min(ex_bidders)} median {statistics.median(ex_bidders):.0f} "
          f"max {max(ex_bidders)}, shared min {min(sh_bidders)} median {statistics.median(sh_bidders):.0f} "
          f"max {max(sh_bidders)}; a sale_mode any lead goes exclusive in {exclusive_pairs} of {pairs} pairs", file=f)
    print(f"set up through: niches, regions, accounts api; deposits {via['deposits']}; campaigns {via['campaigns']}; "
          f"earlier campaigns archived: {via['archive']}; in {sum(took.values()):.1f} s ("
          + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()) + ")", file=f)
with open(f"{tmp}/market.env", "w") as f:
    print(f"NICHE_SLUGS={','.join(slugs)}", file=f)
    print(f"REGION_CODES={','.join(REGIONS)}", file=f)
PYEOF
}
set_up_market
. "$tmp/market.env"

seed_file=var/bench/market.seed
mkdir -p var/bench
seed=$(cat "$seed_file" 2>/dev/null || echo 1)
failed=0

# db_now: the database's clock (the leads' created_at is the server's clock on this same machine)
db_now() { sql -c 'SELECT now()'; }
# vacuum_hot: every sale updates campaign and balance rows, so within a minute (autovacuum's nap) the 500 campaigns
# fill hundreds of pages of dead versions that every batch scans. Each measured run, leadx's and pgbench's alike,
# starts after a VACUUM of those tables, so runs compare; within a run they bloat as between autovacuum passes. Then
# a checkpoint (bench_checkpoint in lib.sh): the run reuses WAL files as a running cluster does.
vacuum_hot() {
  sql -c 'VACUUM (ANALYZE) campaigns, ledger_accounts, accounts, intake_velocity'
  bench_checkpoint
}

# run_leadgen <json out> <leadgen args...>: one run with the next free seed; the result line goes to the
# file, its human summary to $tmp/run.log (kept in $tmp/failures.log if the run failed); the seed file moves
# past the leads this run used. The run's time window goes to $tmp/windows (label from $window_label).
window_label=smoke
run_leadgen() {
  local out=$1 rc=0 t0 t1
  shift
  vacuum_hot
  t0=$(db_now)
  bench_cpu_begin "$out" "$@"
  bench_fsync_begin "$out" "$@"
  "$leadgen" --url "$base" --token "$wm_token" --niche "$NICHE_SLUGS" --region "$REGION_CODES" \
    --sale-mode "$SALE_MODE" --attributes "$ATTRIBUTES" --seed "$seed" "$@" >"$out" 2>"$tmp/run.log" || rc=$?
  t1=$(db_now)
  echo "$window_label|$t0|$t1" >>"$tmp/windows"
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
# sold_per_s <json file>: leads answered "sold" per second of the measured window
sold_per_s() {
  $PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["leads"].get("sold", 0) / r["window_s"] if r["window_s"] else 0)' "$1"
}

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
sold = r["leads"].get("sold", 0) / r["window_s"] if r["window_s"] else 0
http = " ".join(f"{k}:{v}" for k, v in r["http"].items())
leads = " ".join(f"{k}:{v}" for k, v in r["leads"].items())
problems = " ".join(f"{k}:{v}" for k, v in r["problems"].items())
per = r.get("cpu_us_per_lead", {})
cpu = " ".join(f"{'-':>6}" if per.get(k) is None else f"{per[k]:>6.0f}" for k in ("leadx", "postgres", "machine"))
print(f"{label:<26} {run:>3} {r['leads_per_s']:>8.0f} {sold:>8.0f} {r['requests_per_s']:>7.0f} {lat['p50']:>7.2f} {lat['p90']:>7.2f}"
      f" {lat['p99']:>7.2f} {lat['max']:>8.2f} {errors:>4} {r['client_cpu_s']:>5.1f} {cpu}  {http} | {leads}"
      + (f" | problems {problems}" if problems else "")
      + (" | fdatasync p50 {p50} p99 {p99} max {max} ms, {over_20} over 20 ms".format(**r["fdatasync_ms"]) if "fdatasync_ms" in r else ""))
PYEOF
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ==== pgbench: the server's intake+sale transaction =================================================================
# The pgbench script is the server's own SQL, copied mechanically from the source on every run (pgbench_script), so
# the copy cannot go stale: every LX_DB_STMT of src/leads/intake.c, the two posting statements of
# src/billing/ledger.c (lx_ledger_insert_txns, lx_ledger_insert_entries: the ledger trigger runs) and
# lx_receipts_insert of src/billing/receipts.c (the receipts and their receipt_queue rows with their log entries,
# before the entries, whose trigger checks every touched account's receipts against its entries), their C string
# literals joined and the string macros they use expanded (NOW_BUCKET, CAMPAIGN_SCOPE, and
# LX_INTAKE_OTHER_NICHES_WINDOW of src/leads/intake.h), byte for byte; in the order, with the parameters and under
# the conditions of the lx_db_job_add and lx_db_param calls of send_step1 and send_step2: the server's two
# pipelined round trips, BEGIN to COMMIT. One change: each $n parameter (a JSON document or an array literal the
# server builds in C) is read from a transaction-local setting, current_setting('bench.NAME'), in the same text
# form and parsed the same way (array ones inside a scalar subquery, so they are evaluated once per statement like
# a parameter); NAME comes from the C variable the server passes (SETTINGS in pgbench_script). leadx_bench.setup,
# first in each round trip (after BEGIN in the first), sets the ones that round trip reads. A statement the server
# adds on a condition runs, is left out or is put under \if by what the condition is for the bench's leads
# (CONDITIONS): every lead has a new contact, a source IP and a sub_id and no Idempotency-Key, so the claims and
# the velocity counts always run, no claim is released or reassigned, st_idem never runs, and the sale statements
# run when the template sells (templates that sell are numbered first: \if :t < :s). A statement, parameter or
# condition the bench does not know stops the run before its first measurement. Each statement but BEGIN and COMMIT
# ends with its name in a comment (/* st_market */), which pg_stat_statements keeps (batch_costs).
# The documents are templates made by pgbench_prepare that stand in for the server's C (the auction included),
# with ids, contact hashes and source IPs made unique per transaction (see there), and the auction's outcome from
# leadx_bench.plan: for every (niche, region, sale_mode), the sales the auction makes with these campaigns (the
# best exclusive bid against the best shared bids of up to max_shares buyers; the filters pass, there are no caps
# or budgets and the balances are far above a run's spend, so the winners never change). Leads rotate through
# niches and regions like leadgen's; sale_mode follows SALE_MODE.
pgbench_script() {
  $PY - "$repo" "$tmp/market.columns.sql" >"$tmp/market.pgbench" <<'PYEOF'
import os, re, sys

repo = sys.argv[1]
FILES = ["src/leads/intake.h", "src/leads/intake.c", "src/billing/ledger.h", "src/billing/ledger.c",
         "src/billing/receipts.h", "src/billing/receipts.c"]
# The C variable send_step1/send_step2 passes as a statement's parameter -> the bench's setting (bench.NAME, set
# by leadx_bench.setup from the template's column NAME).
SETTINGS = {"niches": "niches", "regions": "regions", "b->in->ip_count_limit": "ip_count_limit"}
# Row sets the server sends as binary arrays, one per column (bind_cols / bind_col of src/leads/intake.c): the C
# variable holding the columns -> the template document whose rows they are and the prefix of the column enum.
# Each column becomes a setting DOC_K (K its place in the enum), a text-form array made once per template from the
# document's member (COLUMNS: member, and how its JSON value reads as the element's text: as is, hex as bytea, a
# JSON value as its text, a list of strings comma-joined), and cast by the statement's own ::type[].
GROUPS = {"claim": ("claims", "CLAIM_"), "sig": ("signals", "SIG_"), "b->velocity": ("velocity", "VEL_"),
          "lc": ("leads", "L_"), "rel": ("release", "RE_"), "re": ("reassign", "RE_"), "sc": ("sales", "SALE_"),
          "spend": ("spend", "SPEND_"), "txc": ("txns", "LX_TXN_"), "enc": ("entries", "LX_ENTRY_"),
          "rcc": ("receipts", "LX_RCPT_")}
COLUMNS = {
    "CLAIM_N": ("n", "text"), "CLAIM_H": ("h", "hex"), "CLAIM_L": ("l", "text"), "CLAIM_W": ("w", "text"),
    "CLAIM_D": ("d", "text"),
    "SIG_I": ("i", "text"), "SIG_IP": ("ip", "text"), "SIG_W": ("w", "text"), "SIG_SUB": ("sub", "text"),
    "SIG_PH": ("ph", "hex"), "SIG_EH": ("eh", "hex"), "SIG_N": ("n", "text"),
    "VEL_KEY": ("key", "text"), "VEL_N": ("n", "text"),
    "L_ID": ("id", "text"), "L_W": ("w", "text"), "L_N": ("n", "text"), "L_REGION": ("region", "text"),
    "L_MODE": ("mode", "text"), "L_STATUS": ("status", "text"), "L_SCORE": ("score", "text"), "L_TEMP": ("temp", "text"),
    "L_REASONS": ("reasons", "list"), "L_DUP": ("dup", "text"), "L_PH": ("ph", "hex"), "L_EH": ("eh", "hex"),
    "L_PC": ("pc", "text"), "L_CT": ("ct", "hex"), "L_CK": ("ck", "hex"), "L_ATTRS": ("attributes", "json"),
    "L_CONSENT": ("consent", "json"), "L_SOURCE": ("source", "json"), "L_IP": ("ip", "text"), "L_SUB": ("sub", "text"),
    "L_AT": ("at", "text"), "L_MS": ("ms", "text"), "L_SM": ("sm", "text"), "L_SS": ("ss", "text"), "L_PT": ("pt", "text"),
    "L_TTL": ("ttl", "text"),
    "RE_N": ("n", "text"), "RE_H": ("h", "hex"), "RE_L": ("l", "text"), "RE_W": ("w", "text"),
    "SALE_ID": ("id", "text"), "SALE_L": ("l", "text"), "SALE_B": ("b", "text"), "SALE_C": ("c", "text"),
    "SALE_W": ("w", "text"), "SALE_N": ("n", "text"), "SALE_M": ("m", "text"), "SALE_K": ("k", "text"),
    "SALE_P": ("p", "text"), "SALE_F": ("f", "text"), "SALE_O": ("o", "text"), "SALE_CUR": ("cur", "text"),
    "SALE_T": ("t", "text"),
    "SPEND_ID": ("id", "text"), "SPEND_S": ("s", "text"), "SPEND_N": ("n", "text"), "SPEND_V": ("v", "text"),
    "LX_TXN_ID": ("id", "text"), "LX_TXN_KIND": ("kind", "text"), "LX_TXN_CURRENCY": ("currency", "text"),
    "LX_TXN_REFERENCE": ("reference", "text"), "LX_TXN_LEAD": ("lead_id", "text"), "LX_TXN_BY": ("created_by", "text"),
    "LX_ENTRY_TXN": ("t", "text"), "LX_ENTRY_OWNER": ("owner", "text"), "LX_ENTRY_BOOK": ("book", "text"),
    "LX_ENTRY_AMOUNT": ("amount", "text"), "LX_ENTRY_CURRENCY": ("currency", "text"),
    "LX_RCPT_ID": ("id", "text"), "LX_RCPT_ACCOUNT": ("account_id", "text"), "LX_RCPT_KIND": ("kind", "text"),
    "LX_RCPT_BOOK": ("book", "text"), "LX_RCPT_TXN": ("ledger_txn", "text"), "LX_RCPT_AMOUNT": ("amount", "text"),
    "LX_RCPT_CURRENCY": ("currency", "text"), "LX_RCPT_LEAD": ("lead_id", "text"), "LX_RCPT_SALE": ("sale_id", "text"),
    "LX_RCPT_REVERSES": ("reverses", "text"), "LX_RCPT_ISSUED_AT": ("issued_at", "text"),
    "LX_RCPT_BODY": ("body", "text"), "LX_RCPT_KEY_ID": ("key_id", "text"), "LX_RCPT_SIGNATURE": ("signature", "text"),
    "LX_RCPT_ENTRY": ("entry", "text"),
}
used_columns = {}  # setting -> (document, member, reading)
# The conditions under which send_step1/send_step2 add a statement, as they stand for the bench's leads.
CONDITIONS = {
    "b->npairs!=0": "always",                    # every lead has a contact, and the niches deduplicate
    "velocity_param(b)!=0": "always",           # every lead has a source IP and a sub_id
    "nsales!=0": "sold",                         # the template sells: \if :t < :s (sold templates come first)
    "nrel!=0": "never", "nre!=0": "never",       # every contact is new: no claim is released or reassigned
    "nidem!=0": "never",                         # no Idempotency-Key
    "locking": "never",                          # a first attempt (unlocked reads); a retry after a conflict locks
    # receipts, unless the server is built without them (WITHOUT_RECEIPTS=1, tests/bench/receipts.sh's other side)
    "LX_INTAKE_RECEIPTS": "never" if os.environ.get("WITHOUT_RECEIPTS") == "1" else "always",
}


def die(msg):
    print(f"bench: copying the server's intake+sale SQL from {', '.join(FILES)}: {msg}", file=sys.stderr)
    sys.exit(1)


TOKEN = re.compile(r'\s+|/\*.*?\*/|//[^\n]*|(?P<t>"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|[A-Za-z_]\w*|\d\w*'
                   r'|->|[=!<>]=|&&|\|\||\+\+|--|\S)', re.S)


def tokenize(text):
    return [m.group("t") for m in TOKEN.finditer(text) if m.group("t")]


ESCAPES = {'"': '"', "\\": "\\", "'": "'", "n": "\n", "t": "\t"}


def c_string(literal):
    def escape(m):
        if m.group(1) not in ESCAPES:
            die(f"escape \\{m.group(1)} in {literal}")
        return ESCAPES[m.group(1)]
    return re.sub(r"\\(.)", escape, literal[1:-1])


# -- the preprocessor's part: string macros (#define NAME "..." NAME2 "..."), directives dropped
defines, code = [], {}
for path in FILES:
    try:
        text = open(f"{repo}/{path}").read().replace("\\\n", " ")
    except OSError as e:
        die(str(e))
    lines = []
    for line in text.split("\n"):
        if line.lstrip().startswith("#"):
            m = re.match(r"\s*#\s*define\s+([A-Za-z_]\w*)(?![\w(])(.*)", line)
            if m:
                defines.append((m.group(1), tokenize(m.group(2))))
            line = ""
        lines.append(line)
    code[path] = tokenize("\n".join(lines))
macros = {}
while True:
    new = {name: toks for name, toks in defines if name not in macros and toks
           and all(t.startswith('"') or t in macros for t in toks)}
    if not new:
        break
    for name, toks in new.items():
        macros[name] = "".join(c_string(t) if t.startswith('"') else macros[t] for t in toks)


def join(toks, what):
    """A C string: adjacent literals and string macros, concatenated."""
    if not toks:
        die(f"{what}: no SQL text")
    out = []
    for t in toks:
        if t.startswith('"'):
            out.append(c_string(t))
        elif t in macros:
            out.append(macros[t])
        else:
            die(f"{what}: cannot expand {t!r} in its SQL text")
    return "".join(out)


def group(toks, i):
    """toks[i] opens a bracket: the top-level comma-separated items inside it, and the index after its match."""
    depth, items, cur = 0, [], []
    for j in range(i, len(toks)):
        t = toks[j]
        if t in "({[":
            depth += 1
            if depth == 1:
                continue
        elif t in ")}]":
            depth -= 1
            if depth == 0:
                items.append(cur)
                return items, j + 1
        if depth == 1 and t == ",":
            items.append(cur)
            cur = []
        else:
            cur.append(t)
    die("unbalanced brackets")


# -- the statements: LX_DB_STMT(name, nparams, "...") and lx_db_stmt_t name = {"name", "...", nparams, -1}
stmts = {}
for path, toks in code.items():
    for i, t in enumerate(toks[:-3]):
        if t == "LX_DB_STMT" and toks[i + 1] == "(":
            a, _ = group(toks, i + 1)
            if len(a) != 3 or len(a[0]) != 1 or len(a[1]) != 1:
                die(f"{path}: unexpected LX_DB_STMT form near {' '.join(toks[i:i + 8])}")
            name, n, sql = a[0][0], a[1][0], join(a[2], a[0][0])
        elif t == "lx_db_stmt_t" and toks[i + 2] == "=" and toks[i + 3] == "{":
            a, _ = group(toks, i + 3)
            name = toks[i + 1]
            if len(a) != 4 or a[0] != [f'"{name}"'] or len(a[2]) != 1:
                die(f"{path}: unexpected lx_db_stmt_t initialiser for {name}")
            n, sql = a[2][0], join(a[1], name)
        else:
            continue
        if name in stmts:
            die(f"statement {name} defined twice")
        stmts[name] = (sql, n, path)


# -- the column enums (src/leads/intake.c, src/billing/ledger.h, src/billing/receipts.h): enum { NAME, ..., X_NCOLS }
enums = {}
for toks in code.values():
    for i, t in enumerate(toks[:-1]):
        if t == "enum" and toks[i + 1] == "{":
            members, _ = group(toks, i + 1)
            names = [m[0] for m in members if len(m) == 1]
            for k, name in enumerate(names):
                enums[name] = k


def column_setting(var, member, fname):
    """The setting for column `member` (an enum name) of the columns in C variable `var`."""
    if var not in GROUPS:
        die(f"{fname}: the server binds columns of {var}, which the bench does not build (see GROUPS)")
    doc, prefix = GROUPS[var]
    if member not in enums or not member.startswith(prefix):
        die(f"{fname}: column {member} of {var} is not one of the {prefix}* columns")
    if member not in COLUMNS:
        die(f"{fname}: the server sends column {member}: teach tests/bench/market.sh its template member (COLUMNS)")
    name = f"{doc}_{enums[member]}"
    SETTINGS[name] = name
    used_columns[name] = (doc,) + COLUMNS[member]
    return name


# -- the order: what send_step1 and send_step2 add to their pipelines, with the conditions and the parameters
def function_body(toks, fname):
    for i in range(len(toks) - 1):
        if toks[i] == fname and toks[i + 1] == "(":
            _, j = group(toks, i + 1)
            if j < len(toks) and toks[j] == "{":
                _, k = group(toks, j)
                return toks[j + 1:k - 1]
    die(f"no function {fname} in src/leads/intake.c")


def pipeline(fname):
    toks = function_body(code["src/leads/intake.c"], fname)
    adds, params, active, depth, parens, i, named = [], [], [], 0, 0, 0, {}
    while i < len(toks):
        t = toks[i]
        if t in ("if", "else"):
            if t == "if":
                _, j = group(toks, i + 1)
                cond = "".join(toks[i + 2:j - 1])
            elif toks[i + 1] == "if":
                i += 1
                continue
            else:
                j, cond = i + 1, "else"
            if toks[j] == "{":
                active.append((cond, "block", depth))
                depth += 1
                i = j + 1
            else:
                active.append((cond, "statement", depth))
                i = j
            continue
        if t == "(":
            parens += 1
        elif t == ")":
            parens -= 1
        elif t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            while active and (active[-1][2] > depth or (active[-1][1] == "block" and active[-1][2] == depth)):
                active.pop()
        elif t == ";" and parens == 0:
            while active and active[-1][1] == "statement" and active[-1][2] >= depth:
                active.pop()
        elif t == "lx_db_job_add" and toks[i + 1] == "(":
            a, _ = group(toks, i + 1)
            stmt = a[1] if len(a) == 2 else []
            if "?" in stmt and ":" in stmt:  # COND ? &A : &B, COND one of CONDITIONS' always or never
                q, colon = stmt.index("?"), stmt.index(":")
                kind = CONDITIONS.get("".join(stmt[:q]))
                if kind not in ("always", "never"):
                    die(f"{fname} chooses a statement when {''.join(stmt[:q])}: teach tests/bench/market.sh (CONDITIONS)")
                stmt = stmt[q + 1:colon] if kind == "always" else stmt[colon + 1:]
            if len(stmt) != 2 or stmt[0] != "&" or stmt[1] not in stmts:
                die(f"{fname}: cannot read {' '.join(toks[i:i + 8])}")
            adds.append((i, stmt[1], [c for c, _, _ in active], {}))
            if toks[i - 1] == "=" and re.fullmatch(r"[A-Za-z_]\w*", toks[i - 2]):
                named[toks[i - 2]] = adds[-1]  # a call bound later, by name (the receipts, once signed)
        elif t == "bind_cols" and toks[i + 1] == "(":
            a, end = group(toks, i + 1)
            if len(a) != 3:
                die(f"{fname}: cannot read {' '.join(toks[i:i + 12])}")
            start = i
            if "".join(a[0]) in named:  # binds a call added earlier: its parameters go to that call
                at = named["".join(a[0])][0]
                start, end = at - 1, at + 1
            var, count = "".join(a[1]), "".join(a[2])
            prefix = GROUPS.get(var, ("", ""))[1]
            members = sorted((k, name) for name, k in enums.items() if name.startswith(prefix) and prefix)
            n = enums[count] if count in enums else int(count) if count.isdigit() else die(f"{fname}: {count}?")
            for k in range(n):
                if k >= len(members):
                    die(f"{fname}: {var} has fewer than {n} columns")
                params.append((start, end, k, column_setting(var, members[k][1], fname)))
        elif t == "bind_col" and toks[i + 1] == "(":
            a, end = group(toks, i + 1)
            if len(a) != 3 or len(a[1]) != 1 or a[2][:1] != ["&"] or a[2][-1] != "]":
                die(f"{fname}: cannot read {' '.join(toks[i:i + 12])}")
            var, member = "".join(a[2][1:-3]), a[2][-2]
            params.append((i, end, int(a[1][0]), column_setting(var, member, fname)))
        elif t == "lx_db_param" and toks[i + 1] == "(":
            a, end = group(toks, i + 1)
            var = "".join(a[2]) if len(a) == 3 else ""
            if len(a) != 3 or len(a[1]) != 1 or not (a[1][0].isdigit() or a[1][0] in enums) \
                    or not re.fullmatch(r"[A-Za-z_][\w\[\].>-]*", var):
                die(f"{fname}: cannot read {' '.join(toks[i:i + 12])}")
            k = enums[a[1][0]] if a[1][0] in enums else int(a[1][0])
            params.append((i, end, k, SETTINGS.get(re.sub(r"(->|\.)base$", "", var), "?" + var)))
        i += 1
    for start, end, k, var in params:
        inner = [a for a in adds if start < a[0] < end]
        before = [a for a in adds if a[0] < start]
        target = inner[0] if inner else before[-1] if before else die(f"{fname}: a parameter before any statement")
        target[3][k] = var
    return [(name, conds, [vs.get(k) for k in range(len(vs))]) for _, name, conds, vs in adds]


def bench_sql(name, bound):
    sql, n, path = stmts[name]
    n = enums[n] if n in enums else int(n) if n.isdigit() else die(f"{name}: parameter count {n}?")
    if len(bound) != n or None in bound:
        die(f"{name} ({path}) takes {n} parameters, the server passes {bound}")
    settings = []
    for var in bound:
        if var.startswith("?"):
            die(f"{name}: the server passes {var[1:]}, which the bench does not build (see leadx_bench.doc)")
        settings.append(var)

    def param(m):
        k, cast = int(m.group(1)), m.group(2)
        if not 1 <= k <= n:
            die(f"{name}: ${k} beyond its {n} parameters")
        value = f"current_setting('bench.{settings[k - 1]}')"
        # a FROM function's argument is evaluated once; an array compared in WHERE would be parsed per row, so it
        # goes in a scalar subquery (evaluated once per statement, like a parameter)
        return f"{value}::{cast}" if not cast.endswith("[]") else f"(SELECT {value}::{cast})::{cast}"

    if re.search(r"\$\d+(?!\d|::[a-z]+(\[\])?)", sql):
        die(f"{name}: a parameter without a cast")
    out = re.sub(r"\$(\d+)::([a-z]+(?:\[\])?)", param, sql)
    if ";" in out or re.search(r"(?<!:):[A-Za-z_]", out):
        die(f"{name}: a ';' or a ':name' pgbench would take for a variable: {out}")
    return out, settings


script = ["\\set r random(1, 4611686018427387903)", "\\set t random(0, :k - 1)"]
for step, fname in ((1, "send_step1"), (2, "send_step2")):
    lines, settings, in_sold = [], [], False
    for name, conds, bound in pipeline(fname):
        kinds = set()
        for c in conds:
            if c not in CONDITIONS:
                die(f"{fname} adds {name} when {c}: teach tests/bench/market.sh what that is for its leads")
            kinds.add(CONDITIONS[c])
        if "never" in kinds:
            continue
        sold = "sold" in kinds
        if sold != in_sold:
            lines.append("\\if :t < :s" if sold else "\\endif")
            in_sold = sold
        sql, used = bench_sql(name, bound)
        settings += [s for s in used if s not in settings]
        # the statement's name in a trailing comment: pg_stat_statements keeps it, batch_costs reads it
        lines.append(sql + ("" if sql in ("BEGIN", "COMMIT") else f" /* {name} */") + ";")
    if in_sold:
        lines.append("\\endif")
    setup = f"SELECT leadx_bench.setup(:r, :n, :t, '{{{','.join(settings)}}}');"
    if step == 1:
        if lines[:1] != ["BEGIN;"]:
            die(f"{fname} does not begin with BEGIN")
        lines.insert(1, setup)
    else:
        if lines[-1:] != ["COMMIT;"]:
            die(f"{fname} does not end with COMMIT")
        lines.insert(0, setup)
    script += ["\\startpipeline"] + lines + ["\\endpipeline"]
print("\n".join(script))
# the columns' settings, for pgbench_prepare (leadx_bench.columns): setting, document, member, reading
with open(sys.argv[2], "w") as f:
    rows = ", ".join(f"('{name}', '{doc}', '{member}', '{reading}')" for name, (doc, member, reading) in sorted(used_columns.items()))
    f.write(f"INSERT INTO leadx_bench.columns VALUES {rows};\n" if rows else "")
PYEOF
}
pgbench_script

pgbench_prepare() {
  local mix
  case $SALE_MODE in any) mix=0 ;; exclusive) mix=1 ;; shared) mix=2 ;; *) mix=-1 ;; esac
  sql -v slugs="{$NICHE_SLUGS}" -v regions="{$REGION_CODES}" -v wm="$wm_id" -v mix="$mix" -v k1=$PG_TEMPLATES_1 \
    -v columns="$tmp/market.columns.sql" \
    -v sizes="{$(echo $PG_BATCH $COST_SIZES | tr ' ' ,)}" -v kbatch=$PG_TEMPLATES_BATCH <<'SQL' >/dev/null
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS leadx_bench CASCADE;
CREATE SCHEMA leadx_bench;
CREATE TABLE leadx_bench.niche AS
  SELECT (s.i - 1)::int AS i, n.id, n.slug, n.max_shares, n.inventory_ttl_hours AS ttl, n.floor_exclusive AS fe,
    n.floor_shared AS fs, n.fee_bps, n.currency
  FROM unnest(:'slugs'::text[]) WITH ORDINALITY AS s (slug, i) JOIN niches n ON n.slug = s.slug;
CREATE TABLE leadx_bench.region AS SELECT (r.i - 1)::int AS i, r.code FROM unnest(:'regions'::text[]) WITH ORDINALITY AS r (code, i);
-- The auction's outcome per (niche, region, sale_mode 0 any / 1 exclusive / 2 shared): the sales as the server's
-- auction makes them (first price, fee floor(price * fee_bps / 10000), payout the rest).
CREATE TABLE leadx_bench.plan AS
WITH cand AS (
  SELECT n.i AS ni, r.i AS ri, n.fe, n.fs, n.max_shares, n.fee_bps, c.id, c.advertiser_id AS b, c.price_exclusive AS pe,
    c.price_shared AS ps, c.bid_seq
  FROM leadx_bench.niche n CROSS JOIN leadx_bench.region r
  JOIN campaigns c ON c.niche_id = n.id AND c.status = 'active' AND c.regions && ARRAY[r.code, left(r.code, 2)]
  JOIN accounts a ON a.id = c.advertiser_id AND a.status = 'active'),
ex AS (
  SELECT DISTINCT ON (ni, ri) ni, ri, fee_bps, jsonb_build_array(jsonb_build_object('c', id, 'b', b, 'p', pe)) AS sales, pe AS value
  FROM cand WHERE pe >= fe ORDER BY ni, ri, pe DESC, bid_seq),
sh_buyer AS (
  SELECT DISTINCT ON (ni, ri, b) ni, ri, max_shares, fee_bps, id, b, ps, bid_seq
  FROM cand WHERE ps >= fs ORDER BY ni, ri, b, ps DESC, bid_seq),
sh_ranked AS (SELECT *, row_number() OVER (PARTITION BY ni, ri ORDER BY ps DESC, bid_seq) AS k FROM sh_buyer),
sh AS (
  SELECT ni, ri, min(fee_bps) AS fee_bps, jsonb_agg(jsonb_build_object('c', id, 'b', b, 'p', ps) ORDER BY k) AS sales,
    sum(ps) AS value
  FROM sh_ranked WHERE k <= max_shares GROUP BY ni, ri),
options AS (
  SELECT n.i AS ni, r.i AS ri, m.mode, n.fee_bps,
    CASE WHEN m.mode = 1 OR (m.mode = 0 AND ex.value >= coalesce(sh.value, 0)) THEN CASE WHEN ex.sales IS NOT NULL THEN 'exclusive' END
         WHEN sh.sales IS NOT NULL THEN 'shared' END AS sold_mode,
    ex.sales AS ex_sales, sh.sales AS sh_sales
  FROM leadx_bench.niche n CROSS JOIN leadx_bench.region r CROSS JOIN (VALUES (0), (1), (2)) AS m (mode)
  LEFT JOIN ex ON ex.ni = n.i AND ex.ri = r.i LEFT JOIN sh ON sh.ni = n.i AND sh.ri = r.i)
SELECT o.ni * 1000 + o.ri AS pair, o.mode, o.sold_mode,
  coalesce((SELECT jsonb_agg(s.v || jsonb_build_object('f', (s.v->>'p')::bigint * o.fee_bps / 10000,
      'o', (s.v->>'p')::bigint - (s.v->>'p')::bigint * o.fee_bps / 10000) ORDER BY s.k)
    FROM jsonb_array_elements(CASE o.sold_mode WHEN 'exclusive' THEN o.ex_sales WHEN 'shared' THEN o.sh_sales END)
      WITH ORDINALITY AS s (v, k)), '[]') AS sales
FROM options o;
ALTER TABLE leadx_bench.plan ADD PRIMARY KEY (pair, mode);
ALTER TABLE leadx_bench.niche ADD PRIMARY KEY (i);
ALTER TABLE leadx_bench.region ADD PRIMARY KEY (i);
ANALYZE leadx_bench.plan, leadx_bench.niche, leadx_bench.region;

-- The documents come from templates made here, K per size (n leads a transaction), so that a transaction spends
-- its time on the server's statements and not on building JSON (the server builds them in C): every id, contact
-- hash and source IP of a template holds a marker, replaced per transaction by the hexadecimal digits of a random
-- 62-bit number (a 16-digit run in hashes, 8-4-4 with dashes in ids, 4:4:4:4 in IPv6 addresses), and the leads'
-- created_at one by now().
--
-- Lead g (1..n) of template t: number x = t * n + g - 1 goes to niche x mod 10, region (x div 10) mod 20
-- (leadgen's rotation); sale_mode 0 any, 1 exclusive, 2 shared, or mix (-1): 10 % exclusive, 10 % shared.
CREATE FUNCTION leadx_bench.template_leads(t int, n int, mix int)
RETURNS TABLE (g int, tg text, id text, ni int, ri int, niche_id uuid, region text, mode int, ph text, eh text, ip text,
  sub text, max_shares int, ttl int, currency text)
LANGUAGE sql STABLE AS $$
  SELECT s.g, v.tg, 'deadbeef-dead-beef-8000-' || v.tg || '0000', nn.i, rr.i, nn.id, rr.code,
    CASE WHEN mix < 0 THEN CASE abs(hashtext('m' || v.tg)) % 10 WHEN 0 THEN 1 WHEN 1 THEN 2 ELSE 0 END ELSE mix END,
    'deadbeefdeadbeef' || left(encode(sha256(('p' || v.tg)::bytea), 'hex'), 48),
    'deadbeefdeadbeef' || left(encode(sha256(('e' || v.tg)::bytea), 'hex'), 48),
    '2a02:6b8:dead:beef:dead:beef:' || left(v.tg, 4) || ':' || right(v.tg, 4), 's' || 1 + v.x % 12,
    nn.max_shares, nn.ttl, nn.currency
  FROM generate_series(1, n) AS s (g)
  CROSS JOIN LATERAL (SELECT t::bigint * n + s.g - 1 AS x, lpad(to_hex(t), 4, '0') || lpad(to_hex(s.g), 4, '0') AS tg) AS v
  JOIN leadx_bench.niche nn ON nn.i = v.x % 10
  JOIN leadx_bench.region rr ON rr.i = (v.x / 10) % 20
$$;

-- One template: the server's parameters for round trip 1 (claims [{n, h, l, w, d}] in key order, signals [{i, n, w,
-- ph, eh, ip, sub}], velocity [{n, key}] in key order (sub_ids: an IP's leads are counted in the leads table), the niche ids and the regions as array literals: each
-- niche, each region code and each country once, in order of first appearance) and, in place of the auction in C,
-- for round trip 2 (the leads, sold or unsold with their sale state; the sales, each naming its lead's ledger
-- transaction in t; one ledger transaction per sold lead, kind sale, and its entries: each buyer's balance -price,
-- the webmaster's pending + the lead's payouts, the platform's revenue + the lead's fees, zero amounts left out as
-- lx_ledger_entry leaves them out; campaign spend [{id, s, n, v}] in id order (v: the terms' version); the receipts as
-- src/billing/receipts.c's lx_receipts_add writes them, per sale the buyer's (balance, -price) and, unless the payout
-- is 0, the webmaster's (pending, +payout), each with its body: the canonical JSON of a sale receipt in the shape and
-- size the server signs (src/billing/receipt.h; one issued_at, the template's creation time), a fixed key_id and a
-- signature of 86 base64url characters that signs nothing (the database never verifies one: the server signs in C,
-- tests/bench/receipts.sh measures that) and the log entry queued with it (its receipt_hash a stand-in of the same
-- length), each in the server's order and with its members. Text (json, not jsonb):
-- the statements parse them as they parse the server's.
CREATE TABLE leadx_bench.doc (n int, t int, claims text, signals text, niches text, regions text, leads text,
  sales text, txns text, entries text, spend text, velocity text, receipts text, PRIMARY KEY (n, t));
ALTER TABLE leadx_bench.doc ALTER claims SET STORAGE EXTERNAL, ALTER signals SET STORAGE EXTERNAL,
  ALTER leads SET STORAGE EXTERNAL, ALTER sales SET STORAGE EXTERNAL, ALTER txns SET STORAGE EXTERNAL,
  ALTER entries SET STORAGE EXTERNAL, ALTER velocity SET STORAGE EXTERNAL, ALTER receipts SET STORAGE EXTERNAL;
CREATE FUNCTION leadx_bench.make_doc(t int, n int, mix int, wm uuid) RETURNS void LANGUAGE sql AS $$
  WITH l AS MATERIALIZED (SELECT * FROM leadx_bench.template_leads(t, n, mix)),
  s AS MATERIALIZED (
    SELECT l.g, l.id AS lead, 'deadbeef-dead-beef-8000-' || l.tg || lpad(e.k::text, 4, '0') AS id, e.k - 1 AS k,
      e.v->>'c' AS c, e.v->>'b' AS b, (e.v->>'p')::bigint AS p, (e.v->>'f')::bigint AS f, (e.v->>'o')::bigint AS o,
      p.sold_mode AS m, l.niche_id, l.currency AS cur, 'deadbeef-dead-beef-9000-' || l.tg || '0000' AS txn,
      l.tg, l.region, nn.slug
    FROM l JOIN leadx_bench.plan p ON p.pair = l.ni * 1000 + l.ri AND p.mode = l.mode
    JOIN leadx_bench.niche nn ON nn.i = l.ni
    CROSS JOIN LATERAL jsonb_array_elements(p.sales) WITH ORDINALITY AS e (v, k)),
  per_lead AS (
    SELECT s.g, s.lead, s.txn, s.cur, count(*) AS cnt, sum(s.o) AS payout, sum(s.f) AS fees, min(s.m) AS m
    FROM s GROUP BY s.g, s.lead, s.txn, s.cur)
  INSERT INTO leadx_bench.doc SELECT n, t,
    (SELECT json_agg(json_build_object('n', c.niche_id, 'h', c.h, 'l', c.id, 'w', wm, 'd', 30) ORDER BY c.niche_id, c.h COLLATE "C")
      FROM (SELECT l.niche_id, l.ph AS h, l.id FROM l UNION ALL SELECT l.niche_id, l.eh, l.id FROM l) AS c)::text,
    (SELECT json_agg(json_build_object('i', l.g - 1, 'n', l.niche_id, 'w', wm, 'ph', l.ph, 'eh', l.eh, 'ip', l.ip,
      'sub', l.sub) ORDER BY l.g) FROM l)::text,
    (SELECT array_agg(x.niche_id ORDER BY x.g) FROM (SELECT l.niche_id, min(l.g) AS g FROM l GROUP BY l.niche_id) AS x)::text,
    (SELECT array_agg(x.v ORDER BY l.g, x.o) FROM l CROSS JOIN LATERAL (VALUES (1, l.region), (2, left(l.region, 2))) AS x (o, v)
      WHERE CASE x.o WHEN 1 THEN NOT EXISTS (SELECT 1 FROM l e WHERE e.g < l.g AND e.region = l.region)
        ELSE length(l.region) > 2 AND NOT EXISTS (SELECT 1 FROM l e WHERE e.g < l.g AND left(e.region, 2) = left(l.region, 2)) END)::text,
    (SELECT json_agg(json_build_object(
        'id', l.id, 'w', wm, 'n', l.niche_id, 'region', l.region,
        'mode', CASE l.mode WHEN 1 THEN 'exclusive' WHEN 2 THEN 'shared' ELSE 'any' END,
        'status', CASE WHEN pl.cnt > 0 THEN 'sold' ELSE 'unsold' END, 'score', 70 + l.g % 30, 'temp', 'hot',
        'reasons', json_build_array(), 'ph', l.ph, 'eh', l.eh, 'pc', 'RU',
        'ct', encode(sha512(('c' || l.tg)::bytea) || sha512(('d' || l.tg)::bytea) || sha256(('e' || l.tg)::bytea), 'hex'),
        'ck', encode(sha512(('k' || l.tg)::bytea) || substr(sha256(('j' || l.tg)::bytea), 1, 9), 'hex'),
        'attributes', json_build_object('age', 35),
        'consent', json_build_object('text', 'Я даю согласие на обработку моих персональных данных и на получение рекламы по телефону и e-mail в соответствии с политикой конфиденциальности.',
          'given_at', now() - interval '2 seconds', 'ip', l.ip,
          'user_agent', 'Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.99 Mobile Safari/537.36',
          'page_url', 'https://zaim.example.ru/online/form', 'personal_data', true, 'advertising', true),
        'source', json_build_object('sub_id', l.sub, 'click_id', 'c-' || l.id, 'landing_url', 'https://zaim.example.ru/online/',
          'ip', l.ip, 'form_started_at', now() - interval '64 seconds', 'form_submitted_at', now()),
        'ip', l.ip, 'sub', l.sub, 'ms', l.max_shares, 'ss', coalesce(pl.cnt, 0), 'pt', coalesce(pl.payout, 0),
        'ttl', l.ttl, 'at', '1999-01-01T00:00:00+00:00', 'sm', pl.m) ORDER BY l.g)
      FROM l LEFT JOIN per_lead pl ON pl.lead = l.id)::text,
    coalesce((SELECT json_agg(json_build_object('id', s.id, 'l', s.lead, 'b', s.b, 'c', s.c, 'w', wm, 'n', s.niche_id,
      'm', s.m, 'k', s.k, 'p', s.p, 'f', s.f, 'o', s.o, 'cur', s.cur, 't', s.txn) ORDER BY s.g, s.k) FROM s)::text, '[]'),
    coalesce((SELECT json_agg(json_build_object('id', pl.txn, 'kind', 'sale', 'currency', pl.cur, 'lead_id', pl.lead)
      ORDER BY pl.g) FROM per_lead pl)::text, '[]'),
    coalesce((SELECT json_agg(e.doc ORDER BY e.g, e.o, e.k) FROM (
        SELECT s.g, 1 AS o, s.k, -s.p AS amount,
          json_build_object('t', s.txn, 'book', 'balance', 'amount', -s.p, 'currency', s.cur, 'owner', s.b) AS doc FROM s
        UNION ALL SELECT pl.g, 2, 0, pl.payout,
          json_build_object('t', pl.txn, 'book', 'pending', 'amount', pl.payout, 'currency', pl.cur, 'owner', wm) FROM per_lead pl
        UNION ALL SELECT pl.g, 3, 0, pl.fees,
          json_build_object('t', pl.txn, 'book', 'revenue', 'amount', pl.fees, 'currency', pl.cur) FROM per_lead pl) AS e
      WHERE e.amount <> 0)::text, '[]'),
    coalesce((SELECT json_agg(json_build_object('id', x.c, 's', x.s, 'n', x.n, 'v', c.config_version) ORDER BY x.c::uuid)
      FROM (SELECT s.c, sum(s.p) AS s, count(*) AS n FROM s GROUP BY s.c) AS x JOIN campaigns c ON c.id = x.c::uuid)::text, '[]'),
    (SELECT json_agg(json_build_object('n', v.n, 'key', v.key) ORDER BY v.key COLLATE "C")
      FROM (SELECT wm || ':' || l.sub AS key, count(*) AS n FROM l GROUP BY l.sub) AS v)::text,
    coalesce((SELECT json_agg(json_build_object('id', r.id, 'account_id', r.account, 'kind', 'sale', 'book', r.book,
        'ledger_txn', s.txn, 'amount', r.amount, 'currency', s.cur, 'issued_at', x.at, 'key_id', x.kid,
        'signature', rtrim(translate(encode(sha512(('s' || r.id)::bytea), 'base64'), E'+/\n', '-_'), '='),
        'lead_id', s.lead, 'sale_id', s.id,
        'body', format('{"account":"%s","amount":%s,"currency":"%s","id":"%s","issued_at":"%s","kind":"sale",'
          '"lead_digest":"%s","lead_id":"%s","ledger_txn":"%s","mode":"%s","niche":"%s","region":"%s","sale_id":"%s",'
          '"share_index":%s,"v":1}', r.account, r.amount, s.cur, r.id, x.at,
          rtrim(translate(encode(sha256(('g' || s.tg)::bytea), 'base64'), '+/', '-_'), '='), s.lead, s.txn, s.m,
          s.slug, s.region, s.id, s.k),
        'entry', format('{"kind":"sale","lead_digest":"%s","mode":"%s","receipt_hash":"%s","share_index":%s}',
          rtrim(translate(encode(sha256(('g' || s.tg)::bytea), 'base64'), '+/', '-_'), '='), s.m,
          rtrim(translate(encode(sha256(('h' || r.id)::bytea), 'base64'), '+/', '-_'), '='), s.k)) ORDER BY s.g, s.k, r.side)
      FROM s CROSS JOIN (SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
          left(encode(sha256('leadx bench receipt key'::bytea), 'hex'), 16) AS kid) AS x
        CROSS JOIN LATERAL (VALUES (0, 'deadbeef-dead-beef-a000-' || s.tg || lpad(s.k::text, 4, '0'), s.b, 'balance', -s.p),
          (1, 'deadbeef-dead-beef-b000-' || s.tg || lpad(s.k::text, 4, '0'), wm::text, 'pending', s.o)) AS r (side, id, account, book, amount)
      WHERE r.amount <> 0)::text, '[]')
$$;
SELECT leadx_bench.make_doc(t, 1, :mix, :'wm') FROM generate_series(0, :k1 - 1) AS t;
-- and K of each batch size: the server's (PG_BATCH) and batch_costs' (COST_SIZES)
SELECT leadx_bench.make_doc(t, s.n, :mix, :'wm')
  FROM (SELECT DISTINCT n FROM unnest(:'sizes'::int[]) AS s (n) WHERE n <> 1) AS s, generate_series(0, :kbatch - 1) AS t;
-- The templates that sell first, numbered 0 to s - 1 (pgbench_market passes s): the server adds the sale statements
-- only for a batch that sold, the script only for t < s.
UPDATE leadx_bench.doc d SET t = -1 - o.k
  FROM (SELECT n, t, row_number() OVER (PARTITION BY n ORDER BY sales = '[]', t) - 1 AS k FROM leadx_bench.doc) AS o
  WHERE d.n = o.n AND d.t = o.t;
UPDATE leadx_bench.doc SET t = -1 - t;
VACUUM (ANALYZE) leadx_bench.doc;

-- Every setting of a template, markers in place: the documents as they are, and the columns the server sends as
-- binary arrays (pgbench_script's leadx_bench.columns) as text-form arrays of the documents' members. The markers
-- (ids, hashes, IPv6 groups, the created_at stand-in) are the same characters in both forms, so setup replaces them
-- alike; each array is parsed by its statement's cast (the server's arrays arrive binary, a little cheaper to read).
CREATE TABLE leadx_bench.columns (setting text PRIMARY KEY, doc text, member text, reading text);
\i :columns
CREATE TABLE leadx_bench.param AS
  SELECT d.n, d.t, v.name, v.value FROM leadx_bench.doc d
  CROSS JOIN LATERAL (VALUES ('claims', d.claims), ('signals', d.signals), ('niches', d.niches), ('regions', d.regions),
    ('leads', d.leads), ('sales', d.sales), ('txns', d.txns), ('entries', d.entries), ('spend', d.spend),
    ('velocity', d.velocity), ('receipts', d.receipts),
    -- lx_quality_ip_velocity_saturation of the default rules (tests/unit/test_quality.c holds it to 25)
    ('ip_count_limit', '25')) AS v (name, value);
INSERT INTO leadx_bench.param
  SELECT p.n, p.t, c.setting, coalesce((SELECT array_agg(CASE c.reading
        WHEN 'hex' THEN '\x' || (e.v->>c.member)
        WHEN 'json' THEN (e.v->c.member)::text
        WHEN 'list' THEN coalesce((SELECT string_agg(x, ',') FROM json_array_elements_text(e.v->c.member) AS x), '')
        ELSE e.v->>c.member END ORDER BY e.o)
      FROM json_array_elements(p.value::json) WITH ORDINALITY AS e (v, o)), '{}')::text
  FROM leadx_bench.param p JOIN leadx_bench.columns c ON c.doc = p.name;
ALTER TABLE leadx_bench.param ADD PRIMARY KEY (n, t, name);
VACUUM (ANALYZE) leadx_bench.param;

-- A round trip's parameters, the settings its statements read (names): template t of size n with the markers
-- replaced by r's digits.
CREATE FUNCTION leadx_bench.setup(r bigint, n int, t int, names text[]) RETURNS void LANGUAGE sql AS $$
  SELECT count(set_config('bench.' || p.name, replace(replace(replace(replace(p.value, 'deadbeefdeadbeef', x.h),
      'deadbeef-dead-beef', x.d), 'dead:beef:dead:beef', x.c), '1999-01-01T00:00:00+00:00', btrim(to_json(now())::text, '"')),
      true))
  FROM leadx_bench.param p, (SELECT h, substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) AS d,
      substr(h, 1, 4) || ':' || substr(h, 5, 4) || ':' || substr(h, 9, 4) || ':' || substr(h, 13, 4) AS c
    FROM (SELECT lpad(to_hex(r), 16, '0') AS h) AS h0) AS x
  WHERE p.n = setup.n AND p.t = setup.t AND p.name = ANY (names)
$$;
SQL
}

# pgbench_run <leads a transaction> <clients> <output file>: the server's transaction (market.pgbench) for DURATION s
# after a vacuum_hot, pgbench's report in the file; 1 if pgbench failed (then $failed is set and the reason shown).
pgbench_run() {
  local n=$1 clients=$2 out=$3 k s
  k=$([ "$n" = 1 ] && echo $PG_TEMPLATES_1 || echo $PG_TEMPLATES_BATCH)
  s=$(sql -c "SELECT count(*) FROM leadx_bench.doc WHERE n = $n AND sales <> '[]'") # templates 0 to s - 1 sell
  vacuum_hot
  "$PGBENCH" -n -M prepared -c "$clients" -j $((clients < 2 ? clients : 2)) -T "$DURATION" --max-tries=5 \
    -f "$tmp/market.pgbench" -D n="$n" -D k="$k" -D s="$s" "$LEADX_DATABASE_URL" >"$out" 2>&1 && return 0
  echo "bench: pgbench ($n leads a transaction, $clients clients) failed:" >&2
  grep -v '^pgbench: client [0-9]* \(executing\|receiving\|sending\)' "$out" | tail -8 >&2
  failed=1
  return 1
}

# pgbench_market <leads a transaction> <name>: writes "tps leads/s buyers" to $tmp/pgbench.<name> (buyers: sales
# rows per sold lead the transactions wrote, from the database), or nothing if pgbench failed (pgbench_run).
pgbench_market() {
  local n=$1 name=$2 out=$tmp/pgbench.$2.out t0 t1
  : >"$tmp/pgbench.$name"
  t0=$(db_now)
  pgbench_run "$n" "$CONNS" "$out" || return 0
  t1=$(db_now)
  local tps sold sales retried lost
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")
  retried=$(sed -n 's/^number of transactions retried: \([0-9]*\).*/\1/p' "$out")
  lost=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
  [ "${retried:-0}${lost:-0}" = 00 ] || echo "pgbench ($name): ${retried:-0} transactions retried (deadlock or serialisation failure), ${lost:-0} failed"
  read -r sold sales < <(sql -F ' ' -c "SELECT count(*), coalesce(sum(shares_sold), 0) FROM leads
    WHERE webmaster_id = '$wm_id' AND created_at >= '$t0' AND created_at <= '$t1' AND status = 'sold'")
  $PY -c 'import sys; t, n, l, s = map(float, sys.argv[1:5]); print(f"{t:.1f} {t * n:.0f} {s / l if l else 0:.2f}")' \
    "$tps" "$n" "$sold" "$sales" >"$tmp/pgbench.$name"
}

# batch_costs: where a batch transaction's PostgreSQL time goes, statement by statement. pgbench with one client
# (nothing else runs, so a statement's time is its own work, not a wait for a core) runs the server's transaction
# at each of COST_SIZES leads, COST_ROUNDS rounds of DURATION s in turn; pg_stat_statements gives each statement's
# time (its name from the trailing comment pgbench_script adds; a trigger's statements count in the statement that
# fires it). The report takes each figure's fastest round, the least disturbed by the rest of the machine, and
# the least-squares line through the sizes splits it into a fixed cost per transaction and a cost per lead.
# leadx_bench.setup, which stands in for the server's C, is left out, as are BEGIN and COMMIT: pgbench's latency,
# shown beside, has them and the commit's WAL flush. Needs pg_stat_statements loaded (deploy/pg.sh's clusters load
# it from their next start); writes "run n round transactions latency_ms" and "statement n round name
# ms_per_transaction" lines to $tmp/costs, or sets costs_skipped to why not.
batch_costs() {
  local n round out=$tmp/pgbench.costs.out tx lat
  : >"$tmp/costs"
  costs_skipped=
  if [ "$(sql -c "SELECT count(*) FROM pg_settings WHERE name = 'shared_preload_libraries'
    AND setting ~ 'pg_stat_statements'")" != 1 ]; then
    costs_skipped="the cluster does not load pg_stat_statements (deploy/pg.sh's do, from their next start)"
    return 0
  fi
  if ! sql -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null 2>"$tmp/costs.err"; then
    costs_skipped="CREATE EXTENSION pg_stat_statements failed: $(head -1 "$tmp/costs.err")"
    return 0
  fi
  for round in $(seq "$COST_ROUNDS"); do
    for n in $COST_SIZES; do
      if ! sql -c 'SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)' \
        >/dev/null 2>"$tmp/costs.err"; then
        costs_skipped="pg_stat_statements_reset failed: $(head -1 "$tmp/costs.err")"
        : >"$tmp/costs"
        return 0
      fi
      if ! pgbench_run "$n" 1 "$out"; then
        : >"$tmp/costs"
        return 0
      fi
      tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
      lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
      if [ "${tx:-0}" -eq 0 ] || [ -z "$lat" ]; then
        costs_skipped="no transaction of $n leads completed in ${DURATION} s"
        : >"$tmp/costs"
        return 0
      fi
      echo "run $n $round $tx $lat" >>"$tmp/costs"
      sql -F ' ' -c "SELECT 'statement', $n, $round, substring(s.query FROM '/\* ([a-z_0-9]+) \*/\$'), sum(s.total_exec_time) / $tx
        FROM pg_stat_statements s WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND s.query ~ '/\* [a-z_0-9]+ \*/\$' GROUP BY 4" >>"$tmp/costs"
    done
  done
}

# =====================================================================================================================

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

sql -c 'ANALYZE' # a fresh database: statistics for every table before the first plan is cached
# Priming, not reported: a fresh server and database (pools, prepared statements, caches) ran its first seconds of
# market load visibly slower than the next ones, longer than a warm-up lasts.
run_leadgen "$tmp/prime.json" -c $CONNS -m $STREAMS -d "$PRIME"
out=var/bench/market-$(date -u +%Y%m%dT%H%M%SZ).txt
exec > >(tee "$out")

echo "leadx marketplace benchmark — $(date -u +%FT%TZ), $(nproc) CPUs; leadgen, server, pgbench and PostgreSQL on this machine"
echo "server: $LEADX_BIN serve --threads 2 (rate limit off, access log off; intake batches of up to" \
  "${LEADX_INTAKE_BATCH_MAX:-256} leads, ${LEADX_INTAKE_BATCHES_IN_FLIGHT:-1} in flight a thread, ${LEADX_INTAKE_BATCH_WAIT_MS:-2} ms wait);" \
  "PostgreSQL synchronous_commit=$(sql -c 'SHOW synchronous_commit'), fsync=$(sql -c 'SHOW fsync')"
echo "leadgen: one thread, h2c; runs of ${DURATION} s after ${WARMUP} s warm-up"
cat "$tmp/market.txt"
echo "leads: distinct contacts, niches x regions in rotation, sale_mode $SALE_MODE, attributes $ATTRIBUTES"
printf '\n%-26s %3s %8s %8s %7s %7s %7s %7s %8s %4s %5s %6s %6s %6s  %s\n' scenario run leads/s sold/s req/s p50_ms p90_ms \
  p99_ms max_ms errs cli_s lx_us pg_us all_us 'responses | lead statuses'
echo "(lx_us, pg_us, all_us: µs of CPU per answered lead in leadx, PostgreSQL and the whole machine; see tests/bench/lib.sh)"

# (a) single route, max throughput
: >"$tmp/lps.single"
: >"$tmp/sold.single"
window_label=single
for run in $(seq "$RUNS"); do
  run_leadgen "$tmp/single.$run.json" -c $CONNS -m $STREAMS -d "$DURATION" --warmup "$WARMUP"
  row "POST /v1/leads c${CONNS}m${STREAMS}" "$run" "$tmp/single.$run.json"
  field "$tmp/single.$run.json" leads_per_s >>"$tmp/lps.single"
  sold_per_s "$tmp/single.$run.json" >>"$tmp/sold.single"
done
med_single=$(median <"$tmp/lps.single")
med_single_sold=$(median <"$tmp/sold.single")

# (b) batch route, max throughput
med_batch= med_batch_sold=
if [ $batch_ok = 1 ]; then
  : >"$tmp/lps.batch"
  : >"$tmp/sold.batch"
  window_label=batch
  for run in $(seq "$RUNS"); do
    run_leadgen "$tmp/batch.$run.json" --batch $BATCH -c $BATCH_CONNS -m $BATCH_STREAMS -d "$DURATION" --warmup "$WARMUP"
    row "POST /v1/leads/batch x$BATCH" "$run" "$tmp/batch.$run.json"
    field "$tmp/batch.$run.json" leads_per_s >>"$tmp/lps.batch"
    sold_per_s "$tmp/batch.$run.json" >>"$tmp/sold.batch"
  done
  med_batch=$(median <"$tmp/lps.batch")
  med_batch_sold=$(median <"$tmp/sold.batch")
else
  echo "POST /v1/leads/batch: skipped, two leads were not taken: $batch_why"
fi

# (c) fixed rate, open loop. A server whose closed-loop maximum (a) is below RATE cannot keep up: every request
# scheduled still has to be answered, so the run is shortened to what (a)'s rate answers in DURATION seconds.
window_label=rate
read -r rate_duration rate_warmup < <($PY -c 'import sys; d, w, m, r = map(float, sys.argv[1:5]); f = min(1.0, m / r)
print(f"{max(1.0, round(d * f, 1)):g} {min(w, max(0.5, round(w * f, 1))):g}")' "$DURATION" "$WARMUP" "$med_single" "$RATE")
[ "$rate_duration" = "$DURATION" ] || echo "(c) shortened to ${rate_duration} s after ${rate_warmup} s warm-up: (a) answered fewer than $RATE leads/s"
run_leadgen "$tmp/rate.json" --rate "$RATE" -c $CONNS -m $STREAMS -d "$rate_duration" --warmup "$rate_warmup"
row "POST /v1/leads @${RATE}/s" 1 "$tmp/rate.json"

# (d) what was sold, from the database: this run's webmaster, each scenario's time window
echo
echo "sales, from the database (each scenario's leads, warm-ups included; buyers = sales rows per sold lead):"
$PY - "$tmp/windows" "$wm_id" "$LEADX_DATABASE_URL" "$PSQL" <<'PYEOF'
import subprocess, sys
windows, wm, db, psql = sys.argv[1:5]
rows = [l.strip().split("|") for l in open(windows) if l.strip() and not l.startswith("smoke")]
values = ",".join(f"('{label}', '{t0}'::timestamptz, '{t1}'::timestamptz)" for label, t0, t1 in rows)
query = f"""
WITH w (label, t0, t1) AS (VALUES {values}),
l AS (SELECT w.label, l.id, l.status, l.sold_mode, l.sale_mode, s.n, s.price FROM w JOIN leads l
      ON l.webmaster_id = '{wm}' AND l.created_at >= w.t0 AND l.created_at <= w.t1
      CROSS JOIN LATERAL (SELECT count(*) AS n, sum(s.price) AS price FROM sales s
                          WHERE s.lead_id = l.id AND s.refunded_at IS NULL) AS s)
SELECT coalesce(l.label, 'all'), count(*), count(*) FILTER (WHERE l.status = 'sold'),
  count(*) FILTER (WHERE l.sold_mode = 'exclusive'), count(*) FILTER (WHERE l.sold_mode = 'shared'),
  coalesce(sum(l.n), 0), coalesce(sum(l.price), 0),
  count(*) FILTER (WHERE l.status = 'unsold'), count(*) FILTER (WHERE l.status NOT IN ('sold', 'unsold')),
  count(*) FILTER (WHERE l.sale_mode <> 'any')
FROM l GROUP BY ROLLUP (l.label)"""
order = {"single": 1, "batch": 2, "rate": 3}
p = subprocess.run([psql, db, "-qAtX", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", query], text=True, capture_output=True)
if p.returncode != 0:
    print(f"  (query failed: {p.stderr.strip()})")
    sys.exit(0)
names = {"single": "POST /v1/leads", "batch": "POST /v1/leads/batch", "rate": "POST /v1/leads @rate", "all": "all of this run"}
print(f"  {'scenario':<22} {'leads':>8} {'sold':>7} {'exclusive':>9} {'shared':>7} {'buyers':>6} {'avg price':>10}  other")
result = sorted((r.split("|") for r in p.stdout.splitlines() if r), key=lambda r: order.get(r[0], 9))
for label, leads, sold, ex, sh, sales, price, unsold, other, restricted in result:
    leads, sold, ex, sh, sales, price = int(leads), int(sold), int(ex), int(sh), int(sales), int(price)
    pct = lambda a, b: f"{100.0 * a / b:.1f} %" if b else "-"
    print(f"  {names.get(label, label):<22} {leads:>8} {pct(sold, leads):>7} {pct(ex, sold):>9} {pct(sh, sold):>7}"
          f" {sales / sold if sold else 0:>6.2f} {price / sales / 100 if sales else 0:>8.0f} ₽  unsold {unsold}, "
          f"rejected or duplicate {other}; sale_mode exclusive or shared {pct(int(restricted), leads)}")
    if label == "all":
        with open(windows + ".all", "w") as f:
            print(leads, sold, ex, sh, sales, file=f)
PYEOF

# (e) pgbench
pgbench_prepare
pgbench_market 1 per-lead
pgbench_market "$PG_BATCH" limit
read -r pl_tps pl_lps pl_buyers <"$tmp/pgbench.per-lead" || true
read -r lim_tps lim_lps lim_buyers <"$tmp/pgbench.limit" || true
echo
printf '%-44s %9s %9s %8s\n' "pgbench, $CONNS clients, prepared, pipelined" tps leads/s buyers
[ -z "${pl_tps:-}" ] || printf '%-44s %9.1f %9.0f %8.2f\n' "per-lead design: 1 lead a transaction" "$pl_tps" "$pl_lps" "$pl_buyers"
[ -z "${lim_tps:-}" ] || printf '%-44s %9.1f %9.0f %8.2f\n' "limit: $PG_BATCH leads a transaction" "$lim_tps" "$lim_lps" "$lim_buyers"
batch_costs
[ -z "$costs_skipped" ] || printf '\nstatement costs skipped: %s\n' "$costs_skipped"
if [ -s "$tmp/costs" ]; then
  echo
  $PY - "$tmp/costs" "$tmp/market.pgbench" "$RATE" "$COST_ROUNDS" <<'PYEOF'
import re, sys
costs, script, rate, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
order = re.findall(r"/\* ([a-z_0-9]+) \*/;", open(script).read())
runs, ms = {}, {}  # the fastest round of each: size -> (transactions, latency ms); (size, name) -> ms
for line in open(costs):
    kind, n, _, x, y = line.split()
    if kind == "run" and (int(n) not in runs or float(y) < runs[int(n)][1]):
        runs[int(n)] = (int(x), float(y))
    elif kind == "statement":
        ms[(int(n), x)] = min(ms.get((int(n), x), float(y)), float(y))
sizes = sorted(runs)
mean_n = sum(sizes) / len(sizes)
var_n = sum((s - mean_n) ** 2 for s in sizes)
names = [n for n in dict.fromkeys(order) if any((s, n) in ms for s in sizes)]
def fit(ys):  # (fixed ms a transaction, µs a lead): the least-squares line through (size, ms)
    mean_y = sum(ys) / len(ys)
    per = sum((s - mean_n) * (y - mean_y) for s, y in zip(sizes, ys)) / var_n if var_n else 0.0
    return mean_y - per * mean_n, per * 1000
head = "".join(f"{str(s) + ' leads':>11}" for s in sizes)
print("PostgreSQL time of the server's transaction by statement, ms a transaction (pgbench, 1 client, prepared,")
each = "from one round" if rounds == "1" else f"the fastest of {rounds} rounds"
print(f"pipelined; pg_stat_statements; each figure {each}), and the least-squares line through")
print("the sizes: fixed ms a transaction, µs a lead")
print(f"  {'statement':<26}{head}{'fixed ms':>10}{'µs a lead':>11}")
total = {s: 0.0 for s in sizes}
for n in names:
    row = [ms.get((s, n), 0.0) for s in sizes]
    for s, v in zip(sizes, row):
        total[s] += v
    fixed, per = fit(row)
    print(f"  {n:<26}" + "".join(f"{v:>11.3f}" for v in row) + f"{fixed:>10.2f}{per:>11.1f}")
fixed, per = fit([total[s] for s in sizes])
print(f"  {'all statements':<26}" + "".join(f"{total[s]:>11.3f}" for s in sizes) + f"{fixed:>10.2f}{per:>11.1f}")
print(f"  {'pgbench latency':<26}" + "".join(f"{runs[s][1]:>11.3f}" for s in sizes)
      + "   (+ BEGIN, COMMIT and its WAL flush, round trips, the stand-in's set-up)")
if len(sizes) > 1:
    print(f"  so at {rate:.0f} leads/s, ms of PostgreSQL time a second (of it the fixed costs), in transactions of "
          + ", ".join(f"{s} leads {rate / s * fixed + rate * per / 1000:.0f} ({rate / s * fixed:.0f})" for s in sizes))
PYEOF
fi

echo
echo "summary (targets on the 2-core machine: >= 10,000 sold leads/s with synchronous commit, >= 3x per-lead,"
echo "         >= 0.5x limit, p99 <= 25 ms at 5,000 leads/s; figures reported, not asserted):"
printf '  leadx POST /v1/leads, median of %s:        %6.0f sold leads/s (%0.f leads/s answered)\n' "$RUNS" "$med_single_sold" "$med_single"
[ -z "$med_batch" ] || printf '  leadx POST /v1/leads/batch x%s, median:    %6.0f sold leads/s (%0.f leads/s answered)\n' "$BATCH" "$med_batch_sold" "$med_batch"
$PY - "$tmp/rate.json" "$RATE" <<'PYEOF'
import json, sys
r, rate = json.load(open(sys.argv[1])), float(sys.argv[2])
lat = r["latency_ms"]
sold = r["leads"].get("sold", 0) / r["window_s"] if r["window_s"] else 0
print(f"  leadx at {rate:.0f} leads/s offered:            {sold:6.0f} sold leads/s; p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms"
      f" (max {lat['max']:.2f} ms, from the scheduled start)")
if "fdatasync_ms" in r:
    print("    WAL flushes (PostgreSQL's fdatasync) in that run: p99 {p99} ms, max {max} ms, {over_20} over 20 ms"
          .format(**r["fdatasync_ms"]))
if r["requests_per_s"] < 0.98 * rate:
    print(f"    the server did not keep up (most requests waiting for a stream: {r['max_backlog']}); those latencies include the queue")
PYEOF
if [ -s "$tmp/windows.all" ]; then
  read -r all_leads all_sold all_ex all_sh all_sales <"$tmp/windows.all"
  $PY -c 'import sys; l, s, e, h, n = map(int, sys.argv[1:6]); p = lambda a, b: 100.0 * a / b if b else 0
print(f"  sold: {p(s, l):.1f} % of {l} leads; of the sold ones {p(e, s):.1f} % exclusive, {p(h, s):.1f} % shared;"
      f" {n / s if s else 0:.2f} buyers per sold lead")' "$all_leads" "$all_sold" "$all_ex" "$all_sh" "$all_sales"
fi
[ -z "${pl_lps:-}" ] || printf '  pgbench per-lead design (1 lead a transaction, %s clients): %6.0f leads/s\n' "$CONNS" "$pl_lps"
[ -z "${lim_lps:-}" ] || printf '  pgbench limit (%s leads a transaction, %s clients):       %6.0f leads/s\n' "$PG_BATCH" "$CONNS" "$lim_lps"
$PY - "$med_single_sold" "${med_batch_sold:-0}" "${pl_lps:-0}" "${lim_lps:-0}" <<'PYEOF'
import sys
single, batch, per_lead, limit = (float(x) for x in sys.argv[1:5])
for name, v in (("POST /v1/leads", single), ("POST /v1/leads/batch", batch)):
    if not v:
        continue
    parts = []
    if per_lead:
        parts.append(f"{v / per_lead:.2f}x the per-lead design (target >= 3)")
    if limit:
        parts.append(f"{v / limit:.2f}x the limit (target >= 0.5)")
    if parts:
        print(f"  leadx {name} sold leads/s: " + ", ".join(parts))
PYEOF
if [ $failed = 1 ]; then
  echo
  echo "errors: runs with connection errors, reset streams, 5xx or unanswered requests, or a failed pgbench:"
  cat "$tmp/failures.log" 2>/dev/null || true
fi
echo "(written to $out)"
[ $failed = 0 ]
