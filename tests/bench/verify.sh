#!/usr/bin/env bash
# `leadx verify` throughput on one core: a synthetic export of N receipts (tests/bench/verify_gen.c over
# tests/unit/verify_fixture.h: receipts signed as the server signs them, their log entries, a signed head every N/100
# receipts, each receipt's inclusion proof against the last head), verified with every input given
# (--keys --receipts --heads --log), pinned to one CPU (taskset -c 0). Prints receipts/s of wall-clock and of CPU
# time (user + system), the median of RUNS runs; figures are reported, never asserted.
#
#   tests/bench/verify.sh                         (after a build: build/leadx and build/liblxcore.a)
#   LEADX_BIN=build-x/leadx N=100000 RUNS=3 tests/bench/verify.sh
#
# Environment: LEADX_BIN (build/leadx; liblxcore.a beside it), N (100000), RUNS (3), KEYS (1; 2 = a rotation half
# way), OUT (var/bench/verify: the generated files, kept and reused while N and KEYS match).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
LEADX_BIN=$(realpath -m "${LEADX_BIN:-build/leadx}")
N=${N:-100000}
RUNS=${RUNS:-3}
KEYS=${KEYS:-1}
OUT=${OUT:-var/bench/verify}
build=$(dirname "$LEADX_BIN")
[ -x "$LEADX_BIN" ] && [ -f "$build/liblxcore.a" ] || { echo "bench: build $LEADX_BIN and liblxcore.a first" >&2; exit 1; }
mkdir -p "$OUT"
gen="$build/verify_gen"
if [ ! -x "$gen" ] || [ "$gen" -ot tests/bench/verify_gen.c ] || [ "$gen" -ot tests/unit/verify_fixture.h ] ||
   [ "$gen" -ot "$build/liblxcore.a" ]; then
  cc -O2 -std=c17 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Isrc -Itests/unit \
    $(pkg-config --cflags libh2o-evloop jansson libsodium libpq) -o "$gen" tests/bench/verify_gen.c \
    "$build/liblxcore.a" $(pkg-config --libs libh2o-evloop jansson libsodium libpq) -lssl -lcrypto -lpthread -lm
fi
stamp="$OUT/.generated"
if [ "$(cat "$stamp" 2>/dev/null)" != "$N $KEYS" ]; then
  "$gen" "$OUT" "$N" "$KEYS"
  echo "$N $KEYS" >"$stamp"
fi
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
walls=() cpus=()
for r in $(seq "$RUNS"); do
  t=$( { /usr/bin/time -f '%e %U %S' "${pin[@]}" "$LEADX_BIN" verify --keys "$OUT/keys.json" \
        --receipts "$OUT/export.jsonl" --heads "$OUT/heads.jsonl" --log "$OUT/entries.jsonl" >"$OUT/summary.txt"; } 2>&1 )
  read -r wall user sys <<<"$(tail -1 <<<"$t")"
  walls+=("$wall")
  cpus+=("$(echo "$user + $sys" | bc -l)")
  echo "run $r: wall ${wall} s, cpu $(echo "$user + $sys" | bc -l) s" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wall=$(median "${walls[@]}")
cpu=$(median "${cpus[@]}")
head -3 "$OUT/summary.txt" >&2
printf 'leadx verify: %d receipts (with heads and log), one core: %.0f receipts/s wall, %.0f receipts/s of CPU time (median of %d)\n' \
  "$N" "$(echo "$N / $wall" | bc -l)" "$(echo "$N / $cpu" | bc -l)" "$RUNS"
