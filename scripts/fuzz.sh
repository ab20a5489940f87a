#!/usr/bin/env bash
# Fuzzes flowd's and flowctl's decoders and loaders at length (release build).
#   scripts/fuzz.sh [ITERATIONS | SECONDSs] [TARGET...]   e.g. 10000000, 600s, "300s l34 l7"
# Default: 5,000,000 inputs per target, every target. A panic prints the minimized input as
# hex, saves it under fuzz/crashes/ and exits 1. FUZZ_SEED picks another mutation stream.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=${1:-5000000}
shift || true
args=(--seed "${FUZZ_SEED:-1}")
case "$budget" in
  *s) args+=(--seconds "${budget%s}") ;;
  *) args+=(--iterations "$budget") ;;
esac
for t in "${@:-all}"; do
  args+=(--target "$t")
done
cargo run --release --locked -p flowscope-fuzz -- "${args[@]}"
