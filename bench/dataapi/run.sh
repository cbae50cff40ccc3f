#!/usr/bin/env bash
# Data API load test: Rampart's findOne and find (rules, API key auth, metrics, audit) against a
# bare axum handler serving the same findOne from the same store (the floor).
#
#   bash bench/dataapi/run.sh            # DOCS=100000 CONNECTIONS=64 DURATION=15s THREADS=2
#   SKIP_BUILD=1 bash bench/dataapi/run.sh   # reuse target/release binaries
#
# Everything runs on 127.0.0.1 in a fresh temporary directory, bounded in time; the servers it
# starts are stopped on exit. Safe to run again.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/dataapi"
DOCS=${DOCS:-100000}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-15s}
RAMPART="$ROOT/target/release/rampart"
BARE="$ROOT/target/release/examples/bare_findone"

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi

if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$RAMPART" ] && [ -x "$BARE" ]; then
  echo "using the existing release builds (SKIP_BUILD=1)" >&2
else
  echo "building rampart and the bare floor (release)" >&2
  (cd "$ROOT" && cargo build --release -q --bin rampart && cargo build --release -q -p rampart-server --example bare_findone)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rampart-bench.XXXXXX")
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Starts "$@" in the background with stdout in $1.out-file and waits (at most 60 s) for its
# "... listening on http://ADDR" line; sets SERVER_PID and ADDR.
start_server() {
  local out=$1
  shift
  "$@" >"$out" 2>"$out.log" &
  SERVER_PID=$!
  ADDR=""
  for _ in $(seq 600); do
    ADDR=$(sed -n 's|.* listening on http://\([0-9.:]*\).*|\1|p' "$out" | head -n1)
    [ -n "$ADDR" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start:" >&2
  cat "$out.log" >&2
  exit 1
}

# One wrk run; prints its RESULT line (rps, p50, p99) and fails if any request did not get 2xx.
load() {
  local label=$1 mode=$2 key=$3
  local result
  result=$(MODE=$mode API_KEY=$key IDS_FILE="$WORK/ids.txt" APP_PATH="/app/todo/endpoint/data/v1/action" \
    timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s "$HERE/load.lua" "http://$ADDR" |
    grep '^RESULT')
  echo "$label $result"
  case "$result" in
    *" failed=0") ;;
    *) echo "$label: some requests failed" >&2; exit 1 ;;
  esac
}

# Checks one request by hand before loading, so a broken setup never reports a fast 401.
probe() {
  local key=$1 id
  id=$(head -n1 "$WORK/ids.txt")
  curl -sS --fail-with-body -m 10 "http://$ADDR/app/todo/endpoint/data/v1/action/findOne" \
    -H 'Content-Type: application/json' ${key:+-H "apiKey: $key"} \
    -d "{\"dataSource\":\"mongodb-atlas\",\"database\":\"todo\",\"collection\":\"items\",\"filter\":{\"_id\":{\"\$oid\":\"$id\"}}}" |
    grep -q '"owner":"user000"' || { echo "probe findOne did not return user000's item" >&2; exit 1; }
}

echo "preparing $DOCS documents in $WORK" >&2
mkdir -p "$WORK/app"
(cd "$ROOT/examples/todo" && tar --exclude=./data -cf - .) | tar -xf - -C "$WORK/app"
python3 "$HERE/gen_items.py" "$DOCS" "$WORK/items.json" "$WORK/ids.txt"
"$RAMPART" import --config "$WORK/app" --data-dir "$WORK/data" --db todo --collection items "$WORK/items.json" >&2
# Keys are created before the server starts: the embedded store admits one process at a time.
KEY=$("$RAMPART" keys create --config "$WORK/app" --data-dir "$WORK/data" --user user000 --name bench | tail -n1)

start_server "$WORK/rampart.out" "$RAMPART" serve --config "$WORK/app" --data-dir "$WORK/data" --listen 127.0.0.1:0
probe "$KEY"
RAMPART_FINDONE=$(load "rampart findOne" findOne "$KEY")
RAMPART_FIND=$(load "rampart find    " find "$KEY")
stop_server

start_server "$WORK/bare.out" "$BARE" "$WORK/data"
probe ""
BARE_FINDONE=$(load "bare    findOne" findOne "")
stop_server

rps() { sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$1"; }
echo
echo "Data API bench: $DOCS documents, $CONNECTIONS connections, $THREADS wrk threads, $DURATION each, $(nproc) cores"
printf '%s\n' "$RAMPART_FINDONE" "$RAMPART_FIND" "$BARE_FINDONE" | sed 's/RESULT //'
awk -v r="$(rps "$RAMPART_FINDONE")" -v b="$(rps "$BARE_FINDONE")" \
  'BEGIN { printf "findOne ratio rampart/bare = %.2f (target >= 0.5)\n", r / b }'
