#!/usr/bin/env bash
# Bounded fuzz smoke run for CI: every target for a few seconds on its committed seeds (plus any
# crash regressions). Exits non-zero if a target panics, hangs or fails to build.
# Usage: fuzz/smoke.sh [seconds per target, default 5]
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-${FUZZ_SMOKE_SECS:-5}}"
TARGETS=(odata json_body bearer token_form fixtures)

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz/smoke.sh: a nightly toolchain is required (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# The crate forbids unsafe code: the oracle is panics (debug assertions and overflow checks are
# on), so no sanitizer, which also keeps the build short.
echo "== cargo +nightly fuzz build (release, debug assertions)"
cargo +nightly fuzz build -s none

for t in "${TARGETS[@]}"; do
  dirs=("seeds/$t")
  if [ -d "regressions/$t" ]; then dirs+=("regressions/$t"); fi
  # A scratch corpus: growth is not kept between CI runs.
  scratch="$(mktemp -d)"
  echo "== fuzz $t for ${SECS}s"
  if ! cargo +nightly fuzz run -s none "$t" "$scratch" "${dirs[@]}" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$scratch.log" 2>&1; then
    tail -n 60 "$scratch.log" >&2
    echo "fuzz/smoke.sh: target $t failed (crash input under fuzz/artifacts/$t/)" >&2
    rm -rf "$scratch"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$scratch.log" || true
  rm -rf "$scratch" "$scratch.log"
done
echo "fuzz/smoke.sh: all ${#TARGETS[@]} targets ran ${SECS}s without a crash"
