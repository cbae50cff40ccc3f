#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine. Installs what the tests need (idempotently),
# then checks formatting, lints, runs every test, and compiles the benchmarks so they never rot.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "architecture: the engines do no IO and no async"
for engine in rampart-mql rampart-rules; do
  cargo tree --locked -p "$engine" -e normal >/dev/null  # the package must exist
  if cargo tree --locked -p "$engine" -e normal -i tokio 2>/dev/null | grep -q tokio; then
    echo "error: $engine depends on tokio" >&2
    exit 1
  fi
done

step "tests"
cargo nextest run --workspace --locked --no-fail-fast
cargo test --workspace --locked --doc

step "schemathesis against /openapi.json (no 5xx, no crash)"
bash scripts/schemathesis.sh

step "benchmarks compile"
cargo test --workspace --locked --benches --no-run
