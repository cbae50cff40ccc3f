#!/usr/bin/env bash
# Side-by-side benchmark of rampart-rules (crates/rules) against CASL (npm @casl/ability) on
# the policy "the owner reads and writes everything; others read title, status and tags":
# generates the same documents for both, times role choice plus redaction on each side, checks
# that the visible output is identical and prints documents/second, the ratio, and throughput
# by number of roles. See README.md. Runnable from any directory; idempotent; each run works in
# a fresh temporary directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

DOCS=1000000
SEED=42
USERS="u0,u1,u2,u3"
WARMUP=100000
KEEP=0
WORKDIR=""

usage() {
  cat <<USAGE
usage: $(basename "$0") [--docs N] [--seed S] [--users u0,u1,...] [--warmup N] [--workdir DIR] [--keep]
  --docs N       documents to generate (default $DOCS)
  --seed S       PRNG seed of the generator (default $SEED)
  --users LIST   users timed on the main policy, each over every document (default $USERS)
  --warmup N     documents decided before each timed pass (default $WARMUP)
  --workdir DIR  where to write data and results (default: a new temporary directory)
  --keep         keep the temporary directory (data, visible output, summary.json)
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --docs) DOCS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --workdir) WORKDIR="$2"; KEEP=1; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

command -v node >/dev/null || { echo "node is required" >&2; exit 1; }
command -v cargo >/dev/null || { echo "cargo is required" >&2; exit 1; }
SCALE_USER="${USERS%%,*}"

# 1. CASL, pinned by package.json / package-lock.json
if [[ ! -f "$HERE/node_modules/@casl/ability/package.json" ]]; then
  echo "== installing @casl/ability (npm)" >&2
  if [[ -f "$HERE/package-lock.json" ]]; then
    (cd "$HERE" && npm ci --no-audit --no-fund >&2)
  else
    (cd "$HERE" && npm install --no-audit --no-fund >&2)
  fi
fi

# 2. Rampart's side, release build
echo "== building rampart-rules example casl_compare (release)" >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p rampart-rules --example casl_compare >&2
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/examples/casl_compare"
[[ -x "$BIN" ]] || { echo "built binary not found at $BIN" >&2; exit 1; }

# 3. data
if [[ -z "$WORKDIR" ]]; then
  WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/rules-vs-casl.XXXXXX")"
fi
mkdir -p "$WORKDIR/rampart" "$WORKDIR/casl"
cleanup() {
  if [[ "$KEEP" == 1 ]]; then
    echo "== data and results kept in $WORKDIR" >&2
  else
    rm -rf -- "$WORKDIR"
  fi
}
trap cleanup EXIT

echo "== generating $DOCS documents (seed $SEED)" >&2
node "$HERE/gen.mjs" --docs "$DOCS" --seed "$SEED" --users 1000 --out "$WORKDIR/docs.jsonl"

# 4. the two engines, one after the other (never concurrently)
echo "== running rampart-rules" >&2
"$BIN" --docs "$WORKDIR/docs.jsonl" --users "$USERS" --roles 2 --scale-roles 1,10,50 \
  --scale-user "$SCALE_USER" --explained true --decoded true --warmup "$WARMUP" \
  --out-dir "$WORKDIR/rampart" > "$WORKDIR/rampart.json"
echo "== running CASL" >&2
node --max-old-space-size=8192 "$HERE/casl_compare.mjs" --docs "$WORKDIR/docs.jsonl" \
  --users "$USERS" --roles 2 --scale-roles 10,50 --scale-user "$SCALE_USER" \
  --warmup "$WARMUP" --out-dir "$WORKDIR/casl" > "$WORKDIR/casl.json"

# 5. compare and report (exits non-zero when the visible output differs)
echo "== comparing" >&2
echo "rustc: $(cd "$ROOT" && rustc --version); node: $(node --version); $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)"
node "$HERE/compare.mjs" --rust "$WORKDIR/rampart.json" --casl "$WORKDIR/casl.json" \
  --rust-dir "$WORKDIR/rampart" --casl-dir "$WORKDIR/casl" --docs "$WORKDIR/docs.jsonl" \
  --summary "$WORKDIR/summary.json"
