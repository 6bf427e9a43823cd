#!/usr/bin/env bash
# Builds the Dockerfile's image with podman (no Docker engine and no registry here: the `build`
# stage is replaced by a folder holding a static binary built on the host) and checks it as a
# user would: size, start-to-healthy, a black-box smoke, non-root, `podman stop` time and exit
# code, and the HEALTHCHECK following a custom --listen port. Prints the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything this needs comes from Debian's packages; CI starts on a machine that may lack them.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v podman-compose >/dev/null; then
  echo "== installing podman, runc and podman-compose"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
  # podman-compose only parses the compose example; without it PyYAML does.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose >/dev/null 2>&1 || true
fi
# crun fails on this kernel's cgroup layout and on raising limits: runc, with limits set.
run_opts=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
image=localhost/defender-mock:verify
# Containers of this run carry a label, so cleanup finds them whatever subshell started them.
run_label="defender-mock-verify=$$"
cleanup() {
  podman ps -aq --filter "label=$run_label" | xargs -r podman --runtime runc rm -f >/dev/null 2>&1 || true
}
trap cleanup EXIT
ms() { date +%s%3N; }
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== static binary (crt-static, x86_64-unknown-linux-gnu)"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --quiet --target x86_64-unknown-linux-gnu
bin=target/x86_64-unknown-linux-gnu/release/defender-mock
# Static (or static-PIE): no ELF interpreter, so nothing to load from the empty image.
if readelf -l "$bin" | grep -q INTERP; then fail "binary is dynamically linked"; fi
ctx=$(mktemp -d)
mkdir -p "$ctx/out/data/tls"
cp "$bin" "$ctx/out/defender-mock"

echo "== podman build (build stage replaced by $ctx)"
podman build --quiet --format docker --build-context build="$ctx" -t "$image" . >/dev/null
size=$(podman image inspect "$image" --format '{{.Size}}')
size_mb=$(awk "BEGIN{printf \"%.1f\", $size/1000000}")
echo "image size: $size bytes ($size_mb MB)"
[ "$size" -le 20000000 ] || fail "image over 20 MB"

# start CONTAINER_NAME [podman run args...]: runs detached, prints ms from start to healthy.
start_healthy() {
  local name=$1; shift
  local t0; t0=$(ms)
  podman run -d --name "$name" --label "$run_label" "${run_opts[@]}" "$@" "$image" >/dev/null
  for _ in $(seq 1 200); do
    if podman healthcheck run "$name" >/dev/null 2>&1; then echo $(( $(ms) - t0 )); return 0; fi
    sleep 0.02
  done
  podman logs "$name" >&2 || true
  fail "$name never became healthy"
}

echo "== run with a published random port"
main="dm-verify-$$"
healthy_ms=$(start_healthy "$main" -p 127.0.0.1::5088)
port=$(podman port "$main" 5088/tcp | head -1 | sed 's/.*://')
url="http://127.0.0.1:$port"
echo "start to healthy: ${healthy_ms} ms (port $port)"
[ "$healthy_ms" -le 1000 ] || fail "start to healthy over 1 s"

echo "== black-box smoke against the container"
token=$("$bin" token --roles Machine.Isolate,Machine.Read.All)
machine=553b148cb7ba10d8b506e2dab4fa8468da35de10  # fin-lt-0187, starts isolated
code=$(curl -s -o /tmp/dm-verify-body -w '%{http_code}' -X POST "$url/api/machines/$machine/unisolate" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{ "Comment": "Unisolate machine since it was clean and validated" }')
[ "$code" = 201 ] || fail "unisolate answered $code: $(cat /tmp/dm-verify-body)"
action=$(python3 -c 'import json,sys; print(json.load(open("/tmp/dm-verify-body"))["id"])')
curl -sf -X POST "$url/_mock/clock/advance" -H 'Content-Type: application/json' -d '{"seconds": 120}' >/dev/null
status=$(curl -sf "$url/api/machineactions/$action" -H "Authorization: Bearer $token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
[ "$status" = Succeeded ] || fail "action is $status after 120 s"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/api/machines/$machine/unisolate" -d '{}')
[ "$code" = 401 ] || fail "no token answered $code"
echo "smoke: unisolate 201, polled to Succeeded, 401 without a token"

echo "== runs as non-root"
user=$(podman top "$main" user | tail -n +2 | tr -d ' ')
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "runs as '$user'"
echo "user: $user ($(podman inspect "$main" --format '{{.Config.User}}'))"

echo "== podman stop"
t0=$(ms)
podman stop -t 10 "$main" >/dev/null
stop_ms=$(( $(ms) - t0 ))
exit_code=$(podman inspect "$main" --format '{{.State.ExitCode}}')
echo "stop: ${stop_ms} ms, exit code $exit_code"
[ "$stop_ms" -le 2000 ] || fail "stop took over 2 s"
[ "$exit_code" = 0 ] || fail "exit code $exit_code"

echo "== custom --listen port through the env variable"
custom="dm-verify-port-$$"
custom_ms=$(start_healthy "$custom" -e DEFENDER_MOCK_LISTEN=0.0.0.0:9090 -p 127.0.0.1::9090)
port=$(podman port "$custom" 9090/tcp | head -1 | sed 's/.*://')
curl -sf "http://127.0.0.1:$port/_mock/health" >/dev/null || fail "no answer on the custom port"
echo "custom port 9090: healthy in ${custom_ms} ms"

echo "== examples/docker-compose.yml parses"
# Parse only: `up` needs base images from a registry, which this machine cannot reach, and podman
# schedules health checks through systemd, which it has not.
compose_py=python3
if command -v podman-compose >/dev/null; then
  podman-compose -f examples/docker-compose.yml --dry-run up --no-build > /tmp/dm-compose.txt 2>&1 \
    || { cat /tmp/dm-compose.txt >&2; fail "podman-compose cannot read examples/docker-compose.yml"; }
  grep -q -- "--healthcheck-command" /tmp/dm-compose.txt || fail "compose lost the emulator's healthcheck"
  grep -q "examples_client_1" /tmp/dm-compose.txt || fail "compose lost the client service"
  compose_py=/usr/bin/python3   # podman-compose's own interpreter has PyYAML
fi
"$compose_py" - <<'PY' || fail "examples/docker-compose.yml: the client must wait on service_healthy"
import yaml
d = yaml.safe_load(open("examples/docker-compose.yml"))
assert d["services"]["client"]["depends_on"]["defender-mock"]["condition"] == "service_healthy"
assert d["services"]["defender-mock"]["healthcheck"]["test"] == ["CMD", "/defender-mock", "health"]
PY
echo "compose: parsed (podman-compose --dry-run), client waits on service_healthy"

echo "docker-verify: image ${size_mb} MB, healthy in ${healthy_ms} ms, stop ${stop_ms} ms (exit ${exit_code}), custom-port healthcheck ok"
