#!/usr/bin/env bash
# The two set-up commands of the README:
#
#   deploy/dev.sh run  [leadx serve args]   install, build, database, keys, migrate, serve
#   deploy/dev.sh test [ctest args]         the same set-up, then the whole test suite
#
# Both work on a fresh Debian 12 machine as root and reuse what an earlier run
# made (packages, build trees, cluster, keys).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
say() { printf 'leadx: %s\n' "$*" >&2; }

packages=(build-essential cmake pkg-config libh2o-evloop-dev libssl-dev libjansson-dev libsodium-dev libpq-dev
          libjemalloc-dev
          postgresql-15 postgresql-contrib nghttp2-client libnghttp2-dev curl openssl
          python3 python3-httpx python3-h2 python3-jsonschema python3-yaml python3-cryptography
          clang libclang-rt-14-dev iproute2 util-linux)

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages; run as root: apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() { # build <dir> [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)" >/dev/null || cmake --build "$dir" -j1
}

database() {
  if [ -n "${LEADX_DATABASE_URL:-}" ]; then
    say "using LEADX_DATABASE_URL from the environment"
  else
    deploy/pg.sh start
    LEADX_DATABASE_URL=$(deploy/pg.sh url)
    export LEADX_DATABASE_URL
  fi
  export LEADX_KEY_DIR=${LEADX_KEY_DIR:-$repo/var/keys}
  mkdir -p "$repo/var"
  build/leadx keygen >/dev/null
  build/leadx migrate
}

setup() {
  install_packages
  build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
  database
}

cmd=${1:-}
shift || true
case "$cmd" in
run)
  setup
  listen=${LEADX_LISTEN:-127.0.0.1:8080}
  prev=
  for a in "$@"; do # the address `serve` will use: --listen A or --listen=A on the command line wins
    case "$a" in --listen=*) listen=${a#--listen=} ;; esac
    [ "$prev" = --listen ] && listen=$a
    prev=$a
  done
  cat >&2 <<MSG

leadx: serving on http://$listen (HTTP/1.1 and h2c; add --tls-listen/--tls-cert/--tls-key for TLS)
leadx: database $LEADX_DATABASE_URL
leadx: keys in $LEADX_KEY_DIR
leadx: make an operator API key (printed once) in another shell:
    LEADX_DATABASE_URL='$LEADX_DATABASE_URL' LEADX_KEY_DIR='$LEADX_KEY_DIR' $repo/build/leadx accounts create --role operator --name admin
leadx: then e.g.  curl --http2-prior-knowledge -H "authorization: Bearer <key>" http://$listen/v1/me

MSG
  exec build/leadx serve "$@"
  ;;
test)
  # The suites run their own clusters; the private one is needed only to migrate. Stopped again when this command
  # started it, so a test run leaves no server behind, nor the huge pages its start reserved (deploy/pg.sh).
  if [ -z "${LEADX_DATABASE_URL:-}" ] && ! deploy/pg.sh status >/dev/null 2>&1; then
    trap 'deploy/pg.sh stop' EXIT
  fi
  setup
  passed=0 failed=0
  fuzz_one() { # fuzz_one <binary> <corpus dir>: quiet unless it finds something
    "$1" -max_total_time=20 -artifact_prefix="$2/" "$2" >"$2.log" 2>&1 || { tail -40 "$2.log" >&2; return 1; }
  }
  suite() { # suite <name> <command...>
    local name=$1; shift
    say "== $name"
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); say "FAILED: $name"; fi
  }
  suite "unit and API tests" ctest --test-dir build --output-on-failure -j2 "$@"
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DLEADX_SANITIZE=ON
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export LSAN_OPTIONS=suppressions=$repo/tests/lsan.supp
  suite "unit and API tests under ASan+UBSan" ctest --test-dir build-asan --output-on-failure -j2 "$@"
  unset ASAN_OPTIONS UBSAN_OPTIONS
  if [ $# -eq 0 ] && command -v clang >/dev/null; then
    CC=clang build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEADX_FUZZ=ON
    for f in build-fuzz/fuzz_*; do
      [ -x "$f" ] || continue
      name=$(basename "$f"); corpus=tests/fuzz/corpus/${name#fuzz_}
      work=$(mktemp -d)
      [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
      suite "fuzz $name (20 s)" fuzz_one "$f" "$work"
      rm -rf "$work" "$work.log"
    done
  fi
  say "suites: $passed passed, $failed failed"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  ;;
*)
  echo "usage: deploy/dev.sh run [leadx serve args] | test [ctest args]" >&2
  exit 2
  ;;
esac
