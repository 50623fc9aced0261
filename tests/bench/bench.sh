#!/usr/bin/env bash
# Foundation benchmark: h2load against the real server on the private cluster,
# beside a pgbench baseline of the same database read, in the same run.
#
#   tests/bench/bench.sh            (after deploy/dev.sh has built and set up once)
#
# Endpoints:
#   GET /v1/me              authenticated; served from the per-thread key cache (no database round trip)
#   GET /v1/accounts/{id}   authenticated; one PostgreSQL read on every request
# Prints req/s (a pass without logging) and p50/p99 latency (a second pass with
# h2load's per-request --log-file) for three runs each and the median, then pgbench of the same SELECT with the same
# client count, and the ratio. Figures are reported, never asserted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
PY=/usr/bin/python3
PGBENCH=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pgbench
RUNS=${RUNS:-3}

. "$here/lib.sh"
bench_start_server
bench_webmaster USD

out=var/bench/foundation-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p var/bench
exec > >(tee "$out")

# run_h2load <label> <n> <streams> <token> <url>: prints "req/s p50_ms p99_ms non2xx"
# Two passes: throughput without --log-file (writing one log line per request costs
# h2load, which shares the 2 cores with the server, about a fifth of its rate), then
# latency percentiles from a second pass of the same shape with --log-file.
run_h2load() {
  local label=$1 n=$2 m=$3 token=$4 url=$5
  h2load -n "$n" -c 32 -m "$m" -t 1 -H "authorization: Bearer $token" "$url" >"$tmp/h2load.out" 2>&1
  h2load -n "$n" -c 32 -m "$m" -t 1 -H "authorization: Bearer $token" --log-file "$tmp/lat.log" "$url" >"$tmp/h2load-lat.out" 2>&1
  local rps non2xx
  rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$tmp/h2load.out")
  ok2xx() { sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$1"; }
  non2xx=$(($(ok2xx "$tmp/h2load.out") + $(ok2xx "$tmp/h2load-lat.out")))
  n=$((2 * n))
  $PY - "$tmp/lat.log" "$rps" "$n" "$non2xx" <<'PYEOF'
import sys
lat = sorted(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.strip())
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1000.0
print(f"{float(sys.argv[2]):.0f} {pct(0.50):.2f} {pct(0.99):.2f} {int(sys.argv[3]) - int(sys.argv[4] or 0)}")
PYEOF
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "leadx foundation benchmark — $(date -u +%FT%TZ), $(nproc) CPUs; h2load, server and PostgreSQL on this machine"
echo "server: leadx serve --threads 2 (rate limit off, access log off); h2load -c 32 -t 1"
printf '\n%-28s %4s %10s %9s %9s %8s\n' endpoint run req/s p50_ms p99_ms non-2xx
declare -A med
for ep in me account; do
  : >"$tmp/rps.$ep"
  for run in $(seq "$RUNS"); do
    if [ $ep = me ]; then
      r=$(run_h2load me 300000 32 "$wm_token" "http://127.0.0.1:$port/v1/me")
      name="GET /v1/me"
    else
      r=$(run_h2load account 100000 16 "$op" "http://127.0.0.1:$port/v1/accounts/$wm_id")
      name="GET /v1/accounts/{id}"
    fi
    set -- $r
    printf '%-28s %4s %10s %9s %9s %8s\n' "$name" "$run" "$1" "$2" "$3" "$4"
    echo "$1" >>"$tmp/rps.$ep"
  done
  med[$ep]=$(median <"$tmp/rps.$ep")
done

echo "SELECT id, role, name, currency, status, rate_limit, created_at, updated_at FROM accounts WHERE id = '$wm_id'::uuid;" >"$tmp/read.sql"
pg_tps=$("$PGBENCH" -n -M prepared -c 32 -j 2 -T 10 -f "$tmp/read.sql" "$LEADX_DATABASE_URL" 2>/dev/null |
  sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
echo
echo "median GET /v1/me:             ${med[me]} req/s"
echo "median GET /v1/accounts/{id}:  ${med[account]} req/s"
echo "pgbench, the same SELECT, 32 clients, prepared: ${pg_tps%.*} tps"
$PY -c "print(f'ratio leadx GET /v1/accounts/{{id}} / pgbench: {${med[account]} / ${pg_tps}:.2f}')"
echo "(written to $out)"
