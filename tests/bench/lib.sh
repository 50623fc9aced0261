# Shared set-up of the benchmark scripts (sourced, not run): the private cluster, keys, migrations, one
# `leadx serve` on a free port with rate limit and access log off, and a webmaster to send as.
# LEADX_BIN names the binary (default build/leadx), e.g. LEADX_BIN=build-bench/leadx.
#
#   bench_start_server        sets tmp, port, base, server and pg_pid (stopped and cleaned up on exit)
#   bench_webmaster CURRENCY  sets op (an operator key), wm_id and wm_token

LEADX_BIN=${LEADX_BIN:-build/leadx}

bench_start_server() {
  [ -x "$LEADX_BIN" ] || { echo "bench: $LEADX_BIN missing: run deploy/dev.sh test (or run) once first" >&2; exit 1; }
  deploy/pg.sh start
  export LEADX_DATABASE_URL=${LEADX_DATABASE_URL:-$(deploy/pg.sh url)}
  export LEADX_KEY_DIR=${LEADX_KEY_DIR:-$repo/var/keys}
  "$LEADX_BIN" keygen >/dev/null
  "$LEADX_BIN" migrate >/dev/null
  port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  tmp=$(mktemp -d)
  LEADX_RATE_LIMIT=0 "$LEADX_BIN" serve --listen 127.0.0.1:$port --threads 2 --access-log off 2>"$tmp/server.log" &
  server=$!
  # CPU accounting (below) counts the cluster's processes only when the server uses this repository's cluster
  pg_pid=-
  [ "$LEADX_DATABASE_URL" != "$(deploy/pg.sh url)" ] || pg_pid=$(deploy/pg.sh pid)
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp"' EXIT
  local up=0
  for _ in $(seq 100); do
    kill -0 "$server" 2>/dev/null || break
    if curl -sf --http2-prior-knowledge "http://127.0.0.1:$port/healthz" >/dev/null; then up=1; break; fi
    sleep 0.1
  done
  if [ $up = 0 ]; then
    echo "bench: leadx serve did not come up:" >&2
    tail -20 "$tmp/server.log" >&2
    exit 1
  fi
  base=http://127.0.0.1:$port
}

bench_webmaster() {
  op=$("$LEADX_BIN" accounts create --role operator --name bench 2>/dev/null)
  local created
  created=$(curl -sf --http2-prior-knowledge -H "authorization: Bearer $op" -H 'content-type: application/json' \
    -d "{\"role\":\"webmaster\",\"name\":\"bench webmaster\",\"currency\":\"$1\"}" "$base/v1/accounts")
  wm_id=$(echo "$created" | $PY -c 'import json,sys; print(json.load(sys.stdin)["account"]["id"])')
  wm_token=$(echo "$created" | $PY -c 'import json,sys; print(json.load(sys.stdin)["key"]["token"])')
}

# ---- WAL files ------------------------------------------------------------------------------------------------------
# bench_checkpoint: a CHECKPOINT before each measured run (leadx's and pgbench's alike). PostgreSQL writes its WAL in
# 16 MB files; a file it has never used is created and zero-filled while every commit waits for it: 45-60 ms here,
# about once a second at 5,000 intake leads/s (p99 46-63 ms, against a median p99 of 17 ms with files reused). A
# running cluster reuses the files its checkpoints free (deploy/pg.sh keeps 1 GB of them), but until its first
# checkpoint (up to 15 minutes, or 4 GB) a new cluster creates every file. The checkpoint puts the run in the running
# cluster's state; it also makes the run write each page whole to the WAL at its first change after the checkpoint,
# as a running cluster does. A database the role may not checkpoint gets a note once, and the runs go on.
bench_checkpoint() {
  "$PGBIN/psql" "$LEADX_DATABASE_URL" -qAtc CHECKPOINT >/dev/null 2>"$tmp/checkpoint.err" && return 0
  [ -n "${bench_checkpoint_noted:-}" ] ||
    echo "bench: CHECKPOINT before the runs failed ($(head -1 "$tmp/checkpoint.err")); runs may create WAL files" >&2
  bench_checkpoint_noted=1
}

# ---- CPU per lead ---------------------------------------------------------------------------------------------------
# Throughput on a shared 2-core machine swings by a fifth from run to run; the CPU a lead costs swings far less, and it
# says where a target is out of reach (2 cores give 2,000,000 µs of CPU a second). So every timed run also reports
# microseconds of CPU (user + system) per answered lead: of the server process (all its threads), of the PostgreSQL
# cluster (the postmaster, its live children and, through its cutime/cstime, every child that exited) and of the whole
# machine (all but idle, iowait and steal: leadgen and the kernel's network work included). The two samples bracket
# the measured window from this shell, so they are off by the few milliseconds leadgen takes to connect.
#
#   bench_cpu_begin JSON LEADGEN_ARGS...   before a leadgen run: for a timed one (-d), starts sampling its window
#   bench_cpu_end JSON                     after it: adds cpu_us_per_lead {leadx, postgres, machine} to its result

