#!/usr/bin/env bash
# Side-by-side benchmark of rampart-mql (crates/mql) against mingo (npm): generates the same
# documents for both, runs the filters in filters.json and the updates in updates.json in both
# engines, checks that the results are identical and prints documents/second and the ratio.
# See README.md. Runnable from any directory; each run works in a fresh temporary directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

DOCS=100000
SEED=42
REPS=5
UPDATE_REPS=3
CHECK_DOCS=0
KEEP=0
WORKDIR=""

usage() {
  cat <<USAGE
usage: $(basename "$0") [--docs N] [--seed S] [--reps R] [--update-reps R] [--check-docs N] [--workdir DIR] [--keep]
  --docs N         documents to generate (default $DOCS)
  --seed S         PRNG seed of the generator (default $SEED)
  --reps R         timed matching passes per filter, after one warm-up pass (default $REPS)
  --update-reps R  timed passes per update (default $UPDATE_REPS)
  --check-docs N   compare the updated documents of the first N documents only (default 0: all)
  --workdir DIR    where to write data and results (default: a new temporary directory)
  --keep           keep the temporary directory (data, raw results, summary.json)
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --docs) DOCS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --update-reps) UPDATE_REPS="$2"; shift 2 ;;
    --check-docs) CHECK_DOCS="$2"; shift 2 ;;
    --workdir) WORKDIR="$2"; KEEP=1; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

command -v node >/dev/null || { echo "node is required" >&2; exit 1; }
command -v cargo >/dev/null || { echo "cargo is required" >&2; exit 1; }

# 1. mingo, pinned by package.json / package-lock.json
if [[ ! -f "$HERE/node_modules/mingo/package.json" ]]; then
  echo "== installing mingo (npm)" >&2
  if [[ -f "$HERE/package-lock.json" ]]; then
    (cd "$HERE" && npm ci --no-audit --no-fund >&2)
  else
    (cd "$HERE" && npm install --no-audit --no-fund >&2)
  fi
fi

# 2. Rampart's side, release build
echo "== building rampart-mql example mingo_compare (release)" >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p rampart-mql --example mingo_compare >&2
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/examples/mingo_compare"
[[ -x "$BIN" ]] || { echo "built binary not found at $BIN" >&2; exit 1; }
RUSTC_VERSION="$(cd "$ROOT" && rustc --version)"

# 3. data
if [[ -z "$WORKDIR" ]]; then
  WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/mql-vs-mingo.XXXXXX")"
fi
mkdir -p "$WORKDIR/rampart" "$WORKDIR/mingo"
cleanup() {
  if [[ "$KEEP" == 1 ]]; then
    echo "== data and raw results kept in $WORKDIR" >&2
  else
    rm -rf -- "$WORKDIR"
  fi
}
trap cleanup EXIT

echo "== generating $DOCS documents (seed $SEED)" >&2
node "$HERE/gen.mjs" --docs "$DOCS" --seed "$SEED" --out "$WORKDIR/docs.jsonl"

COMMON=(--docs "$WORKDIR/docs.jsonl" --filters "$HERE/filters.json" --updates "$HERE/updates.json"
        --reps "$REPS" --update-reps "$UPDATE_REPS" --check-docs "$CHECK_DOCS")

# 4. the two engines, one after the other (never concurrently)
echo "== running rampart-mql" >&2
"$BIN" "${COMMON[@]}" --out-dir "$WORKDIR/rampart" > "$WORKDIR/rampart.json"
echo "== running mingo" >&2
node --max-old-space-size=6144 "$HERE/mingo_compare.mjs" "${COMMON[@]}" --out-dir "$WORKDIR/mingo" > "$WORKDIR/mingo.json"

# 5. compare and report (exits non-zero on an unexplained mismatch)
echo "== comparing" >&2
node "$HERE/compare.mjs" --rust "$WORKDIR/rampart.json" --mingo "$WORKDIR/mingo.json" \
  --filters "$HERE/filters.json" --updates "$HERE/updates.json" \
  --summary "$WORKDIR/summary.json" --rustc "$RUSTC_VERSION"
