#!/usr/bin/env bash
# The benchmark harness: builds the release emulator and the bare-axum ceiling
# (examples/ceiling.rs), installs wrk from Debian if missing, and runs bench/bench.py, which drives
# both servers in alternating rounds and prints ratios, start-up times and RSS (see BENCHMARKS.md).
#
#   bench/run.sh            full run (~7 minutes on 2 cores, after the build)
#   bench/run.sh --smoke    each scenario ~1 s with tiny counts: checks the harness, not the figures
#
# Only loopback addresses are used; every server listens on 127.0.0.1 port 0.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian package)" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

echo "== cargo build --release --bin defender-mock --example ceiling" >&2
cargo build --release --quiet --bin defender-mock --example ceiling

exec python3 bench/bench.py "$@"
