#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests.
#
#   deploy/pg.sh start|stop|status|url|pid|psql [args]|destroy
#
# PGDIR (default <repo>/var/pg) holds the cluster; PGPORT is picked once (the
# first free port from 54329) and kept in the cluster's postgresql.conf, so a
# second run reuses everything. PostgreSQL refuses to run as root, so as root
# the server runs as the `postgres` user (or a system user `leadx-pg`). That
# user must be able to traverse every parent of PGDIR; where it cannot (a
# clone under /root is mode 0700) the cluster moves to a stable per-checkout
# directory under /var/tmp, and the script says so.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "leadx: no PostgreSQL server found under /usr/lib/postgresql" >&2; exit 1; }
want_dir=${PGDIR:-$repo/var/pg}
DBNAME=${DBNAME:-leadx}

if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then pguser=postgres
  else
    id leadx-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin leadx-pg
    pguser=leadx-pg
  fi
  as() { (cd / && runuser -u "$pguser" -- "$@"); }
else
  pguser=$(id -un)
  as() { "$@"; }
fi

# Can the server's user reach $1 (traverse every existing parent)?
reachable() {
  local d=$1
  while [ ! -e "$d" ]; do d=$(dirname "$d"); done
  [ "$(id -u)" != 0 ] || as test -x "$d"
}

mkdir_for_user() {
  mkdir -p "$1"
  if [ "$(id -u)" = 0 ]; then chown "$pguser": "$1"; fi
}

