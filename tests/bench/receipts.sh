#!/usr/bin/env bash
# What signed receipts add to a sold lead's cost: the marketplace benchmark (tests/bench/market.sh) of this tree built
# without receipts and of this tree as it is, on this machine in the same run, side by side, and the C side of a
# receipt alone.
#
#   tests/bench/receipts.sh                                   (after this tree is built: build/leadx)
#   LEADX_BIN=build-bench/leadx RUNS=3 DURATION=10 ROUNDS=2 tests/bench/receipts.sh
#
# "Without": this source tree configured with -DLEADX_BENCH_WITHOUT_RECEIPTS=ON into BASE_BUILD (default: LEADX_BIN's
# build directory + "-without-receipts"; RelWithDebInfo, target leadx), whose real-time sales issue no receipts
# (src/leads/intake.c: no signing, no receipts statement), run by market.sh with WITHOUT_RECEIPTS=1, which takes the
# receipts check (invariant 5) out of lx_ledger_post in that side's database and lx_receipts_insert out of its pgbench
# copy of the server's SQL. The sides differ in the receipts alone: signing, the receipts rows and their queue rows,
# the ledger trigger's check of them and the transparency-log sequencer's work (which has nothing to do without them).
# Both run this tree's tests/bench/market.sh on the same PostgreSQL cluster (PGDIR, default this checkout's var/pg)
# and key directory (LEADX_KEY_DIR, default var/keys), each in a fresh database of its own (leadx_bench_market_base,
# leadx_bench_market_receipts; both stay for inspection).
# ROUNDS (1) rounds of one market.sh run per side, in the order base, receipts, then receipts, base, ... (so a drift
# of the machine weighs on both sides alike); with several rounds every figure is the median of the rounds.
#
# Printed for each side: sold leads/s on POST /v1/leads and on POST /v1/leads/batch (market.sh's median of RUNS
# runs), p50/p99 of those runs (median of the runs) and of the fixed-rate run (RATE leads/s), CPU µs per sold lead
# of leadx, PostgreSQL and the whole machine per lead on POST /v1/leads (all sell; median of the runs; steadier on a shared
# machine), the pgbench baselines (per-lead design and limit) in leads/s, buyers per sold lead, and for every rate
# the cost per lead 1e6 / rate in µs (the whole machine's wall-clock time per lead at full throughput) with the
# difference (with − without): what receipts add. Receipts per sold lead and the receipt queue left after the run
# (the sequencer's backlog) come from the receipts side's database.
# The C side alone (tests/bench/receipt_sign.c, built against this tree's liblxcore.a beside LEADX_BIN): CPU µs per
# receipt of the canonical body, the Ed25519 signature and the whole lx_receipts_add (id, body, signature, row), and
# of the lead digest per sold lead; times receipts per sold lead, the C CPU time per sold lead (one core's time: the
# event-loop threads sign in parallel on the machine's CPUs).
# Figures are reported, never asserted; the exit status is 1 if a market.sh run failed (its errors are shown).
#
# Environment: BASE_BUILD, ROUNDS, LEADX_BIN (build/leadx), PGDIR, LEADX_KEY_DIR, and market.sh's RUNS, DURATION,
# WARMUP, PRIME, RATE, PG_BATCH, SALE_MODE, MARKET_SETUP, passed to both sides unchanged.
# LEADX_DATABASE_URL and KEEP_DB are refused: each side needs a fresh database of its own schema.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
PY=/usr/bin/python3
ROUNDS=${ROUNDS:-1}
LEADX_BIN=$(realpath -m "${LEADX_BIN:-build/leadx}")
export PGDIR=$(realpath -m "${PGDIR:-$repo/var/pg}")
export LEADX_KEY_DIR=$(realpath -m "${LEADX_KEY_DIR:-$repo/var/keys}")
die() { echo "bench: $*" >&2; exit 1; }
[ -z "${LEADX_DATABASE_URL:-}" ] || die "receipts.sh makes a fresh database per side: unset LEADX_DATABASE_URL"
[ "${KEEP_DB:-0}" = 0 ] || die "receipts.sh makes a fresh database per side: unset KEEP_DB"
case $ROUNDS in '' | *[!0-9]* | 0) die "ROUNDS must be a positive integer" ;; esac
[ -x "$LEADX_BIN" ] || die "$LEADX_BIN missing: build this tree first (or set LEADX_BIN)"
build_of() { sed -n "s/^$2:[A-Z]*=//p" "$(dirname "$1")/CMakeCache.txt" 2>/dev/null; }
[ "$(build_of "$LEADX_BIN" CMAKE_BUILD_TYPE)" = RelWithDebInfo ] && [ "$(build_of "$LEADX_BIN" LEADX_SANITIZE)" != ON ] ||
  echo "bench: warning: $LEADX_BIN is not a RelWithDebInfo build without sanitizers, the base is: the sides do not compare" >&2
