#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on a nightly toolchain
# (what `cargo fuzz` does, without needing cargo-fuzz installed) and runs each for SECONDS.
# A crash leaves its input in the target's directory under $WORKDIR and fails the script.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      # default: 60 seconds, every target
#
# Environment: WORKDIR (default /tmp/rampart-fuzz: corpora, crash inputs, logs),
# CARGO_TARGET_DIR (default: fuzz/target).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  TARGETS=(ejson_parse filter_eval update_apply pipeline_eval rules_eval)
fi
WORKDIR="${WORKDIR:-/tmp/rampart-fuzz}"
TARGET_DIR="${CARGO_TARGET_DIR:-$HERE/target}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"

rustup toolchain list | grep -q '^nightly' || { echo "a nightly toolchain is required (rustup toolchain install nightly)" >&2; exit 1; }

# The instrumentation applies to the target only (`--target`), not to build scripts.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
(cd "$HERE" && cargo +nightly build --release --target "$TRIPLE" --target-dir "$TARGET_DIR" \
  $(printf -- '--bin %s ' "${TARGETS[@]}"))

failed=0
for target in "${TARGETS[@]}"; do
  mkdir -p "$WORKDIR/$target/corpus"
  echo "== $target: ${SECONDS_EACH}s" >&2
  if (cd "$WORKDIR/$target" && "$TARGET_DIR/$TRIPLE/release/$target" corpus \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=4096 \
      > "$WORKDIR/$target/log" 2>&1); then
    tail -n 2 "$WORKDIR/$target/log" | grep -E '^(Done|#)' >&2 || true
  else
    failed=1
    echo "!! $target failed; log and crash input in $WORKDIR/$target" >&2
    tail -n 30 "$WORKDIR/$target/log" >&2
  fi
done
exit "$failed"