resolve_dir() {
  if reachable "$want_dir"; then
    PGDIR=$want_dir
  else
    local canon hash
    canon=$(realpath -m "$want_dir")
    hash=$(printf '%s' "$canon" | sha256sum | cut -c1-12)
    PGDIR=/var/tmp/leadx-$hash/pg
    echo "leadx: user $pguser cannot reach $want_dir; using $PGDIR instead" >&2
  fi
  DATA=$PGDIR/data
  SOCK=$PGDIR/sock
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

conf_port() { sed -n "s/^port *= *\([0-9]*\).*/\1/p" "$DATA/postgresql.conf" 2>/dev/null | tail -1; }

running() { [ -s "$DATA/PG_VERSION" ] && as "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

init_cluster() {
  local port=${PGPORT:-}
  if [ -z "$port" ]; then
    port=54329
    while ! port_free "$port"; do port=$((port + 1)); done
  fi
  mkdir -p "$(dirname "$PGDIR")"
  [ "$(id -u)" != 0 ] || chmod 755 "$(dirname "$PGDIR")"
  mkdir_for_user "$PGDIR"
  chmod 711 "$PGDIR"
  mkdir_for_user "$SOCK"
  as "$PGBIN/initdb" -D "$DATA" -U leadx --auth=trust -E UTF8 --no-locale >"$PGDIR/initdb.log" 2>&1 \
    || { cat "$PGDIR/initdb.log" >&2; exit 1; }
  cat >>"$DATA/postgresql.conf" <<CONF
# leadx private cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$SOCK'
max_connections = 300
fsync = on
synchronous_commit = on
log_min_messages = warning
include_if_exists = 'leadx-tuning.conf'
CONF
}

# Settings sized to this machine, rewritten at every start (clusters made before a change pick it up on their
# next start). A quarter of the memory for shared buffers (PostgreSQL's own advice), between 128 MB and 4 GB: the
# keyed-hash indexes take random pages, and a 256 MB cache halved intake throughput as the bench database grew.
# The WAL may grow to 4 GB between checkpoints, at most every 15 minutes: after each checkpoint the next change of
# every page writes the whole page to the WAL again, a cost paid per random index page. A checkpoint keeps at least
# 1 GB of the WAL files it frees for reuse (PostgreSQL's default, 80 MB, deletes the rest): at intake rates a WAL
# file fills every second or two, and each new one is zero-filled while every commit waits (45-60 ms here).
# pg_stat_statements is loaded so that every database can say where its time goes, statement by statement
# (CREATE EXTENSION pg_stat_statements to read it; tests/bench/market.sh's statement costs do). pg_prewarm's
# autoprewarm worker records which pages the shared buffers hold (at stop and every 5 minutes) and reads them back
# after a start: the intake's random index pages otherwise come back one miss at a time, and on a large database the
# first minutes after a restart took a fraction of the usual leads a second.
write_tuning() {
  local mem_kb buffers_mb
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 1048576)
  buffers_mb=$((mem_kb / 4 / 1024))
  [ "$buffers_mb" -ge 128 ] || buffers_mb=128
  [ "$buffers_mb" -le 4096 ] || buffers_mb=4096
  grep -q "^include_if_exists = 'leadx-tuning.conf'" "$DATA/postgresql.conf" ||
    echo "include_if_exists = 'leadx-tuning.conf'" | as tee -a "$DATA/postgresql.conf" >/dev/null
  printf '%s\n' "# written by deploy/pg.sh at every start" "shared_buffers = ${buffers_mb}MB" "max_wal_size = 4GB" \
    "min_wal_size = 1GB" "checkpoint_timeout = 15min" "huge_pages = try" \
    "shared_preload_libraries = 'pg_stat_statements, pg_prewarm'" | as tee "$DATA/leadx-tuning.conf" >/dev/null
}

# Huge pages for the shared buffers. The intake's keyed-hash indexes are read and written at random pages across
# gigabytes of shared memory, and with 4 KB pages nearly every such access also misses the TLB: backed by 2 MB
# pages, the intake bench's PostgreSQL CPU per lead fell 7 % and its throughput rose 3-15 % (alternating runs, one
# database). PostgreSQL uses huge pages only from the kernel's reserved pool (huge_pages = try falls back to normal
# pages without them), and only root may grow the pool: as root, start reserves what this cluster's shared memory
# needs and stop gives back what start added (in $PGDIR/hugepages). LEADX_HUGE_PAGES=off leaves the pool alone.
HUGE_POOL=/proc/sys/vm/nr_hugepages

huge_free() { awk '/^HugePages_Free:/ {f = $2} /^HugePages_Rsvd:/ {r = $2} END {print f - r}' /proc/meminfo; }

reserve_huge_pages() {
  [ "$(id -u)" = 0 ] && [ "${LEADX_HUGE_PAGES:-on}" != off ] && [ -w "$HUGE_POOL" ] || return 0
  local need free total added
  need=$(as "$PGBIN/postgres" -D "$DATA" -C shared_memory_size_in_huge_pages 2>/dev/null) || return 0
  [ "${need:-0}" -gt 0 ] 2>/dev/null || return 0
  free=$(huge_free)
  [ "$free" -lt "$need" ] || return 0
  total=$(cat "$HUGE_POOL")
  echo $((total + need - free)) >"$HUGE_POOL" 2>/dev/null || return 0
  added=$(($(cat "$HUGE_POOL") - total))
  [ "$added" -gt 0 ] || return 0
  echo "$added" >"$PGDIR/hugepages"
  [ "$(huge_free)" -ge "$need" ] \
    || echo "leadx: the kernel reserved only $added of $((need - free)) more huge pages; PostgreSQL uses normal pages" >&2
}

release_huge_pages() {
  [ -s "$PGDIR/hugepages" ] || return 0
  local added total
  added=$(cat "$PGDIR/hugepages")
  rm -f "$PGDIR/hugepages"
  total=$(cat "$HUGE_POOL")
  [ "$total" -ge "$added" ] || added=$total
  echo $((total - added)) >"$HUGE_POOL" 2>/dev/null || true
}

start() {
  if [ ! -s "$DATA/PG_VERSION" ]; then init_cluster; fi
  if ! running; then write_tuning; reserve_huge_pages; fi
  mkdir_for_user "$SOCK"
  local tries=0
  while ! running; do
    if as "$PGBIN/pg_ctl" -D "$DATA" -l "$PGDIR/server.log" -w -t 60 start >/dev/null; then break; fi
    # Two clusters initialised at the same moment can pick the same free port: move to the next free one.
    if [ -z "${PGPORT:-}" ] && [ $tries -lt 20 ] && tail -20 "$PGDIR/server.log" | grep -q 'Address already in use'; then
      local port; port=$(( $(conf_port) + 1 + RANDOM % 50 ))
      while ! port_free "$port"; do port=$((port + 1)); done
      echo "port = $port" >>"$DATA/postgresql.conf"
      tries=$((tries + 1))
      continue
    fi
    tail -20 "$PGDIR/server.log" >&2
    exit 1
  done
  local port; port=$(conf_port)
  if ! as "$PGBIN/psql" -h "$SOCK" -p "$port" -U leadx -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'" | grep -q 1; then
    as "$PGBIN/createdb" -h "$SOCK" -p "$port" -U leadx "$DBNAME"
  fi
}

cmd=${1:-}
shift || true
resolve_dir
case "$cmd" in
  start) start ;;
  stop) if running; then as "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi; release_huge_pages ;;
  status) if running; then echo "running on port $(conf_port), data in $DATA"; else echo "stopped"; exit 3; fi ;;
  url) echo "postgresql://leadx@/$DBNAME?host=$SOCK&port=$(conf_port)" ;;
  pid) if running; then as head -1 "$DATA/postmaster.pid"; else exit 3; fi ;;
  psql) exec "$PGBIN/psql" -h "$SOCK" -p "$(conf_port)" -U leadx -d "$DBNAME" "$@" ;;
  destroy)
    if running; then as "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null; fi
    release_huge_pages
    rm -rf "$PGDIR" ;;
  *) echo "usage: deploy/pg.sh start|stop|status|url|pid|psql [args]|destroy" >&2; exit 2 ;;
esac