mkdir -p "$LEADX_KEY_DIR"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
work=var/bench/receipts-$stamp # every market.sh output of this run
mkdir -p "$work"

# ==== the build without receipts =====================================================================================
BASE_BUILD=$(realpath -m "${BASE_BUILD:-$(dirname "$LEADX_BIN")-without-receipts}")
base_bin=$BASE_BUILD/leadx
echo "bench: building this tree without receipts in $BASE_BUILD (log in $work/base-build.log)" >&2
if ! { cmake -S "$repo" -B "$BASE_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEADX_SANITIZE=OFF \
  -DLEADX_BENCH_WITHOUT_RECEIPTS=ON && cmake --build "$BASE_BUILD" -j2 --target leadx; } >"$work/base-build.log" 2>&1; then
  tail -20 "$work/base-build.log" >&2
  die "the build without receipts failed"
fi

# ==== the C side of a receipt ========================================================================================
sign_bin=$(dirname "$LEADX_BIN")/receipt_sign
[ -f "$(dirname "$LEADX_BIN")/liblxcore.a" ] || die "$(dirname "$LEADX_BIN")/liblxcore.a missing (the build's static library)"
deps="libh2o-evloop jansson libsodium libpq"
cc -O2 -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Isrc $(pkg-config --cflags $deps) \
  -o "$sign_bin" tests/bench/receipt_sign.c "$(dirname "$LEADX_BIN")/liblxcore.a" \
  $(pkg-config --libs $deps) -lssl -lcrypto -lpthread -lm
"$sign_bin" 1 >"$work/sign.txt"

# ==== the runs =======================================================================================================
failed=0
# run_side <base|receipts> <round>: one market.sh run; its output to $work/<side>.<round>.txt, and the receipts side's
# database figures (receipts per sold lead, queue left) to $work/<side>.<round>.db
run_side() {
  local side=$1 round=$2 out=$work/$1.$2.txt rc=0 db
  echo "bench: round $round, $side: market.sh" >&2
  if [ "$side" = base ]; then
    db=leadx_bench_market_base
    DBNAME=$db LEADX_BIN=$base_bin WITHOUT_RECEIPTS=1 tests/bench/market.sh >"$out" 2>&1 || rc=$?
  else
    db=leadx_bench_market_receipts
    DBNAME=$db LEADX_BIN=$LEADX_BIN tests/bench/market.sh >"$out" 2>&1 || rc=$?
  fi
  if [ $rc -ne 0 ]; then
    failed=1
    echo "bench: round $round, $side: market.sh exited $rc (output in $out):" >&2
    grep -v '^ ' "$out" | tail -12 >&2
  fi
  echo "- -" >"$out.db"
  [ "$side" = receipts ] || return 0
  DBNAME=$db deploy/pg.sh psql -qAtX -F ' ' -c "SELECT CASE WHEN to_regclass('receipts') IS NULL THEN '- -' ELSE
      (SELECT round(count(*)::numeric / nullif((SELECT count(*) FROM leads WHERE status = 'sold'), 0), 3) FROM receipts
        WHERE kind = 'sale')::text || ' ' || (SELECT count(*) FROM receipt_queue) END" >"$out.db" 2>/dev/null ||
    echo "- -" >"$out.db"
}
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="base receipts"; else order="receipts base"; fi
  for side in $order; do run_side "$side" "$round"; done
done

# ==== the comparison =================================================================================================
exec > >(tee "var/bench/receipts-$stamp.txt")
echo "leadx: what receipts add to a sold lead — $(date -u +%FT%TZ), $(nproc) CPUs, market.sh on both sides in this run"
tree="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src migrations 2>/dev/null || echo ' + uncommitted changes')"
echo "without: this tree ($tree) built with LEADX_BENCH_WITHOUT_RECEIPTS, $base_bin"
echo "with:    this tree ($tree), $LEADX_BIN"
echo "market.sh: RUNS=${RUNS:-3} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} PRIME=${PRIME:-5} RATE=${RATE:-5000}" \
  "PG_BATCH=${PG_BATCH:-${LEADX_INTAKE_BATCH_MAX:-256}} SALE_MODE=${SALE_MODE:-mix}; ROUNDS=$ROUNDS (medians of the rounds);" \
  "outputs in $work/"
$PY - "$work" "$ROUNDS" "$(nproc)" <<'PYEOF'
import re, statistics, sys

work, rounds, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def num(s):
    return float(s.replace(",", ""))


def parse(path):
    """The figures of one market.sh output (its table rows and its summary lines)."""
    text = open(path).read()
    r, lat, cpu = {}, {"single": [], "batch": []}, []
    for line in text.splitlines():
        if line.startswith("POST /v1/leads c"):  # ... errs cli_s lx_us pg_us all_us  responses | statuses
            cols = line.split("|")[0].split()
            try:
                cpu.append(tuple(float(c) for c in cols[-4:-1]))
            except ValueError:
                pass
        m = re.match(r"POST /v1/leads(/batch)? (?:c\d+m\d+|x\d+)\s+\d+\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+([\d.]+)", line)
        if m:
            lat["batch" if m.group(1) else "single"].append((num(m.group(4)), num(m.group(5))))
            continue
        m = re.match(r"\s+leadx POST /v1/leads(/batch x\d+)?, median.*?:\s+([\d.]+) sold leads/s \(([\d.]+) leads/s", line)
        if m:
            k = "batch" if m.group(1) else "single"
            r[f"{k}_sold"], r[f"{k}_lps"] = num(m.group(2)), num(m.group(3))
            continue
        m = re.match(r"\s+leadx at ([\d.]+) leads/s offered:\s+([\d.]+) sold leads/s; p50 ([\d.]+) ms, p99 ([\d.]+) ms", line)
        if m:
            r["rate"], r["rate_sold"], r["rate_p50"], r["rate_p99"] = (num(g) for g in m.groups())
            continue
        m = re.match(r"\s+pgbench (per-lead design|limit) \(.*\):\s+([\d.]+) leads/s", line)
        if m:
            r["pl" if m.group(1) == "per-lead design" else "lim"] = num(m.group(2))
            continue
        m = re.match(r"\s+sold: ([\d.]+) % of (\d+) leads;.* ([\d.]+) buyers per sold lead", line)
        if m:
            r["sold_pct"], r["buyers"] = num(m.group(1)), num(m.group(3))
    for k, v in lat.items():
        if v:
            r[f"{k}_p50"] = statistics.median(p for p, _ in v)
            r[f"{k}_p99"] = statistics.median(p for _, p in v)
    for k, name in enumerate(("lx_us", "pg_us", "all_us")):
        if cpu:
            r[name] = statistics.median(c[k] for c in cpu)
    r["errors"] = "errors: runs with connection errors" in text
    return r


def side(name):
    runs = [parse(f"{work}/{name}.{i}.txt") for i in range(1, rounds + 1)]
    db = []
    for i in range(1, rounds + 1):
        try:
            a, b = open(f"{work}/{name}.{i}.txt.db").read().split()
            if a != "-":
                db.append((num(a), num(b)))
        except (OSError, ValueError):
            pass
    out = {}
    for k in set().union(*runs):
        vals = [x[k] for x in runs if k in x]
        out[k] = any(vals) if k == "errors" else statistics.median(vals)
    if db:
        out["receipts_per_sold"] = statistics.median(a for a, _ in db)
        out["queue_left"] = statistics.median(b for _, b in db)
    return out


base, rec = side("base"), side("receipts")
sign = dict(kv.split("=") for kv in open(f"{work}/sign.txt").read().split())
sign = {k: float(v) for k, v in sign.items()}


def cost(rate):
    return 1e6 / rate if rate else None


def f(v, fmt):
    return "-" if v is None else format(v, fmt)


print(f"\n{'':44} {'without':>15} {'with':>15} {'with - without':>15}")


def rate_rows(label, key, what="sold leads/s"):
    a, b = base.get(key), rec.get(key)
    ch = f"{100.0 * (b - a) / a:+.1f} %" if a and b is not None else "-"
    print(f"{label + ' ' + what:<44} {f(a, '.0f'):>15} {f(b, '.0f'):>15} {ch:>15}")
    ca, cb = cost(a), cost(b)
    d = f"{cb - ca:+.1f}" if ca and cb else "-"
    print(f"{'  µs per ' + ('sold lead' if 'sold' in what else 'lead') + ' (1e6 / rate)':<44} {f(ca, '.1f'):>15} {f(cb, '.1f'):>15} {d:>15}")


def lat_rows(label, p50, p99):
    def pair(s):
        return "-" if s.get(p50) is None else f"{s[p50]:.2f}/{s[p99]:.2f}"
    d = f"{rec[p50] - base[p50]:+.2f}/{rec[p99] - base[p99]:+.2f}" if rec.get(p50) is not None and base.get(p50) is not None else "-"
    print(f"{'  ' + label:<44} {pair(base):>15} {pair(rec):>15} {d:>15}")


rate_rows("POST /v1/leads", "single_sold")
lat_rows("p50/p99 ms (median of the runs)", "single_p50", "single_p99")
for key, label in (("lx_us", "leadx"), ("pg_us", "PostgreSQL"), ("all_us", "whole machine")):
    a, b = base.get(key), rec.get(key)
    d = f"{b - a:+.0f}" if a is not None and b is not None else "-"
    print(f"{'  CPU µs per lead (POST /v1/leads), ' + label:<44} {f(a, '.0f'):>15} {f(b, '.0f'):>15} {d:>15}")
rate_rows("POST /v1/leads/batch", "batch_sold")
lat_rows("p50/p99 ms (median of the runs)", "batch_p50", "batch_p99")
rate = base.get("rate") or rec.get("rate")
rate_rows(f"POST /v1/leads @{f(rate, '.0f')}/s:", "rate_sold")
lat_rows("p50/p99 ms from the scheduled start", "rate_p50", "rate_p99")
rate_rows("pgbench per-lead design:", "pl", "leads/s")
rate_rows("pgbench limit:", "lim", "leads/s")
print(f"{'buyers per sold lead (leadgen runs)':<44} {f(base.get('buyers'), '.2f'):>15} {f(rec.get('buyers'), '.2f'):>15}")
print(f"{'receipts per sold lead (database)':<44} {'-':>15} {f(rec.get('receipts_per_sold'), '.2f'):>15}")
print(f"{'receipt_queue rows left after the run':<44} {'-':>15} {f(rec.get('queue_left'), '.0f'):>15}")

rps = rec.get("receipts_per_sold") or (2 * rec["buyers"] if rec.get("buyers") else None)
print("\nthe C side of a receipt (tests/bench/receipt_sign.c, CPU time on one core):")
print(f"  canonical body {sign['canon_us']:.2f} µs, Ed25519 signature {sign['sign_us']:.2f} µs, whole lx_receipts_add {sign['add_us']:.2f} µs"
      f" (body {sign['body_bytes']:.0f} bytes, row {sign['row_bytes']:.0f} bytes); lead digest {sign['digest_us']:.2f} µs a sold lead")
if rps:
    c = rps * sign["add_us"] + sign["digest_us"]
    print(f"  per sold lead: {rps:.2f} receipts x {sign['add_us']:.2f} + {sign['digest_us']:.2f} = {c:.1f} µs of CPU"
          f" ({c / cpus:.1f} µs of the machine's {cpus} CPUs if it spreads over all of them)")
    for label, key in (("POST /v1/leads", "single_sold"), ("POST /v1/leads/batch", "batch_sold")):
        ca, cb = cost(base.get(key)), cost(rec.get(key))
        if ca and cb and cb > ca:
            print(f"  {label}: receipts add {cb - ca:.1f} µs a sold lead, {cpus * (cb - ca):.0f} CPU µs with all {cpus} CPUs"
                  f" busy; the C side's {c:.1f} is {100.0 * c / (cpus * (cb - ca)):.0f} % of that")
for name, s in (("without", base), ("with", rec)):
    if s.get("errors"):
        print(f"errors in the {name} side's runs: see its output")
PYEOF
echo "(written to var/bench/receipts-$stamp.txt)"
[ $failed = 0 ]
