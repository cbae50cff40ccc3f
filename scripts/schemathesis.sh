#!/usr/bin/env bash
# Fuzzes the Data API from its own OpenAPI document with schemathesis: every generated request
# (valid and invalid bodies, content types, headers) must get an answer that is not a 5xx and
# not a crash. Starts `rampart serve` on the todo example with a fresh data dir and an API key,
# on 127.0.0.1 only, and stops it on exit.
#
#   bash scripts/schemathesis.sh          # MAX_EXAMPLES=30 SEED=1 (a hard limit of 300 s)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

MAX_EXAMPLES=${MAX_EXAMPLES:-30}
SEED=${SEED:-1}
VENV="$ROOT/target/schemathesis-venv"
SCHEMATHESIS_VERSION="4.32.5" # pinned: CLI flags change between major versions

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build -q --bin rampart
RAMPART="${CARGO_TARGET_DIR:-$ROOT/target}/debug/rampart"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rampart-schemathesis.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/app"
(cd "$ROOT/examples/todo" && tar --exclude=./data -cf - .) | tar -xf - -C "$WORK/app"
# The key is created before the server starts: the embedded store admits one process at a time.
KEY=$("$RAMPART" keys create --config "$WORK/app" --data-dir "$WORK/data" --user alice --name schemathesis | tail -n1)

"$RAMPART" serve --config "$WORK/app" --data-dir "$WORK/data" --listen 127.0.0.1:0 \
  >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 300); do
  ADDR=$(sed -n 's|^rampart listening on http://\(.*\)$|\1|p' "$WORK/serve.out")
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ADDR" ]; then
  echo "rampart did not start:" >&2
  cat "$WORK/serve.log" >&2
  exit 1
fi

# Extended JSON bodies are JSON text; schemathesis needs to be told so for `application/ejson`.
cat >"$WORK/ejson_hooks.py" <<'PY'
import json

import schemathesis


@schemathesis.serializer("application/ejson")
def ejson_serializer(ctx, value):
    return json.dumps(value).encode("utf-8")
PY

status=0
(cd "$WORK" && SCHEMATHESIS_HOOKS="$WORK/ejson_hooks.py" timeout 300 "$VENV/bin/st" run "http://$ADDR/openapi.json" \
  --header "apiKey: $KEY" \
  --generation-with-security-parameters false \
  --checks not_a_server_error \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --generation-database none \
  --request-timeout 10 \
  --no-color) || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "rampart exited during the run:" >&2
  tail -n 50 "$WORK/serve.log" >&2
  exit 1
fi
if grep -q "panicked" "$WORK/serve.log"; then
  echo "rampart logged a panic:" >&2
  grep -A5 "panicked" "$WORK/serve.log" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "schemathesis failed (exit $status); the server log is in the output above" >&2
  tail -n 30 "$WORK/serve.log" >&2
fi
exit "$status"
