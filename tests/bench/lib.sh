# Shared set-up of the benchmark scripts (sourced, not run): the private cluster, keys, migrations, one
# `leadx serve` on a free port with rate limit and access log off, and a webmaster to send as.
# LEADX_BIN names the binary (default build/leadx), e.g. LEADX_BIN=build-bench/leadx.
#
#   bench_start_server        sets tmp, port, base and server (stopped and cleaned up on exit)
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
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp"' EXIT
  for _ in $(seq 50); do curl -sf --http2-prior-knowledge "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
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