# bench_cpu_ticks: "<leadx> <postgres> <machine>" clock ticks used so far; "-" where unknown (the server's database is
# not this repository's cluster, or a process is gone)
bench_cpu_ticks() {
  local lx pg=- c
  lx=$(awk '{print $14 + $15}' "/proc/$server/stat" 2>/dev/null) || lx=-
  if [ "$pg_pid" != - ] && [ -r "/proc/$pg_pid/stat" ]; then
    pg=$({
      awk '{print $14 + $15 + $16 + $17}' "/proc/$pg_pid/stat"
      for c in $(pgrep -P "$pg_pid"); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true; done
    } | awk '{s += $1} END {print s}')
  fi
  awk -v lx="${lx:--}" -v pg="$pg" '$1 == "cpu" {print lx, pg, $2 + $3 + $4 + $7 + $8; exit}' /proc/stat
}

# bench_window LEADGEN_ARGS...: sets win_length (-d, empty for a run that is not timed) and win_warmup (--warmup)
bench_window() {
  local a prev=
  win_length= win_warmup=0
  for a in "$@"; do
    case $prev in -d) win_length=$a ;; --warmup) win_warmup=$a ;; esac
    prev=$a
  done
}

bench_cpu_begin() {
  local out=$1
  shift
  bench_window "$@"
  cpu_length=$win_length
  [ -n "$cpu_length" ] || return 0
  (
    sleep "$win_warmup"
    bench_cpu_ticks
    sleep "$cpu_length"
    bench_cpu_ticks
  ) >"$out.cpu" &
  cpu_sampler=$!
}

bench_cpu_end() {
  [ -n "$cpu_length" ] || return 0
  wait "$cpu_sampler" || true
  bench_cpu_merge "$1" "$1.cpu" "$cpu_length"
}

# bench_cpu_merge JSON SAMPLES LENGTH
bench_cpu_merge() {
  $PY - "$1" "$2" "$3" "$(getconf CLK_TCK)" <<'PYEOF'
import json, sys
path, samples, length, hz = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
r = json.load(open(path))
lines = [l.split() for l in open(samples) if l.strip()]
per = {"leadx": None, "postgres": None, "machine": None}
if len(lines) == 2 and r["leads_per_s"] > 0:
    for i, k in enumerate(per):
        a, b = lines[0][i], lines[1][i]
        if a != "-" and b != "-":
            per[k] = round((float(b) - float(a)) / hz / length * 1e6 / r["leads_per_s"], 1)
r["cpu_us_per_lead"] = per
with open(path, "w") as f:
    f.write(json.dumps(r) + "\n")
PYEOF
}

# ---- WAL flushes ----------------------------------------------------------------------------------------------------
# A commit returns once its WAL is on disk: PostgreSQL's fdatasync. On this machine's virtual disk half of them take
# 0.2 ms and a few, now and then, 90-130 ms (traced on 2026-11-24: the two slowest stretches of answers in a run at
# 5,000 leads/s, p99 82 ms, began with the three slowest flushes, 87-134 ms, where the run's p99 flush took 1.5 ms).
# Every commit behind such a flush waits for it, so a fixed-rate run's p99 says as much about the disk in its window as
# about leadx. So every timed run also records how long PostgreSQL's fdatasync calls took in its window, with perf's
# syscall tracepoints, when perf is installed (Debian's linux-perf) and may trace (root); otherwise nothing is added.
#
#   bench_fsync_begin JSON LEADGEN_ARGS...   before a leadgen run: for a timed one (-d), traces its window
#   bench_fsync_end JSON                     after it: adds fdatasync_ms {n, p50, p99, max, over_20} to its result

bench_fsync_begin() {
  local out=$1
  shift
  bench_window "$@"
  fsync_length=
  [ -n "$win_length" ] && command -v perf >/dev/null || return 0
  fsync_length=$win_length
  (
    sleep "$win_warmup"
    exec perf record -q -e syscalls:sys_enter_fdatasync -e syscalls:sys_exit_fdatasync -a -o "$out.fsync" -- \
      sleep "$fsync_length"
  ) >/dev/null 2>&1 &
  fsync_tracer=$!
}

bench_fsync_end() {
  [ -n "$fsync_length" ] || return 0
  wait "$fsync_tracer" || return 0
  perf script -i "$1.fsync" -F comm,tid,time,event 2>/dev/null >"$1.fsync.txt" || return 0
  $PY - "$1" "$1.fsync.txt" <<'PYEOF'
import json, sys
path, trace = sys.argv[1:3]
entered, took = {}, []
for line in open(trace):
    f = line.split()
    if len(f) < 4 or f[0] != "postgres":
        continue
    tid, t, event = f[1], float(f[2].rstrip(":")), f[3]
    if event.startswith("syscalls:sys_enter_"):
        entered[tid] = t
    elif tid in entered:
        took.append((t - entered.pop(tid)) * 1e3)
r = json.load(open(path))
if took:
    took.sort()
    n = len(took)
    r["fdatasync_ms"] = {"n": n, "p50": round(took[n // 2], 2), "p99": round(took[int(n * 0.99)], 2),
                         "max": round(took[-1], 1), "over_20": sum(1 for x in took if x > 20)}
with open(path, "w") as f:
    f.write(json.dumps(r) + "\n")
PYEOF
}
