#!/usr/bin/env bash
# API schema check: schemathesis (pinned, from PyPI) exercises the OpenAPI document the emulator
# serves at /_mock/openapi.json against the release binary, and fails on any 5xx or any response
# the document does not describe (status code, content type, body schema). Bounded in examples per
# operation and in time; the seed is fixed. Run from anywhere:
#   tests/schema/run.sh                 # builds the release binary first (a no-op when up to date)
#   NO_BUILD=1 tests/schema/run.sh      # uses target/release/defender-mock (or $DEFENDER_MOCK_BIN) as is
# Knobs: SCHEMA_MAX_EXAMPLES (default 25 per operation), SCHEMA_SEED (default 1),
# SCHEMA_TIMEOUT (seconds for the main run, default 240), SCHEMA_VENV, SCHEMA_REPORT_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${SCHEMA_VENV:-target/schema-venv}"
max_examples="${SCHEMA_MAX_EXAMPLES:-25}"
seed="${SCHEMA_SEED:-1}"
time_budget="${SCHEMA_TIMEOUT:-240}"
report_dir="${SCHEMA_REPORT_DIR:-target/schema-report}"

if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/schema/requirements.txt

bin="${DEFENDER_MOCK_BIN:-target/release/defender-mock}"
if [ "${NO_BUILD:-}" != 1 ]; then
  # A stale release binary would test old code. A no-op when up to date.
  cargo build --release --quiet
fi
[ -x "$bin" ] || { echo "schema: no binary at $bin (build it, or unset NO_BUILD)" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Frozen clock (actions move only when the run advances it), no throttling (the run makes far more
# than 100 calls a minute per endpoint; 429 stays documented and is covered by cargo test).
"$bin" serve --listen 127.0.0.1:0 --clock frozen --rate-limits off \
  >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
base=""
for _ in $(seq 100); do
  line="$(head -n 1 "$work/stdout" 2>/dev/null || true)"
  if [ -n "$line" ]; then
    base="${line#defender-mock listening on }"
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "schema: the server did not start" >&2
  cat "$work/server.log" >&2
  exit 1
fi
echo "schema: defender-mock at $base (pid $server_pid)"

# Every Machine.* role, valid for ten years of emulator time: the run moves the clock only in its
# last part, so the token outlives everything before it.
token="$("$bin" token --ttl 315360000)"

mkdir -p "$report_dir"
st=("$venv/bin/st" --config-file tests/schema/schemathesis.toml --no-color run
  "$base/_mock/openapi.json"
  --url "$base"
  --header "Authorization: Bearer $token"
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
  --max-examples "$max_examples"
  --seed "$seed"
  --generation-database none
  --workers 1
  --request-timeout 10
  --report junit
  --report-dir "$report_dir")

status=0
# 1. Everything except the clock: advancing it (up to ten years a call) would expire the token and
#    turn the rest of the run into 401s. And except the event stream, which never ends, and the
#    fault rules: a generated rule (an error, a drop) would fail every API call after it.
echo "== schemathesis: every operation but POST /_mock/clock/advance"
timeout --kill-after=10 "$time_budget" "${st[@]}" \
  --report-junit-path "$report_dir/junit.xml" \
  --exclude-path /_mock/clock/advance \
  --exclude-path /_mock/faults \
  --exclude-path '/_mock/faults/{id}' \
  --exclude-path /_mock/events || status=$?
# 2. The clock, last.
echo "== schemathesis: POST /_mock/clock/advance"
timeout --kill-after=10 60 "${st[@]}" \
  --report-junit-path "$report_dir/junit-clock.xml" \
  --include-path /_mock/clock/advance || status=$?
# 3. The fault rules, last of all (the rules it adds apply to no request after it).
echo "== schemathesis: /_mock/faults"
timeout --kill-after=10 60 "${st[@]}" \
  --report-junit-path "$report_dir/junit-faults.xml" \
  --include-path /_mock/faults \
  --include-path '/_mock/faults/{id}' || status=$?

# A 5xx or a panic the checks could not see (e.g. on a request schemathesis did not check).
if grep -E 'panicked|status=5[0-9]{2}' "$work/server.log" >"$work/errors"; then
  echo "schema: the server logged $(grep -c 'status=5' "$work/errors") failed requests; the first:" >&2
  head -n 6 "$work/errors" >&2
  status=1
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "schema: schemathesis ran out of time" >&2
fi
exit "$status"
