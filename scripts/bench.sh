#!/usr/bin/env bash
# The benchmark suite (issue 6): builds release and runs every stage of flowbench over the fixed
# workload of tests/src/workload.rs. Writes target/bench/<stage>.json and target/bench/results.json
# and prints the table (markdown). Reports only: no timing is asserted.
#
#   ./scripts/bench.sh              # everything (a few minutes on 2 cores, build included)
#   ./scripts/bench.sh --profile    # also a callgrind profile of the decode stage
#
# Single-threaded stages run pinned to CPU 0 (taskset -c 0); the ring followers and the
# end-to-end stages (flowd + its clients + the drivers; e2e-mix and datapath need root for their
# namespace labs; relay runs 4 flowd + flowrelay on loopback) use both cores.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=0
[[ "${1:-}" == "--profile" ]] && profile=1

cargo build --release --workspace --bins
bench=target/release/flowbench
out=target/bench
mkdir -p "$out"
rm -f "$out"/*.json

pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi

"${pin[@]}" "$bench" --out "$out" decode filter encode metrics memory tui input
"$bench" --out "$out" ring e2e e2e-mix datapath relay
"$bench" --out "$out" --report | tee "$out/results.md"

if [[ $profile == 1 ]]; then
    if command -v valgrind >/dev/null; then
        valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.decode.out" \
            "$bench" --out "$out/profile" profile >/dev/null 2>&1
        callgrind_annotate "$out/callgrind.decode.out" 2>/dev/null \
            | head -60 >"$out/callgrind.decode.txt"
        echo "profile: $out/callgrind.decode.txt"
    else
        echo "valgrind not installed: no profile" >&2
    fi
fi
