#!/usr/bin/env bash
# Runs Flowscope's whole test suite: formatting, lints, unit tests and the integration
# tests that start the real flowd and flowctl binaries. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v curl >/dev/null || need_apt+=(curl)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v tmux >/dev/null || need_apt+=(tmux)
[ -x /usr/sbin/dnsmasq ] || need_apt+=(dnsmasq-base)
command -v clang >/dev/null || need_apt+=(clang)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v ping >/dev/null || need_apt+=(iputils-ping)
# The grpcio test makes a virtualenv with pip (Debian splits that into python3-venv).
if ! command -v python3 >/dev/null; then
  need_apt+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust with rustup first" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The integration tests run the binaries, so build them first.
cargo build --workspace --bins --locked
# Every test binary runs even when an earlier one fails; the failures are listed at the end.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
if ! ./scripts/test-summary.sh <"$log" && [ "$status" -eq 0 ]; then
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "test suite FAILED" >&2
  exit "$status"
fi
echo "test suite passed"
