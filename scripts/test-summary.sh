#!/usr/bin/env bash
# Reads the output of `cargo test --no-fail-fast` on stdin and prints every failing test,
# grouped by the test binary that ran it, and every binary that failed without naming a test
# (a crash, a build error). Exits 1 if anything failed, 0 otherwise.
set -uo pipefail

awk '
  /^ +Running / { bin = $0; sub(/^ +Running /, "", bin); next }
  /^ +Doc-tests / { bin = $0; sub(/^ +/, "", bin); next }
  /^test .* \.\.\. FAILED$/ {
    name = $2
    failed[++n] = bin ": " name
    next
  }
  /^error: [0-9]+ targets? failed:/ { summary = 1; next }
  summary && /^    `/ { targets[++t] = $0; next }
  END {
    if (n == 0 && t == 0) { exit 0 }
    print ""
    print "==== failing tests ===="
    for (i = 1; i <= n; i++) print "  " failed[i]
    if (t > 0) {
      print "==== failing test binaries ===="
      for (i = 1; i <= t; i++) print targets[i]
    }
    exit 1
  }
'
